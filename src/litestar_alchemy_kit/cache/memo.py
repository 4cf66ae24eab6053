"""Process-wide memos of the keys a cached read looks up over and over (shared by async and sync caches).

Each is bounded (an LRU) and keyed by strings and exact types only,
so values that compare equal across types never share a key.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final, cast

from litestar_alchemy_kit.cache.keys import LRU

if TYPE_CHECKING:
    from litestar_alchemy_kit.cache import AsyncCache, SyncCache
    from litestar_alchemy_kit.cache.keys import EntryPrefix

__all__ = ("SCALAR_SCOPES", "entry_key", "key_prefix", "scope_token")

SCALAR_SCOPES: Final = frozenset({str, int, uuid.UUID})
"""Types of scope values memoized by value (exact types: ``True`` is not ``1``)."""

_MAX_KEYS: Final = 8192
_entry_keys: LRU[tuple[str, str, str, str], str] = LRU(_MAX_KEYS)
_scope_tokens: LRU[tuple[str, tuple[object, ...]], str] = LRU(_MAX_KEYS)


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

    A scope of ``str``, ``int`` or ``UUID`` values, or tuples of them (a tenant binding's ``("tenant", id)``),
    is memoized by values and types (exact types: ``True`` is not ``1``), so a repository built per request
    does not hash its tenant again.

    Raises:
        TypeError: if ``scope`` holds a value with no canonical form.
    """
    shape = _scalar_shape(scope)
    if shape is None:
        return cache.key(kind, "", scope)
    memo_key = (cache.namespace, shape)
    token = _scope_tokens.get(memo_key)
    if token is None:
        token = _scope_tokens.put(memo_key, cache.key(kind, "", scope))
    return token


def _scalar_shape(scope: tuple[object, ...]) -> tuple[object, ...] | None:
    """``scope`` with each value's type beside it, or ``None`` (not memoized).

    Memoized: scopes of scalars and of tuples of scalars (a tenant binding's ``("tenant", id)``).
    """
    if len(scope) == 1 and type(scope[0]) in SCALAR_SCOPES:  # the common case, without a loop
        value = scope[0]
        return (type(value), value)
    shape: list[object] = []
    for item in scope:
        if type(item) in SCALAR_SCOPES:
            shape.append((type(item), item))
        elif type(item) is tuple and all(type(part) in SCALAR_SCOPES for part in cast("tuple[object, ...]", item)):
            shape.append((tuple, tuple([(type(part), part) for part in cast("tuple[object, ...]", item)])))
        else:
            return None
    return tuple(shape)


_prefixes: LRU[tuple[str, str, str, str], EntryPrefix] = LRU(_MAX_KEYS)


def key_prefix(
    cache: AsyncCache | SyncCache, kind: str, fingerprint: str, scope: tuple[object, ...], scope_token: str
) -> EntryPrefix:
    """``cache.key_prefix(kind, fingerprint, scope)``, memoized like :func:`entry_key`."""
    memo_key = (cache.namespace, kind, fingerprint, scope_token)
    prefix = _prefixes.get(memo_key)
    if prefix is None:
        prefix = _prefixes.put(memo_key, cache.key_prefix(kind, fingerprint, scope))
    return prefix
