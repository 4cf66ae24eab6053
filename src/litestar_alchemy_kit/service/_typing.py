"""Type variables of the cached services (kept out of the generated modules: unasyncd leaves strings alone)."""

from typing import Any, TypeVar

from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository

__all__ = ("CachedAsyncRepositoryT", "CachedSyncRepositoryT")

CachedAsyncRepositoryT = TypeVar("CachedAsyncRepositoryT", bound=CachedAsyncRepository[Any])
CachedSyncRepositoryT = TypeVar("CachedSyncRepositoryT", bound=CachedSyncRepository[Any])
