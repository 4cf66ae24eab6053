"""Store backends of the cache: what it needs from a store, and adapters for the stores it knows."""

from litestar_alchemy_kit.cache.backends._async import AsyncCacheBackend, AsyncMemoryBackend, AsyncRedisBackend
from litestar_alchemy_kit.cache.backends._sync import SyncCacheBackend, SyncMemoryBackend, SyncRedisBackend
from litestar_alchemy_kit.cache.backends.pipelined import PipelinedRedisBackend
from litestar_alchemy_kit.cache.backends.store import StoreBackend, as_async_backend
from litestar_alchemy_kit.cache.backends.sync import as_sync_backend

__all__ = (
    "AsyncCacheBackend",
    "AsyncMemoryBackend",
    "AsyncRedisBackend",
    "PipelinedRedisBackend",
    "StoreBackend",
    "SyncCacheBackend",
    "SyncMemoryBackend",
    "SyncRedisBackend",
    "as_async_backend",
    "as_sync_backend",
)
