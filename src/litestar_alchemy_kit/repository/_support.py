"""Memos of the cached repositories' read path: statement analyses (shared by the async and sync flavours).

The memos of keys are in ``litestar_alchemy_kit.cache.memo``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.cache.memo import SCALAR_SCOPES
from litestar_alchemy_kit.writes.template import default_select

if TYPE_CHECKING:
    from collections.abc import Callable

    from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository

    from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo
    from litestar_alchemy_kit.orm.tenancy import TenantBinding

__all__ = ("analysis_key", "default_select", "shared_analysis")

_analyses: LRU[tuple[object, ...], tuple[StatementInfo | Bypass, tuple[object, ...]]] = LRU(1024)


def analysis_key(
    repo: SQLAlchemyAsyncRepository[Any] | SQLAlchemySyncRepository[Any], dialect: object, tenant: TenantBinding | None
) -> tuple[object, ...] | None:
    """What determines the analysis of ``get(pk)``'s base statement, or None: not shared.

    For a repository built with its defaults (statement, loader and execution options), optionally
    bound to a tenant. The defaults are read through the instance, as AA's ``__init__`` reads them (a
    subclass may set them on the instance); the caller keeps the objects whose ``id()`` the key holds.
    """
    flags = (repo.merge_loader_options, repo.inherit_lazy_relationships)
    key: tuple[object, ...] = (type(repo), dialect, id(repo.loader_options), id(repo.execution_options), *flags)
    if tenant is None:
        return key
    value = tenant.value
    return (*key, tenant.column, type(value), value) if type(value) in SCALAR_SCOPES else None


def shared_analysis(
    key: tuple[object, ...] | None, keep: tuple[object, ...], compute: Callable[[], StatementInfo | Bypass]
) -> StatementInfo | Bypass:
    """``compute()``, shared by every repository whose ``key`` is equal (None: not shared).

    ``key`` must hold everything the analysed statement depends on; ``keep`` holds objects whose
    ``id()`` the key uses, so those ids cannot be reused while the entry lives.
    """
    if key is None:
        return compute()
    found = _analyses.get(key)
    if found is None:
        found = _analyses.put(key, (compute(), keep))
    return found[0]
