"""The SQLAlchemy -> cache layer: what a statement reads, under which key, and what a write invalidates.

- :mod:`~litestar_alchemy_kit.orm.statement`: statement fingerprints and cache bypass;
- :mod:`~litestar_alchemy_kit.orm.dependencies`: the tables (tags) a statement or mapper depends on;
- :mod:`~litestar_alchemy_kit.orm.rawtext`: raw SQL fragments that may read untracked tables or vary per call;
- :mod:`~litestar_alchemy_kit.orm.schema` and :mod:`~litestar_alchemy_kit.orm.typesafety`: the
  model schema fingerprint and column types SQLAlchemy's cache key cannot see;
- :mod:`~litestar_alchemy_kit.orm.codec`: rows to cache entries and back;
- :mod:`~litestar_alchemy_kit.orm.populate`: when a read may populate the cache;
- :mod:`~litestar_alchemy_kit.orm.binding`: the execution options and snapshot of one read;
- :mod:`~litestar_alchemy_kit.orm.executehooks`: application ``do_orm_execute`` listeners a cached read cannot see through;
- :mod:`~litestar_alchemy_kit.orm.invalidation`: session events that mark tags before a commit and bump them after;
- :mod:`~litestar_alchemy_kit.orm.outbox`: the durable record of invalidations a writer could not announce;
- :mod:`~litestar_alchemy_kit.orm.rawdml`: writes no session event sees, observed at the cursor;
- :mod:`~litestar_alchemy_kit.orm.databases`: which caches a database's raw writes invalidate;
- :mod:`~litestar_alchemy_kit.orm.cascades`: dependencies the metadata does not show (cascades, views);
- :mod:`~litestar_alchemy_kit.orm.functions`: the tables database functions read and write (declared or reflected);
- :mod:`~litestar_alchemy_kit.orm.functionwrites`: a statement calling a function that writes is a write;
- :mod:`~litestar_alchemy_kit.orm.recording`: the tables a context's queries read (for response caching);
- :mod:`~litestar_alchemy_kit.orm.partition`: the tenant column, declared once on the model;
- :mod:`~litestar_alchemy_kit.orm.tenancy`: a repository's binding to one tenant, derived from that declaration
  (documented as :class:`litestar_alchemy_kit.repository.TenantBinding`);
- :mod:`~litestar_alchemy_kit.orm.audit`: the statement-cache audit of a model's column types.

It knows nothing of repositories, services, auth or errors; the cache core knows nothing of it.
"""

from litestar_alchemy_kit.orm.audit import AuditFinding, AuditProblem, audit_statement_cache
from litestar_alchemy_kit.orm.cascades import declare_dependency, declare_metadata, reflect_dependencies, view_of
from litestar_alchemy_kit.orm.dependencies import table_tag
from litestar_alchemy_kit.orm.executehooks import trust_execute_listener
from litestar_alchemy_kit.orm.functions import declare_function
from litestar_alchemy_kit.orm.invalidation import bind_cache, bound_caches, install_listeners, pending_tags
from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table
from litestar_alchemy_kit.orm.partition import TENANT_INFO_KEY, tenant_column, tenant_column_of
from litestar_alchemy_kit.orm.recording import install_recording, record_queries
from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo, analyze

__all__ = (
    "TENANT_INFO_KEY",
    "AuditFinding",
    "AuditProblem",
    "Bypass",
    "InvalidationOutbox",
    "StatementInfo",
    "analyze",
    "audit_statement_cache",
    "bind_cache",
    "bound_caches",
    "declare_dependency",
    "declare_function",
    "declare_metadata",
    "install_listeners",
    "install_recording",
    "outbox_table",
    "pending_tags",
    "record_queries",
    "reflect_dependencies",
    "table_tag",
    "tenant_column",
    "tenant_column_of",
    "trust_execute_listener",
    "view_of",
)
