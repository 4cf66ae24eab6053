"""The async cache on any Litestar :class:`~litestar.stores.base.Store`."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any, Final

from litestar.stores.base import StorageObject, Store
from litestar.stores.memory import MemoryStore

from litestar_alchemy_kit.cache.backends._async import AsyncCacheBackend
from litestar_alchemy_kit.cache.backends.cluster import AsyncClusterBackend, is_cluster_client
from litestar_alchemy_kit.cache.backends.pipelined import PipelinedRedisBackend
from litestar_alchemy_kit.cache.expiry import ExpiryWheel
from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ("BoundedMemoryBackend", "MemoryStoreBackend", "StoreBackend", "as_async_backend")


def _expires_in(ttl: float | None) -> int | None:
    # Litestar stores take whole seconds; rounding up never expires an entry early.
    return None if ttl is None else max(1, math.ceil(ttl))


class StoreBackend:
    """Any Litestar store, through its public API: a read of ``n`` keys is ``n`` store calls.

    ``add`` is best effort (check, set, read back): Litestar stores have no atomic set-if-absent.
    ``delete_prefix`` is unsupported; the cache clears such stores by bumping its namespace version.
    """

    __slots__ = ("_concurrent", "store")

    def __init__(self, store: Store) -> None:
        self.store = store
        # In-process stores answer at once: awaiting in turn beats scheduling a gather.
        self._concurrent = not isinstance(store, MemoryStore)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key through ``store.get``."""
        if self._concurrent and len(keys) > 1:
            return list(await asyncio.gather(*(self.store.get(key) for key in keys)))
        return [await self.store.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """``store.set`` with the ttl rounded up to whole seconds."""
        await self.store.set(key, value, expires_in=_expires_in(ttl))

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        """``store.set`` for each item, without expiry."""
        if self._concurrent:
            await asyncio.gather(*(self.store.set(key, value) for key, value in items.items()))
        else:
            for key, value in items.items():
                await self.store.set(key, value)

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        """Read each key, setting it first when absent."""
        out: list[bytes] = []
        for key, value in items.items():
            current = await self.store.get(key)
            if current is None:
                await self.store.set(key, value)
                current = value
            out.append(current)
        return out

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Best effort: set when absent, then read back to see who won."""
        if await self.store.exists(key):
            return False
        await self.store.set(key, value, expires_in=_expires_in(ttl))
        return await self.store.get(key) == value

    async def delete(self, key: str) -> None:
        """``store.delete``."""
        await self.store.delete(key)

    async def delete_prefix(self, prefix: str) -> bool:  # noqa: ARG002
        """Unsupported: Litestar stores cannot enumerate keys."""
        return False


_SWEEP: Final = 8  # expired entries reclaimed per write at most: bounded work, more than one write adds


class MemoryStoreBackend(StoreBackend):
    """A ``MemoryStore`` read and written straight through its dict: no lock or task switch per key.

    Safe because the event loop runs one coroutine at a time and a dict read or assignment is
    atomic: ``MemoryStore`` itself never awaits inside its lock, so no operation of its own is ever
    half done when this backend runs. A write stores what ``MemoryStore.set`` stores (a
    ``StorageObject``). ``MemoryStore`` drops an expired entry only when its key is read again, so a
    cache writing many distinct keys would grow without end: every write here also reclaims up to a
    few entries this backend wrote whose expiry has passed (an :class:`ExpiryWheel` remembers them),
    whether or not they are ever read again.
    """

    __slots__ = ("_wheel",)

    in_process = True
    atomic_init = True  # init_many never awaits between its read and its write

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._wheel = ExpiryWheel()

    def _data(self) -> dict[str, Any]:
        data: dict[str, Any] = getattr(self.store, "_store", {})
        return data

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """What ``store.set`` stores, then reclaim up to a few expired entries."""
        expires_in = _expires_in(ttl)
        self._data()[key] = StorageObject.new(data=value, expires_in=expires_in)
        if expires_in is not None:
            self._wheel.add(key, time.monotonic() + expires_in)
        await self.sweep(_SWEEP)

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        """Every item, without expiry."""
        data = self._data()
        for key, value in items.items():
            data[key] = StorageObject.new(data=value, expires_in=None)

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        """Each key's live value, set first when absent (or expired)."""
        data = self._data()
        out: list[bytes] = []
        for key, value in items.items():
            item = data.get(key)
            if item is None or item.expired:
                data[key] = StorageObject.new(data=value, expires_in=None)
                out.append(value)
            else:
                out.append(item.data)
        return out

    async def sweep(self, limit: int) -> int:
        """Reclaim up to ``limit`` expired entries written through this backend; returns how many were found gone.

        Through the store's own API, under its lock (``MemoryStore.get`` deletes an expired entry). An
        entry set again with a later expiry goes back on the wheel.
        """
        reclaimed = 0
        for key in self._wheel.due(time.monotonic(), limit):
            if await self.store.get(key) is None:
                reclaimed += 1
                continue
            left = await self.store.expires_in(key)
            if left is not None:
                self._wheel.add(key, time.monotonic() + left + 1)  # expires_in rounds down
        return reclaimed

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key read from the store's dict, expired objects counting as absent."""
        data = self._data()
        out: list[bytes | None] = []
        for key in keys:
            item = data.get(key)
            out.append(None if item is None or item.expired else item.data)
        return out


class BoundedMemoryBackend:
    """A :class:`BoundedMemoryStore` through its synchronous methods: each operation is one atomic call.

    Fractional ttls are kept as they are (the Store API rounds them up to whole seconds), ``add`` is
    atomic and ``delete_prefix`` deletes the namespace's keys.
    """

    __slots__ = ("store",)

    in_process = True
    atomic_init = True

    def __init__(self, store: BoundedMemoryStore) -> None:
        self.store = store

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's live value, marked as recently used."""
        return self.store.read_many(keys)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store for ``ttl`` seconds."""
        self.store.write(key, value, ttl)

    async def set_many(self, items: Mapping[str, bytes]) -> None:
        """Store every item without expiry."""
        for key, value in items.items():
            self.store.write(key, value, None)

    async def init_many(self, items: Mapping[str, bytes]) -> list[bytes]:
        """Each key's value, set first when absent."""
        out: list[bytes] = []
        for key, value in items.items():
            current = self.store.read(key)
            if current is None:
                self.store.write(key, value, None)
                current = value
            out.append(current)
        return out

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Set when absent, atomically."""
        return self.store.add(key, value, ttl)

    async def delete(self, key: str) -> None:
        """Delete one key."""
        self.store.remove(key)

    async def delete_prefix(self, prefix: str) -> bool:
        """Delete every key starting with ``prefix``."""
        self.store.remove_prefix(prefix)
        return True


def as_async_backend(store: object) -> AsyncCacheBackend:  # noqa: PLR0911 - one return per kind of store
    """The fastest backend for ``store``.

    ``RedisStore``/``ValkeyStore``: their raw client for writes and a pipelined connection for reads
    (:class:`PipelinedRedisBackend`; on a ``RedisCluster``/``ValkeyCluster`` client, an
    :class:`~litestar_alchemy_kit.cache.backends.cluster.AsyncClusterBackend` with per-node connections); ``BoundedMemoryStore``: its synchronous methods; ``MemoryStore``:
    its dict; any other store: its public API.

    Raises:
        TypeError: if ``store`` is neither a Litestar store nor a cache backend.
    """
    if isinstance(store, Store):
        client: Any = getattr(store, "_redis", None) or getattr(store, "_valkey", None)
        namespace = getattr(store, "namespace", None)
        if client is not None and type(store).__name__ in {"RedisStore", "ValkeyStore"}:
            # Same key prefix as the store's own _make_key, so both see the same keys.
            prefix = f"{namespace}:" if namespace else ""
            if is_cluster_client(client):
                return AsyncClusterBackend(client, prefix)
            return PipelinedRedisBackend(client, prefix)
        if isinstance(store, BoundedMemoryStore):
            return BoundedMemoryBackend(store)
        if type(store) is MemoryStore and isinstance(getattr(store, "_store", None), dict):
            return MemoryStoreBackend(store)
        return StoreBackend(store)
    if isinstance(store, AsyncCacheBackend):
        return store
    if is_cluster_client(store):
        return AsyncClusterBackend(store)
    msg = f"cannot build a cache on {type(store).__qualname__!r}: pass a litestar Store or an AsyncCacheBackend"
    raise TypeError(msg)
