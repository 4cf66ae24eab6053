"""Choosing the backend of a :class:`~litestar_alchemy_kit.cache.SyncCache`."""

from __future__ import annotations

from typing import Any

from litestar_alchemy_kit.cache.backends._sync import SyncCacheBackend, SyncRedisBackend
from litestar_alchemy_kit.cache.backends.cluster_sync import SyncClusterBackend, is_sync_cluster_client
from litestar_alchemy_kit.cache.backends.twin import sync_backend_for_store

__all__ = ("as_sync_backend",)


def as_sync_backend(store: Any) -> SyncCacheBackend:
    """``store`` itself if it is a sync backend; a sync ``redis``/``valkey`` client is wrapped in a :class:`SyncRedisBackend`.

    A sync ``RedisCluster``/``ValkeyCluster`` client gets a
    :class:`~litestar_alchemy_kit.cache.backends.cluster_sync.SyncClusterBackend`.

    A Litestar ``RedisStore``/``ValkeyStore`` gets a sync client of its own on the same server, with
    the store's key prefix, so a sync worker shares keys with an async app built on that store.
    A bare client has no prefix: its keys are not a store's.

    Raises:
        TypeError: for anything else (other Litestar stores are async: use ``AsyncCache`` with them).
    """
    twin = sync_backend_for_store(store)
    if twin is not None:
        return twin
    if is_sync_cluster_client(store):
        return SyncClusterBackend(store)
    module = type(store).__module__
    if module.split(".")[0] in {"redis", "valkey"} and module.split(".")[1:2] != ["asyncio"]:
        return SyncRedisBackend(store)
    if isinstance(store, SyncCacheBackend):
        return store
    msg = (
        f"cannot build a sync cache on {type(store).__qualname__!r}: pass SyncMemoryBackend(), "
        "SyncRedisBackend(client), a sync redis/valkey client or a RedisStore/ValkeyStore (other Litestar stores are async: use AsyncCache)"
    )
    raise TypeError(msg)
