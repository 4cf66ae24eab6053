"""Litestar integration: a cache on a store of the app's ``StoreRegistry``, as state and a dependency."""

from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins import InitPlugin
from litestar.stores.base import Store
from litestar.stores.registry import StoreRegistry

from litestar_alchemy_kit._deprecation import deprecated_aliases
from litestar_alchemy_kit.cache._async import AsyncCache
from litestar_alchemy_kit.cache._sync import SyncCache
from litestar_alchemy_kit.cache.keys import validate_name
from litestar_alchemy_kit.cache.memory_store import BoundedMemoryStore
from litestar_alchemy_kit.cache.options import CacheOptions

__all__ = ("CachePlugin", "CachePluginConfig")


def _default_options() -> CacheOptions:
    return CacheOptions()


@dataclass
class CachePluginConfig:
    """Where the app's cache lives and under which names handlers reach it."""

    store: str = "cache"
    """Name of the store in the app's ``StoreRegistry`` (``app.stores.get(store)``); register a
    ``RedisStore``/``ValkeyStore`` under this name to share the cache between processes. When
    ``Litestar(stores=...)`` is ``None`` or a dict without this name, a :class:`BoundedMemoryStore`
    (64 MiB) is registered under it; a ``StoreRegistry`` passed by the user is left to its own factory."""

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

    The store is looked up by name at startup, so it may be registered in ``Litestar(stores=...)``.
    If it is not, a :class:`BoundedMemoryStore` is registered under the name (never Litestar's
    unbounded ``MemoryStore``). Settings the user made explicitly are never replaced.
    """

    __slots__ = ("config",)

    def __init__(self, config: CachePluginConfig | None = None) -> None:
        self.config = config if config is not None else CachePluginConfig()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the startup/shutdown hooks, the dependency and the signature name."""
        if self.config.dependency_key not in app_config.dependencies:
            app_config.dependencies[self.config.dependency_key] = Provide(self._provide, sync_to_thread=False)
        app_config.signature_namespace.setdefault("AsyncCache", AsyncCache)
        app_config.stores = self.with_default_store(app_config.stores)
        app_config.on_startup.append(self._startup)
        app_config.on_shutdown.append(self._shutdown)
        return app_config

    def with_default_store(
        self, stores: StoreRegistry | dict[str, Store] | None
    ) -> StoreRegistry | dict[str, Store] | None:
        """``stores`` with a :class:`BoundedMemoryStore` under the configured name when the user put none there.

        A ``StoreRegistry`` the user built is returned as is: its default factory is their choice.
        A dict is copied (the user's may be shared with other apps).
        """
        if isinstance(stores, StoreRegistry) or self.config.store in (stores or {}):
            return stores
        return {**(stores or {}), self.config.store: BoundedMemoryStore()}

    def create_cache(self, stores: StoreRegistry) -> AsyncCache:
        """A new :class:`AsyncCache` on the configured store of ``stores``, with the configured namespace and options."""
        return AsyncCache(stores.get(self.config.store), self.config.namespace, self.config.options)

    def cache_for(self, app: Litestar) -> AsyncCache:
        """The app's cache: ``app.state[state_key]``, built there now if the app has not started yet (CLI commands)."""
        cache: object = app.state.get(self.config.state_key)
        if not isinstance(cache, AsyncCache):
            cache = app.state[self.config.state_key] = self.create_cache(app.stores)
        return cache

    @property
    def sync_state_key(self) -> str:
        """``app.state`` key of the app's :class:`SyncCache`, when it has one (sync sessions or workers)."""
        return f"{self.config.state_key}.sync"

    def create_sync_cache(self, stores: StoreRegistry) -> SyncCache:
        """A new :class:`SyncCache` with the same keys as :meth:`create_cache`'s (a ``RedisStore``/``ValkeyStore``).

        Raises:
            TypeError: the store cannot be used from sync code (only Redis/Valkey stores can).
        """
        return SyncCache(stores.get(self.config.store), self.config.namespace, self.config.options)

    def sync_cache_for(self, app: Litestar) -> SyncCache:
        """The app's :class:`SyncCache` (``app.state[sync_state_key]``), built there now if absent, for sync workers.

        Raises:
            TypeError: the store cannot be used from sync code (only Redis/Valkey stores can).
        """
        cache: object = app.state.get(self.sync_state_key)
        if not isinstance(cache, SyncCache):
            cache = app.state[self.sync_state_key] = self.create_sync_cache(app.stores)
        return cache

    def _startup(self, app: Litestar) -> None:
        self.cache_for(app)

    async def _shutdown(self, app: Litestar) -> None:
        cache: Any = app.state.get(self.config.state_key)
        if isinstance(cache, AsyncCache):
            await cache.close()
        sync_cache: Any = app.state.get(self.sync_state_key)
        if isinstance(sync_cache, SyncCache):
            sync_cache.close()

    def _provide(self, state: State) -> AsyncCache:
        cache: AsyncCache = state[self.config.state_key]
        return cache


__getattr__ = deprecated_aliases(
    __name__,
    {"CacheConfig": ("CachePluginConfig", CachePluginConfig, "it clashed with advanced_alchemy.cache.CacheConfig")},
)
