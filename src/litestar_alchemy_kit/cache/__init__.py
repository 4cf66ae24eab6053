"""The store-backed cache core: deterministic keys, version tags, fail-open reads, stampede control."""

from litestar_alchemy_kit._deprecation import deprecated_aliases as _deprecated_aliases
from litestar_alchemy_kit.cache._async import AsyncCache
from litestar_alchemy_kit.cache._sync import SyncCache
from litestar_alchemy_kit.cache.backends import (
    AsyncCacheBackend,
    AsyncMemoryBackend,
    AsyncRedisBackend,
    PipelinedRedisBackend,
    StoreBackend,
    SyncCacheBackend,
    SyncMemoryBackend,
    SyncRedisBackend,
)
from litestar_alchemy_kit.cache.backends.cluster import AsyncClusterBackend
from litestar_alchemy_kit.cache.backends.cluster_sync import SyncClusterBackend
from litestar_alchemy_kit.cache.codec import Codec, MsgspecCodec
from litestar_alchemy_kit.cache.expiry import ExpiryWheel
from litestar_alchemy_kit.cache.layout import ClusterLayout
from litestar_alchemy_kit.cache.limits import CacheLimits
from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore
from litestar_alchemy_kit.cache.naming import KeyNaming
from litestar_alchemy_kit.cache.options import CacheOptions
from litestar_alchemy_kit.cache.plugin import CachePlugin, CachePluginConfig
from litestar_alchemy_kit.cache.recording import TagRecorder, current_recorder, record_tags
from litestar_alchemy_kit.cache.telemetry import observe_outcomes
from litestar_alchemy_kit.cache.types import MISS, Lookup, TagVersions

__all__ = (
    "MISS",
    "AsyncCache",
    "AsyncCacheBackend",
    "AsyncClusterBackend",
    "AsyncMemoryBackend",
    "AsyncRedisBackend",
    "BoundedMemoryStore",
    "CacheLimits",
    "CacheOptions",
    "CachePlugin",
    "CachePluginConfig",
    "ClusterLayout",
    "Codec",
    "ExpiryWheel",
    "KeyNaming",
    "Lookup",
    "MsgspecCodec",
    "PipelinedRedisBackend",
    "StoreBackend",
    "SyncCache",
    "SyncCacheBackend",
    "SyncClusterBackend",
    "SyncMemoryBackend",
    "SyncRedisBackend",
    "TagRecorder",
    "TagVersions",
    "current_recorder",
    "observe_outcomes",
    "record_tags",
)


__getattr__ = _deprecated_aliases(
    __name__,
    {"CacheConfig": ("CachePluginConfig", CachePluginConfig, "it clashed with advanced_alchemy.cache.CacheConfig")},
)
