"""The auth plugin: typed dependencies and optional authentication for an app."""

from typing import TYPE_CHECKING, Any, TypeVar

from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import ImproperlyConfiguredException, NotAuthorizedException, PermissionDeniedException
from litestar.plugins import InitPlugin
from litestar.types import Scope

from litestar_alchemy_kit.auth.config import AuthConfig
from litestar_alchemy_kit.auth.context import AuthContext, TenantScope
from litestar_alchemy_kit.auth.optional import optional_authentication

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig

__all__ = ("AuthPlugin", "get_auth_context")

UserT = TypeVar("UserT")
TokenT = TypeVar("TokenT")


class AuthPlugin(InitPlugin):
    """Provide the caller's :class:`AuthContext`, user, tenant and scope as dependencies.

    Register it after the security backend (``Litestar(on_app_init=[jwt_auth.on_app_init],
    plugins=[AuthPlugin(AuthConfig(...))])``). It adds, unless the app already defines them:

    - the dependencies named by :class:`AuthConfig` (``auth``, ``current_user``, ``current_tenant``,
      ``tenant_scope`` by default);
    - ``AuthContext`` and ``TenantScope`` in the signature namespace;
    - optional authentication on the app's authentication middleware (see
      :func:`~litestar_alchemy_kit.auth.optional_authentication`).
    """

    __slots__ = ("config",)

    def __init__(self, config: "AuthConfig[Any, Any] | None" = None) -> None:
        """Create the plugin.

        Args:
            config: How the context is built and provided; defaults to ``AuthConfig()``.
        """
        self.config: AuthConfig[Any, Any] = config if config is not None else AuthConfig()

    def on_app_init(self, app_config: "AppConfig") -> "AppConfig":
        """Register dependencies, signature names and optional authentication; the app's own settings win."""
        config = self.config

        def provide_auth(scope: Scope) -> AuthContext[Any, Any]:
            return config.context_for(ASGIConnection(scope))

        def provide_current_user(scope: Scope) -> Any:
            return config.context_for(ASGIConnection(scope)).require_user()

        def provide_tenant_id(scope: Scope) -> str:
            return config.context_for(ASGIConnection(scope)).require_tenant()

        def provide_tenant_scope(scope: Scope) -> TenantScope:
            return config.context_for(ASGIConnection(scope)).scope

        # What the refusing providers raise, as guards declare it (``raises``), for the OpenAPI document.
        provide_current_user.__dict__["raises"] = (NotAuthorizedException,)
        provide_tenant_id.__dict__["raises"] = (NotAuthorizedException, PermissionDeniedException)
        providers = {
            config.auth_dependency_key: provide_auth,
            config.user_dependency_key: provide_current_user,
            config.tenant_dependency_key: provide_tenant_id,
            config.scope_dependency_key: provide_tenant_scope,
        }
        for key, provider in providers.items():
            app_config.dependencies.setdefault(key, Provide(provider, sync_to_thread=False))
        for name, value in (("AuthContext", AuthContext), ("TenantScope", TenantScope)):
            app_config.signature_namespace.setdefault(name, value)
        if config.opt_key is not None:
            app_config.middleware = [
                optional_authentication(entry, opt_key=config.opt_key, has_credentials=config.has_credentials)
                for entry in app_config.middleware
            ]
        return app_config


def _config_of(app: "Litestar") -> "AuthConfig[Any, Any]":
    for plugin in app.plugins.init:
        if isinstance(plugin, AuthPlugin):
            return plugin.config
    msg = "no AuthPlugin registered on the app: add AuthPlugin(AuthConfig(...)) to its plugins"
    raise ImproperlyConfiguredException(msg)


def get_auth_context(connection: "ASGIConnection[Any, UserT, TokenT, Any]") -> AuthContext[UserT, TokenT]:
    """The :class:`AuthContext` of a request, typed by the connection's user and auth types.

    For guards, middleware and code holding a ``Request[User, Token, State]``; handlers declare
    the ``auth`` dependency instead. Built once per request and shared with the dependencies.

    Raises:
        ImproperlyConfiguredException: The app has no :class:`AuthPlugin`.
    """
    return _config_of(connection.app).context_for(connection)
