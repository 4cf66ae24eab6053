"""The response cache as a Litestar plugin: a middleware on every route, active where ``opt`` asks for it."""

from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.exceptions import ImproperlyConfiguredException
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.plugins import InitPlugin
from litestar.routes import HTTPRoute

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.response_cache.config import ResponseCachePluginConfig
from litestar_alchemy_kit.response_cache.engine import ResponseCacheEngine

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ("ResponseCacheMiddleware", "ResponseCachePlugin")


class ResponseCachePlugin(InitPlugin):
    """Caches the responses of handlers whose ``opt`` names the config's ``opt_key``.

    Register it after the authentication backend (``on_app_init=[jwt_auth.on_app_init]``): its
    middleware must run after authentication to see the caller. It adds that middleware, and at
    startup finds (or creates) the cache and checks every cached route's rule.
    """

    __slots__ = ("_created", "config", "engine")

    def __init__(self, config: ResponseCachePluginConfig | None = None) -> None:
        self.config = config if config is not None else ResponseCachePluginConfig()
        self.engine: ResponseCacheEngine | None = None
        """The engine, once the app has started (``None`` before: requests then pass through uncached)."""
        self._created = False

    def on_app_init(self, app_config: "AppConfig") -> "AppConfig":
        """Append the middleware and the startup/shutdown hooks; nothing the user set is replaced."""
        app_config.middleware.append(DefineMiddleware(ResponseCacheMiddleware, plugin=self))
        app_config.on_startup.append(self._startup)
        app_config.on_shutdown.append(self._shutdown)
        return app_config

    def _startup(self, app: "Litestar") -> None:
        cache: Any = app.state.get(self.config.cache_state_key)
        if not isinstance(cache, AsyncCache):
            if cache is not None:
                msg = f"app.state[{self.config.cache_state_key!r}] holds a {type(cache).__name__}, not an AsyncCache"
                raise ImproperlyConfiguredException(msg)
            cache = AsyncCache(app.stores.get(self.config.store), self.config.namespace, self.config.options)
            app.state[self.config.cache_state_key] = cache
            self._created = True
        engine = ResponseCacheEngine(cache, self.config)
        for route in app.routes:
            if not isinstance(route, HTTPRoute):
                continue
            for handler in route.route_handlers:
                if isinstance(handler, HTTPRouteHandler):  # pyright: ignore[reportUnnecessaryIsInstance]
                    try:
                        engine.route(handler, app)
                    except ValueError as exc:
                        raise ImproperlyConfiguredException(str(exc)) from exc
        self.engine = engine

    async def _shutdown(self, app: "Litestar") -> None:
        engine, self.engine = self.engine, None
        if engine is not None and self._created:
            await engine.cache.close()
            app.state.pop(self.config.cache_state_key, None)
            self._created = False


class ResponseCacheMiddleware:
    """Hands requests of cached routes to the plugin's engine; every other request passes straight through."""

    __slots__ = ("app", "plugin")

    def __init__(self, app: "ASGIApp", plugin: ResponseCachePlugin) -> None:
        self.app = app
        self.plugin = plugin

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        """Serve through the engine when the route is cached and the app has started."""
        engine = self.plugin.engine
        if engine is None or scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        route = engine.route(scope["route_handler"], scope["litestar_app"])  # type: ignore[arg-type]
        if route is None:
            await self.app(scope, receive, send)
            return
        await engine.serve(route, scope, receive, send, self.app)
