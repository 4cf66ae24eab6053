"""Litestar integration: a cache on a store of the app's ``StoreRegistry``, as state and a dependency."""

from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins import InitPlugin

from litestar_alchemy_kit._deprecation import deprecated_aliases
from litestar_alchemy_kit.cache._async import AsyncCache
from litestar_alchemy_kit.cache.keys import validate_name
from litestar_alchemy_kit.cache.options import CacheOptions

__all__ = ("CachePlugin", "CachePluginConfig")


def _default_options() -> CacheOptions:
    return CacheOptions()


@dataclass
class CachePluginConfig:
    """Where the app's cache lives and under which names handlers reach it."""

    store: str = "cache"
    """Name of the store in the app's ``StoreRegistry`` (``app.stores.get(store)``); register a
    ``RedisStore``/``ValkeyStore`` under this name to share the cache between processes."""

    namespace: str = "lak"
    """Key namespace inside the store; caches in different namespaces never touch each other's keys."""

    options: CacheOptions = field(default_factory=_default_options)
    """Timeouts, TTLs, breaker, stampede and codec settings."""

    state_key: str = "cache"
    """``app.state`` key the :class:`AsyncCache` is stored under at startup (an existing value is kept)."""

    dependency_key: str = "cache"
    """Dependency name handlers use to receive the :class:`AsyncCache` (a user dependency of that name wins)."""

    def __post_init__(self) -> None:
        validate_name("namespace", self.namespace)


class CachePlugin(InitPlugin):
    """Makes an :class:`AsyncCache` available as ``app.state[state_key]`` and as a dependency.

    The store is looked up by name at startup, so it may be registered in ``Litestar(stores=...)``
    or left to the registry's default factory. Settings the user made explicitly are never replaced.
    """

    __slots__ = ("config",)

    def __init__(self, config: CachePluginConfig | None = None) -> None:
        self.config = config if config is not None else CachePluginConfig()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the startup/shutdown hooks, the dependency and the signature name."""
        if self.config.dependency_key not in app_config.dependencies:
            app_config.dependencies[self.config.dependency_key] = Provide(self._provide, sync_to_thread=False)
        app_config.signature_namespace.setdefault("AsyncCache", AsyncCache)
        app_config.on_startup.append(self._startup)
        app_config.on_shutdown.append(self._shutdown)
        return app_config

    def _startup(self, app: Litestar) -> None:
        if self.config.state_key not in app.state:
            store = app.stores.get(self.config.store)
            app.state[self.config.state_key] = AsyncCache(store, self.config.namespace, self.config.options)

    async def _shutdown(self, app: Litestar) -> None:
        cache: Any = app.state.get(self.config.state_key)
        if isinstance(cache, AsyncCache):
            await cache.close()

    def _provide(self, state: State) -> AsyncCache:
        cache: AsyncCache = state[self.config.state_key]
        return cache


__getattr__ = deprecated_aliases(
    __name__,
    {"CacheConfig": ("CachePluginConfig", CachePluginConfig, "it clashed with advanced_alchemy.cache.CacheConfig")},
)
