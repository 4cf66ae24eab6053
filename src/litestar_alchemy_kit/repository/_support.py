"""Pieces of the cached repositories that do no I/O (shared by the async and sync flavours)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Generator

    from litestar_alchemy_kit.cache import AsyncCache, SyncCache

__all__ = ("ReadState", "entry_key")

_entry_keys: dict[tuple[str, str, str, str], str] = {}
_MAX_KEYS: Final = 8192


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
        if len(_entry_keys) >= _MAX_KEYS:
            _entry_keys.clear()
        key = _entry_keys[memo_key] = cache.key(kind, fingerprint, scope)
    return key


class ReadState:
    """Whether the public method in progress may use the cache.

    ``None`` outside any repository method (a direct ``_execute`` call from user code: uncached);
    nested calls can only narrow it (a write method's internal reads never use the cache).
    """

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: bool | None = None

    @contextlib.contextmanager
    def narrow(self, *, allowed: bool) -> Generator[None]:
        previous = self.current
        self.current = allowed if previous is None else previous and allowed
        try:
            yield
        finally:
            self.current = previous
