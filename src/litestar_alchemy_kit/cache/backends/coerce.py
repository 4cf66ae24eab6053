"""Choosing the backend of a :class:`~litestar_alchemy_kit.cache.SyncCache`."""

from __future__ import annotations

from typing import Any

from litestar_alchemy_kit.cache.backends._sync import SyncCacheBackend, SyncRedisBackend

__all__ = ("as_sync_backend",)


def as_sync_backend(store: Any) -> SyncCacheBackend:
    """``store`` itself if it is a sync backend; a sync ``redis``/``valkey`` client is wrapped in a :class:`SyncRedisBackend`.

    Raises:
        TypeError: for anything else (Litestar stores are async: use ``AsyncCache`` with them).
    """
    module = type(store).__module__
    if module.split(".")[0] in {"redis", "valkey"} and module.split(".")[1:2] != ["asyncio"]:
        return SyncRedisBackend(store)
    if isinstance(store, SyncCacheBackend):
        return store
    msg = (
        f"cannot build a sync cache on {type(store).__qualname__!r}: pass SyncMemoryBackend(), "
        "SyncRedisBackend(client) or a sync redis/valkey client (Litestar stores are async: use AsyncCache)"
    )
    raise TypeError(msg)
