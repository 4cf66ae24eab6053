"""Type variables of the providers (shared by the async and generated sync modules)."""

from typing import Any, TypeVar

from litestar_alchemy_kit.service import CachedAsyncRepositoryService, CachedSyncRepositoryService

AsyncServiceT = TypeVar("AsyncServiceT", bound=CachedAsyncRepositoryService[Any, Any])
SyncServiceT = TypeVar("SyncServiceT", bound=CachedSyncRepositoryService[Any, Any])
