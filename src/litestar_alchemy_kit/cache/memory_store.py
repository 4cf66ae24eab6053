"""An in-process Litestar store with bounded memory: LRU eviction and expired entries reclaimed on writes."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING, Final, final

from litestar.stores.base import Store

from litestar_alchemy_kit.cache.expiry import ExpiryWheel

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("ENTRY_OVERHEAD", "EXPIRY_OVERHEAD", "BoundedMemoryStore")

ENTRY_OVERHEAD: Final = 300
"""Bytes one entry costs beyond its key's and value's lengths: the key and value objects' headers, the
record, the LRU links and the dict slots. Measured with ``tracemalloc`` on CPython 3.11 (255 bytes in a
store that only grew, up to 290 in one that evicts all the time: see ``benchmarks/soak_memory_store.py``),
rounded up so that the accounted size bounds the real one."""

EXPIRY_OVERHEAD: Final = 140
"""Bytes an entry with an expiry costs on top of ``ENTRY_OVERHEAD`` (its float and its expiry-wheel
slot; measured: 85 to 100, and up to 137 when a wheel slot's set, sized for the slot's peak, has lost
half of its keys to eviction but not the three quarters that make the wheel rebuild it)."""

_SWEEP: Final = 8  # expired entries reclaimed per write at most: bounded work, and more than one write adds


@final
class _Item:
    __slots__ = ("data", "expires_at", "size")

    def __init__(self, data: bytes, expires_at: float | None, size: int) -> None:
        self.data = data
        self.expires_at = expires_at
        self.size = size


def _seconds(value: float | timedelta | None) -> float | None:
    # As Litestar's stores: a falsy expiry means "no expiry".
    if not value:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return seconds if seconds > 0 else None


def _check_cap(name: str, cap: object) -> None:
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        msg = f"bounded memory store {name} must be a positive int or None, got {cap!r}"
        raise ValueError(msg)


class BoundedMemoryStore(Store):
    """A Litestar :class:`~litestar.stores.base.Store` in this process's memory that never outgrows its caps.

    - **Caps**: ``max_bytes`` (keys, values and a fixed per-entry overhead, see ``ENTRY_OVERHEAD``
      and ``EXPIRY_OVERHEAD`` in this module)
      and/or ``max_entries``. A write that goes over evicts the least recently used entries.
    - **Expiry**: expired entries are never returned, and each write reclaims up to a few entries
      whose time has passed (found on an :class:`~litestar_alchemy_kit.cache.ExpiryWheel`), so
      memory held by expired keys is given back even when they are never read again.
    - **Cost**: reads and writes are O(1); a hit is a dict lookup and a move to the LRU end.

    Usable by anything that takes a Litestar store (sessions, response caching, rate limits, the
    kit's cache). One event loop at a time: like Litestar's ``MemoryStore``, it is not for sharing
    between threads that each run their own loop.

    Args:
        max_bytes: the memory cap in bytes, ``None`` for none (64 MiB by default).
        max_entries: the cap on the number of entries, ``None`` for none.

    Raises:
        ValueError: if both caps are ``None`` or a cap is not a positive int.
    """

    __slots__ = ("_bytes", "_data", "_wheel", "evictions", "expirations", "max_bytes", "max_entries")

    def __init__(self, max_bytes: int | None = 64 * 1024 * 1024, max_entries: int | None = None) -> None:
        _check_cap("max_bytes", max_bytes)
        _check_cap("max_entries", max_entries)
        if max_bytes is None and max_entries is None:
            msg = "bounded memory store needs max_bytes or max_entries (or both); use MemoryStore for no bound"
            raise ValueError(msg)
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._data: OrderedDict[str, _Item] = OrderedDict()
        self._wheel = ExpiryWheel()
        self._bytes = 0
        self.evictions = 0
        """Entries evicted to stay under a cap since creation."""
        self.expirations = 0
        """Expired entries reclaimed (by a sweep or a read) since creation."""

    # --- introspection -----------------------------------------------------------------------

    # No __len__: Litestar's StoreRegistry tests a registered store's truth value, and an empty store
    # would count as missing and be replaced by the registry's default.
    @property
    def entries(self) -> int:
        """Entries held, expired ones not yet reclaimed included."""
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        """Accounted bytes of the entries held (never above ``max_bytes``)."""
        return self._bytes

    # --- synchronous core: no await inside, so each call is atomic on the event loop ----------------

    def _drop(self, key: str) -> _Item | None:
        item = self._data.pop(key, None)
        if item is not None:
            self._bytes -= item.size
            if item.expires_at is not None:
                self._wheel.discard(key, item.expires_at)
        return item

    def _expire(self, key: str) -> bool:
        item = self._data.get(key)
        if item is None or item.expires_at is None or item.expires_at > time.monotonic():
            return False
        self._drop(key)
        self.expirations += 1
        return True

    def read(self, key: str, renew_for: float | None = None) -> bytes | None:
        """The value of ``key`` if present and not expired, marked as recently used; ``renew_for`` as in :meth:`get`."""
        item = self._data.get(key)
        if item is None:
            return None
        expires_at = item.expires_at
        if expires_at is not None:
            now = time.monotonic()
            if expires_at <= now:
                self._drop(key)
                self.expirations += 1
                return None
            if renew_for:
                self._wheel.discard(key, expires_at)
                item.expires_at = now + renew_for
                self._wheel.add(key, item.expires_at)
        self._data.move_to_end(key)
        return item.data

    def read_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """:meth:`read` of each key, in order."""
        read = self.read
        return [read(key) for key in keys]

    def write(self, key: str, value: bytes, ttl: float | None) -> bool:
        """Store ``value`` for ``ttl`` seconds (``None``: no expiry); returns whether it was kept.

        A value too large for the store on its own is not kept, and the key's previous value is
        removed (it must not be read back as if the write had happened).
        """
        now = time.monotonic()
        self._wheel.sweep(now, _SWEEP, self._expire)
        self._drop(key)
        expires_at = None if ttl is None else now + ttl
        size = len(key) + len(value) + ENTRY_OVERHEAD + (0 if expires_at is None else EXPIRY_OVERHEAD)
        if self.max_bytes is not None and size > self.max_bytes:
            return False
        if expires_at is not None:
            self._wheel.add(key, expires_at)
        self._data[key] = _Item(value, expires_at, size)
        self._bytes += size
        self._evict()
        return True

    def _evict(self) -> None:
        data = self._data
        max_bytes = self.max_bytes if self.max_bytes is not None else math.inf
        max_entries = self.max_entries if self.max_entries is not None else math.inf
        while self._bytes > max_bytes or len(data) > max_entries:
            key, item = data.popitem(last=False)
            self._bytes -= item.size
            if item.expires_at is not None:
                self._wheel.discard(key, item.expires_at)
            self.evictions += 1

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` only if ``key`` holds no live value; ``True`` if this call stored it (atomic)."""
        if self.read(key) is not None:
            return False
        return self.write(key, value, ttl)

    def remove(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        self._drop(key)

    def remove_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` (O(entries)); returns how many were deleted."""
        doomed = [key for key in self._data if key.startswith(prefix)]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def sweep(self, limit: int) -> int:
        """Reclaim up to ``limit`` expired entries now (writes already reclaim a few each); returns how many."""
        return self._wheel.sweep(time.monotonic(), limit, self._expire)

    # --- the Store API ---------------------------------------------------------------------------

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        """Store ``value`` under ``key``, expiring after ``expires_in`` (seconds or a timedelta; falsy: never)."""
        self.write(key, value.encode("utf-8") if isinstance(value, str) else value, _seconds(expires_in))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        """The value of ``key``, or ``None``; ``renew_for`` restarts the expiry of a value that has one."""
        return self.read(key, _seconds(renew_for))

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        self._drop(key)

    async def delete_all(self) -> None:
        """Delete every entry."""
        self._data.clear()
        self._wheel.clear()
        self._bytes = 0

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value that has not expired."""
        item = self._data.get(key)
        return item is not None and not self._expire(key)

    async def expires_in(self, key: str) -> int | None:
        """Whole seconds until ``key`` expires; ``None`` if it is absent or never expires."""
        item = self._data.get(key)
        if item is None or item.expires_at is None or self._expire(key):
            return None
        return int(item.expires_at - time.monotonic())
