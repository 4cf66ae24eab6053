"""Providers of cached, scoped services: per request (dependency injection) and outside one (CLI, workers)."""

from litestar_alchemy_kit.providers._async import AsyncServiceContext
from litestar_alchemy_kit.providers._sync import SyncServiceContext
from litestar_alchemy_kit.providers.dependencies import (
    ProviderKeys,
    ServiceDependency,
    create_service_dependencies,
    create_service_provider,
)
from litestar_alchemy_kit.providers.scope import ScopePolicy

__all__ = (
    "AsyncServiceContext",
    "ProviderKeys",
    "ScopePolicy",
    "ServiceDependency",
    "SyncServiceContext",
    "create_service_dependencies",
    "create_service_provider",
)
