"""Memos of the cached repositories' read path: keys and statement analyses (shared by the async and sync flavours)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.writes.template import default_select

if TYPE_CHECKING:
    from collections.abc import Callable

    from advanced_alchemy.repository import SQLAlchemyAsyncRepository, SQLAlchemySyncRepository

    from litestar_alchemy_kit.cache import AsyncCache, SyncCache
    from litestar_alchemy_kit.cache.keys import EntryPrefix
    from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo
    from litestar_alchemy_kit.orm.tenancy import TenantBinding

__all__ = ("analysis_key", "default_select", "entry_key", "key_prefix", "scope_token", "shared_analysis")

_MAX_KEYS: Final = 8192
_entry_keys: LRU[tuple[str, str, str, str], str] = LRU(_MAX_KEYS)
_scope_tokens: LRU[tuple[str, type, object], str] = LRU(_MAX_KEYS)
_SCALAR_SCOPES: Final = frozenset({str, int, uuid.UUID})


def entry_key(
    cache: AsyncCache | SyncCache, kind: str, fingerprint: str, scope: tuple[object, ...], scope_token: str
) -> str:
    """``cache.key(kind, fingerprint, scope)``, memoized: hot entries are looked up over and over.

    The memo is keyed by strings only (``scope_token`` is the cache's own hashed key of the
    scope), so values that compare equal across types (``1``, ``True``, ``1.0``) never share a key.
    """
    memo_key = (cache.namespace, kind, fingerprint, scope_token)
    key = _entry_keys.get(memo_key)
    if key is None:
        key = _entry_keys.put(memo_key, cache.key(kind, fingerprint, scope))
    return key


def scope_token(cache: AsyncCache | SyncCache, kind: str, scope: tuple[object, ...]) -> str:
    """``cache.key(kind, "", scope)``: a string standing for the scope in memo keys, memoized for scalar scopes.

    A scope of one ``str``, ``int`` or ``UUID`` (exact types: ``True`` is not ``1``) is memoized by
    value and type, so a repository built per request does not hash its tenant again.

    Raises:
        TypeError: if ``scope`` holds a value with no canonical form.
    """
    if len(scope) == 1 and type(scope[0]) in _SCALAR_SCOPES:
        value = scope[0]
        memo_key = (cache.namespace, type(value), value)
        token = _scope_tokens.get(memo_key)
        if token is None:
            token = _scope_tokens.put(memo_key, cache.key(kind, "", scope))
        return token
    return cache.key(kind, "", scope)


_analyses: LRU[tuple[object, ...], tuple[StatementInfo | Bypass, tuple[object, ...]]] = LRU(1024)
_prefixes: LRU[tuple[str, str, str, str], EntryPrefix] = LRU(_MAX_KEYS)


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
    return (*key, tenant.column, type(value), value) if type(value) in _SCALAR_SCOPES else None


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


def key_prefix(
    cache: AsyncCache | SyncCache, kind: str, fingerprint: str, scope: tuple[object, ...], scope_token: str
) -> EntryPrefix:
    """``cache.key_prefix(kind, fingerprint, scope)``, memoized like :func:`entry_key`."""
    memo_key = (cache.namespace, kind, fingerprint, scope_token)
    prefix = _prefixes.get(memo_key)
    if prefix is None:
        prefix = _prefixes.put(memo_key, cache.key_prefix(kind, fingerprint, scope))
    return prefix
