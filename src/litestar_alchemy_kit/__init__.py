"""Litestar + Advanced Alchemy extensions: cache-safe repositories, scoped caching, auth context, error contract."""

from importlib.metadata import PackageNotFoundError, version

from litestar_alchemy_kit._deprecation import deprecated_aliases as _deprecated_aliases
from litestar_alchemy_kit.auth import (
    AuthConfig,
    AuthContext,
    AuthPlugin,
    TenantScope,
    get_auth_context,
    has_any_role,
    has_any_scope,
    has_role,
    has_scope,
    optional_authentication,
    requires_authentication,
    same_tenant,
)
from litestar_alchemy_kit.cache import (
    MISS,
    AsyncCache,
    BoundedMemoryStore,
    CacheLimits,
    CacheOptions,
    CachePlugin,
    CachePluginConfig,
    Codec,
    MsgspecCodec,
    SyncCache,
    TagVersions,
    observe_outcomes,
)
from litestar_alchemy_kit.errors import (
    PROBLEM_MEDIA_TYPE,
    PROBLEMS_OPT_KEY,
    ErrorsConfig,
    ErrorsPlugin,
    ProblemDetails,
    ProblemType,
)
from litestar_alchemy_kit.exceptions import CommitRefusedError
from litestar_alchemy_kit.orm.audit import AuditFinding, AuditProblem, audit_statement_cache
from litestar_alchemy_kit.orm.cascades import declare_dependency, declare_metadata, reflect_dependencies, view_of
from litestar_alchemy_kit.orm.functions import declare_function
from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table
from litestar_alchemy_kit.orm.partition import tenant_column
from litestar_alchemy_kit.plugin import AlchemyKitConfig, AlchemyKitPlugin, OutboxConfig, identify_from_auth
from litestar_alchemy_kit.providers import (
    AsyncServiceContext,
    ProviderKeys,
    ServiceDependency,
    SyncServiceContext,
    create_service_dependencies,
    create_service_provider,
)
from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository, bind_cache, table_tag
from litestar_alchemy_kit.response_cache import (
    Caller,
    ResponseCachePlugin,
    ResponseCachePluginConfig,
    ResponseCacheRule,
)
from litestar_alchemy_kit.service import CachedAsyncRepositoryService, CachedSyncRepositoryService

try:
    __version__ = version("litestar-alchemy-kit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"

__all__ = (
    "MISS",
    "PROBLEMS_OPT_KEY",
    "PROBLEM_MEDIA_TYPE",
    "AlchemyKitConfig",
    "AlchemyKitPlugin",
    "AsyncCache",
    "AsyncServiceContext",
    "AuditFinding",
    "AuditProblem",
    "AuthConfig",
    "AuthContext",
    "AuthPlugin",
    "BoundedMemoryStore",
    "CacheLimits",
    "CacheOptions",
    "CachePlugin",
    "CachePluginConfig",
    "CachedAsyncRepository",
    "CachedAsyncRepositoryService",
    "CachedSyncRepository",
    "CachedSyncRepositoryService",
    "Caller",
    "Codec",
    "CommitRefusedError",
    "ErrorsConfig",
    "ErrorsPlugin",
    "InvalidationOutbox",
    "MsgspecCodec",
    "OutboxConfig",
    "ProblemDetails",
    "ProblemType",
    "ProviderKeys",
    "ResponseCachePlugin",
    "ResponseCachePluginConfig",
    "ResponseCacheRule",
    "ServiceDependency",
    "SyncCache",
    "SyncServiceContext",
    "TagVersions",
    "TenantScope",
    "__version__",
    "audit_statement_cache",
    "bind_cache",
    "create_service_dependencies",
    "create_service_provider",
    "declare_dependency",
    "declare_function",
    "declare_metadata",
    "get_auth_context",
    "has_any_role",
    "has_any_scope",
    "has_role",
    "has_scope",
    "identify_from_auth",
    "observe_outcomes",
    "optional_authentication",
    "outbox_table",
    "reflect_dependencies",
    "requires_authentication",
    "same_tenant",
    "table_tag",
    "tenant_column",
    "view_of",
)


__getattr__ = _deprecated_aliases(
    __name__,
    {"CacheConfig": ("CachePluginConfig", CachePluginConfig, "it clashed with advanced_alchemy.cache.CacheConfig")},
)
