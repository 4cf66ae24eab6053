"""What an app holds that services need outside a request: its session makers and its cache."""

from typing import Any

from advanced_alchemy.config.asyncio import SQLAlchemyAsyncConfig
from advanced_alchemy.config.sync import SQLAlchemySyncConfig
from advanced_alchemy.extensions.litestar.plugins.init.plugin import SQLAlchemyInitPlugin
from litestar import Litestar
from litestar.exceptions import ImproperlyConfiguredException
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from litestar_alchemy_kit.cache import AsyncCache, SyncCache
from litestar_alchemy_kit.cache.plugin import CachePlugin

__all__ = ("alchemy_configs", "app_async_cache", "app_async_sessions", "app_sync_cache", "app_sync_sessions")


def alchemy_configs(app: Litestar) -> list[Any]:
    """The Advanced Alchemy configs of the app's ``SQLAlchemyPlugin`` (async and sync)."""
    found: list[Any] = []
    for plugin in app.plugins.init:
        if isinstance(plugin, SQLAlchemyInitPlugin):
            found.extend(plugin.config)
    return found


def _config_of(app: Litestar, kind: type[Any], config: Any) -> Any:
    if config is not None:
        return config
    matching = [candidate for candidate in alchemy_configs(app) if isinstance(candidate, kind)]
    if not matching:
        msg = (
            f"the app has no {kind.__name__} (register Advanced Alchemy's SQLAlchemyPlugin, or "
            f"pass alchemy={kind.__name__}(...))"
        )
        raise ImproperlyConfiguredException(msg)
    return matching[0]


def app_async_sessions(app: Litestar, config: SQLAlchemyAsyncConfig | None = None) -> async_sessionmaker[AsyncSession]:
    """The session maker of ``config``, or of the app's first async AA config: the one its requests use."""
    maker = _config_of(app, SQLAlchemyAsyncConfig, config).create_session_maker()
    if not isinstance(maker, async_sessionmaker):
        msg = f"the async SQLAlchemy config's session maker is a {type(maker).__name__}, not an async_sessionmaker"
        raise ImproperlyConfiguredException(msg)
    return maker  # pyright: ignore[reportUnknownVariableType]


def app_sync_sessions(app: Litestar, config: SQLAlchemySyncConfig | None = None) -> sessionmaker[Session]:
    """The session maker of ``config``, or of the app's first sync AA config."""
    maker = _config_of(app, SQLAlchemySyncConfig, config).create_session_maker()
    if not isinstance(maker, sessionmaker):
        msg = f"the sync SQLAlchemy config's session maker is a {type(maker).__name__}, not a sessionmaker"
        raise ImproperlyConfiguredException(msg)
    return maker  # pyright: ignore[reportUnknownVariableType]


def _cache_plugin(app: Litestar) -> CachePlugin | None:
    return next((plugin for plugin in app.plugins.init if isinstance(plugin, CachePlugin)), None)


def app_async_cache(app: Litestar) -> AsyncCache | None:
    """The app's cache (built now if the app has not started), or ``None`` without a ``CachePlugin``."""
    plugin = _cache_plugin(app)
    return None if plugin is None else plugin.cache_for(app)


def app_sync_cache(app: Litestar) -> SyncCache | None:
    """A sync cache on the app's cache store and namespace (same keys), or ``None`` without a ``CachePlugin``."""
    plugin = _cache_plugin(app)
    return None if plugin is None else plugin.sync_cache_for(app)
