"""Cache-safe Advanced Alchemy services (async and generated sync)."""

from litestar_alchemy_kit.service._async import CachedAsyncRepositoryService
from litestar_alchemy_kit.service._sync import CachedSyncRepositoryService

__all__ = ("CachedAsyncRepositoryService", "CachedSyncRepositoryService")
