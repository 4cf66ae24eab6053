"""Store backends of the cache: what it needs from a store, and adapters for the stores it knows."""

from litestar_alchemy_kit.cache.backends._async import (
    AsyncBoundedReadBackend,
    AsyncBoundedWriteBackend,
    AsyncCacheBackend,
    AsyncClosingBackend,
    AsyncMarkingBackend,
    AsyncMemoryBackend,
    AsyncRedisBackend,
)
from litestar_alchemy_kit.cache.backends._sync import (
    SyncBoundedReadBackend,
    SyncBoundedWriteBackend,
    SyncCacheBackend,
    SyncClosingBackend,
    SyncMarkingBackend,
    SyncMemoryBackend,
    SyncRedisBackend,
)
from litestar_alchemy_kit.cache.backends.capabilities import (
    AtomicInitBackend,
    ClusteredBackend,
    FullStoreBackend,
    InProcessBackend,
    StoreFullError,
)
from litestar_alchemy_kit.cache.backends.coerce import as_sync_backend
from litestar_alchemy_kit.cache.backends.pipelined import PipelinedRedisBackend
from litestar_alchemy_kit.cache.backends.store import StoreBackend, as_async_backend

__all__ = (
    "AsyncBoundedReadBackend",
    "AsyncBoundedWriteBackend",
    "AsyncCacheBackend",
    "AsyncClosingBackend",
    "AsyncMarkingBackend",
    "AsyncMemoryBackend",
    "AsyncRedisBackend",
    "AtomicInitBackend",
    "ClusteredBackend",
    "FullStoreBackend",
    "InProcessBackend",
    "PipelinedRedisBackend",
    "StoreBackend",
    "StoreFullError",
    "SyncBoundedReadBackend",
    "SyncBoundedWriteBackend",
    "SyncCacheBackend",
    "SyncClosingBackend",
    "SyncMarkingBackend",
    "SyncMemoryBackend",
    "SyncRedisBackend",
    "as_async_backend",
    "as_sync_backend",
)
