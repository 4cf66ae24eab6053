"""Cache backends: the few operations the cache needs, each one store round trip where possible.

Keys given to a backend are complete cache keys; a backend adds only its store's own prefix.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from litestar_alchemy_kit.cache.backends.capabilities import out_of_memory_errors
from litestar_alchemy_kit.cache.markers import MARK_SCRIPT, SETTLE_SCRIPT
from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@runtime_checkable
class AsyncCacheBackend(Protocol):
    """What a cache needs from a store. Implement it to put the cache on another store."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of ``keys`` in order, ``None`` where absent (one round trip on Redis/Valkey)."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``: no expiry)."""
        ...

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        """Store every item without expiry (one round trip on Redis/Valkey)."""
        ...

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        """Set each key only if absent, and return each key's value afterwards, in order."""
        ...

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Set ``key`` only if absent (atomically where the store allows); ``True`` if this call set it."""
        ...

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> bool:
        """Delete every key starting with ``prefix``; ``False`` if the store cannot enumerate keys."""
        ...


@runtime_checkable
class AsyncBoundedReadBackend(Protocol):
    """Optional capability: a backend that bounds its own reads, cheaper than a timeout around the call."""

    async def get_many_within(self, keys: Sequence[str], timeout: float) -> list[bytes | None]:
        """``get_many``, giving up (raising ``TimeoutError``) after ``timeout`` seconds."""
        ...


@runtime_checkable
class AsyncBoundedWriteBackend(Protocol):
    """Optional capability: a backend that bounds its own invalidation writes, cheaper than a timeout around the call.

    The writes a commit waits for (a bump's ``MSET``, the marker and settle scripts). A write that gives up
    may still land: the cache treats it as undelivered, and the next delivery writes it again.
    """

    async def set_many_within(self, items: Mapping[str, bytes], timeout: float) -> None:
        """``set_many``, giving up (raising ``TimeoutError``) after ``timeout`` seconds."""
        ...

    async def mark_many_within(self, keys: Sequence[str], marker_id: str, ttl: float, timeout: float) -> None:
        """``mark_many`` (see :class:`AsyncMarkingBackend`), giving up after ``timeout`` seconds."""
        ...

    async def settle_many_within(self, items: Mapping[str, bytes], marker_ids: Sequence[str], timeout: float) -> None:
        """``settle_many`` (see :class:`AsyncMarkingBackend`), giving up after ``timeout`` seconds."""
        ...


@runtime_checkable
class AsyncMarkingBackend(Protocol):
    """Optional capability: atomic invalidation markers (see :mod:`~litestar_alchemy_kit.cache.markers`).

    Without it the cache marks and settles by read-modify-write, which two writers racing on one tag
    in different processes can interleave.
    """

    async def mark_many(self, keys: Sequence[str], marker_id: str, ttl: float) -> None:
        """Add ``marker_id`` to the marker of each key (replacing a version token), expiring in ``ttl`` seconds."""
        ...

    async def settle_many(self, items: Mapping[str, bytes], marker_ids: Sequence[str]) -> None:
        """Remove ``marker_ids`` from each key's marker; a key left with none (or holding none) gets its new token."""
        ...


@runtime_checkable
class AsyncClosingBackend(Protocol):
    """Optional capability: a backend holding resources of its own, released by the cache's ``close()``."""

    async def aclose(self) -> None:
        """Release the backend's connections."""
        ...


class AsyncMemoryBackend:
    """An in-process :class:`~litestar_alchemy_kit.cache.BoundedMemoryStore` behind a lock, for caches used from many threads.

    Bounded in entries and in bytes, least recently used entries evicted first, expired entries
    reclaimed as new ones are written.

    Args:
        max_entries: entries kept before the least recently used are evicted.
        max_bytes: accounted bytes kept before the least recently used are evicted (``None``: no byte cap).
    """

    __slots__ = ("_lock", "_store")

    in_process = True
    """Answers at once, so the cache skips the per-operation timeout on reads."""
    atomic_init = True
    """``init_many`` reads and sets under the lock."""

    def __init__(self, max_entries: int = 100_000, max_bytes: int | None = 64 * 1024 * 1024) -> None:
        self._store = BoundedMemoryStore(max_bytes=max_bytes, max_entries=max_entries)
        self._lock = threading.Lock()

    @property
    def store(self) -> BoundedMemoryStore:
        """The store holding the entries (read its ``entries``, ``size_bytes``, ``evictions``)."""
        return self._store

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        with self._lock:
            return self._store.read_many(keys)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._lock:
            self._store.write(key, value, ttl)

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        with self._lock:
            for key, value in items.items():
                self._store.write(key, value, None)

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        out: list[bytes] = []
        with self._lock:
            for key, value in items.items():
                current = self._store.read(key)
                if current is None:
                    self._store.write(key, value, None)
                    current = value
                out.append(current)
        return out

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            return self._store.add(key, value, ttl)

    async def delete(self, key: str) -> None:
        with self._lock:
            self._store.remove(key)

    async def delete_prefix(self, prefix: str) -> bool:
        with self._lock:
            self._store.remove_prefix(prefix)
        return True


def _glob_escape(text: str) -> str:
    # SCAN MATCH is a glob: a prefix holding * ? [ ] \ must match only itself.
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


class AsyncRedisBackend:
    """Redis or Valkey through the raw client (``redis``/``valkey`` packages): one command per operation.

    Args:
        client: a ``Redis``/``Valkey`` client (the asyncio one for the async cache).
        prefix: prepended to every key, e.g. ``"LITESTAR:"`` to share keys with a ``RedisStore``.
            Without one, ``clear()`` invalidates but deletes nothing (see :meth:`delete_prefix`).
    """

    __slots__ = ("client", "full_errors", "prefix")

    atomic_init = True
    """``init_many`` is ``SET NX`` then ``GET`` per key: a concurrent first reader reads whichever token landed."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix
        self.full_errors = out_of_memory_errors(client)
        """The client's error for a write refused at ``maxmemory`` (``OOM`` under ``noeviction``)."""

    def _ms(self, ttl: float) -> int:
        return max(1, int(ttl * 1000))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        prefix = self.prefix
        values: list[bytes | None] = await self.client.mget([prefix + key for key in keys])
        return values

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.client.set(self.prefix + key, value, px=None if ttl is None else self._ms(ttl))

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        await self.client.mset({self.prefix + key: value for key, value in items.items()})

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(self.prefix + key, value, nx=True)
            pipe.get(self.prefix + key)
        results: list[Any] = await pipe.execute()
        return [bytes(value) for value in results[1::2]]

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self.client.set(self.prefix + key, value, nx=True, px=self._ms(ttl)))

    async def delete(self, key: str) -> None:
        await self.client.delete(self.prefix + key)

    async def mark_many(self, keys: Sequence[str], marker_id: str, ttl: float) -> None:
        prefix = self.prefix
        await self.client.eval(MARK_SCRIPT, len(keys), *[prefix + key for key in keys], marker_id, self._ms(ttl))

    async def settle_many(self, items: Mapping[str, bytes], marker_ids: Sequence[str]) -> None:
        prefix = self.prefix
        keys = [prefix + key for key in items]
        await self.client.eval(SETTLE_SCRIPT, len(keys), *keys, " ".join(marker_ids), *items.values())

    async def delete_prefix(self, prefix: str) -> bool:
        if not self.prefix:
            # Unprefixed keys share the keyspace with every store: "ns:*" also matches the keys of a
            # store whose own namespace is "ns". Invalidation by namespace version is enough.
            return False
        batch: list[Any] = []
        async for key in self.client.scan_iter(match=_glob_escape(self.prefix + prefix) + "*", count=1000):
            batch.append(key)
            if len(batch) >= 500:  # noqa: PLR2004
                await self.client.unlink(*batch)
                batch.clear()
        if batch:
            await self.client.unlink(*batch)
        return True
