"""Cache backends: the few operations the cache needs, each one store round trip where possible.

Keys given to a backend are complete cache keys; a backend adds only its store's own prefix.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from litestar_alchemy_kit.cache.backends.capabilities import out_of_memory_errors

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
class AsyncClosingBackend(Protocol):
    """Optional capability: a backend holding resources of its own, released by the cache's ``close()``."""

    async def aclose(self) -> None:
        """Release the backend's connections."""
        ...


class AsyncMemoryBackend:
    """An in-process dict with expiry and a size bound (oldest entries evicted first).

    Args:
        max_entries: entries kept before the oldest are evicted.
    """

    __slots__ = ("_data", "_lock", "max_entries")

    in_process = True
    """Answers at once, so the cache skips the per-operation timeout on reads."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = threading.Lock()

    def _read(self, key: str, now: float) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= now:
            self._data.pop(key, None)
            return None
        return item[0]

    def _write(self, key: str, value: bytes, ttl: float | None) -> None:
        self._data.pop(key, None)
        if len(self._data) >= self.max_entries:
            del self._data[next(iter(self._data))]
        self._data[key] = (value, None if ttl is None else time.monotonic() + ttl)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        with self._lock:
            return [self._read(key, now) for key in keys]

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._lock:
            self._write(key, value, ttl)

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        with self._lock:
            for key, value in items.items():
                self._write(key, value, None)

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        now = time.monotonic()
        out: list[bytes] = []
        with self._lock:
            for key, value in items.items():
                current = self._read(key, now)
                if current is None:
                    self._write(key, value, None)
                    current = value
                out.append(current)
        return out

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            if self._read(key, time.monotonic()) is not None:
                return False
            self._write(key, value, ttl)
            return True

    async def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    async def delete_prefix(self, prefix: str) -> bool:
        with self._lock:
            for key in [key for key in self._data if key.startswith(prefix)]:
                del self._data[key]
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
