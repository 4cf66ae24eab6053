"""Optional authentication: let callers without a credential through, still reject bad ones.

Litestar's authentication middleware either authenticates a route (a request without a
credential is a 401) or skips it entirely (``exclude_opt_key``: a request *with* a credential is
then anonymous too, and an invalid one is not rejected). Optional routes need a third behaviour,
decided per request: no credential -> anonymous; any credential -> authenticate as usual, so an
invalid one is still a 401. :func:`optional_authentication` derives a subclass of the backend's
middleware class that does exactly that, keeping every other behaviour of the original.
"""

import copy
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard, cast

from litestar.connection import ASGIConnection
from litestar.exceptions import ImproperlyConfiguredException
from litestar.middleware.authentication import AbstractAuthenticationMiddleware
from litestar.middleware.base import DefineMiddleware
from litestar.security.session_auth.auth import SessionAuth
from litestar.security.session_auth.middleware import MiddlewareWrapper, SessionAuthMiddleware

if TYPE_CHECKING:
    from litestar.handlers import BaseRouteHandler
    from litestar.security.jwt.middleware import JWTAuthenticationMiddleware, JWTCookieAuthenticationMiddleware
    from litestar.types import Middleware, Receive, Scope, Send

__all__ = ("OPTIONAL", "REQUIRED", "optional_authentication")

OPTIONAL = "optional"
"""``opt`` value letting callers without a credential through as anonymous."""
REQUIRED = "required"
"""``opt`` value requiring a credential (the default; use it to override an outer ``optional``)."""

CredentialCheck = Callable[[ASGIConnection[Any, Any, Any, Any]], bool]


class _OptionalAuthenticationMixin(AbstractAuthenticationMiddleware):
    """Mixed in before a concrete authentication middleware class by :func:`_derive`."""

    __slots__ = ()

    lak_opt_key: ClassVar[str]
    lak_has_credentials: ClassVar["CredentialCheck | None"]

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        if scope["type"] in self.scopes and self._is_optional(scope) and not self._carries_credentials(scope):
            # What Litestar's ``connection.user`` needs to not raise; the context reads None as anonymous.
            scope["user"] = None
            scope["auth"] = None
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _is_optional(self, scope: "Scope") -> bool:
        route_handler = cast("dict[str, Any]", scope).get("route_handler")
        if route_handler is None:
            return False
        value = cast("BaseRouteHandler", route_handler).opt.get(self.lak_opt_key, REQUIRED)
        if value not in (OPTIONAL, REQUIRED):  # a tuple: an unhashable value is an error message too
            msg = (
                f"route opt {self.lak_opt_key!r} must be {OPTIONAL!r} or {REQUIRED!r}, "
                f"got {value!r} on {route_handler.handler_name}"
            )
            raise ImproperlyConfiguredException(msg)
        return bool(value == OPTIONAL)

    def _carries_credentials(self, scope: "Scope") -> bool:
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        check = type(self).lak_has_credentials
        if check is not None:
            return check(connection)
        # Only Litestar's own ``authenticate_request`` is known to read nothing but the places
        # checked below; a subclass that overrides it may look elsewhere, where a broken credential
        # must not pass for none.
        reader: object = getattr(type(self), "authenticate_request")  # noqa: B009 (its type is partly unknown to pyright)
        # Litestar's JWT middleware needs PyJWT (an extra); a middleware of it exists only once imported.
        jwt = sys.modules.get("litestar.security.jwt.middleware")
        if jwt is not None and reader is jwt.JWTCookieAuthenticationMiddleware.authenticate_request:
            cookie_middleware = cast("JWTCookieAuthenticationMiddleware", self)
            return bool(
                connection.headers.get(cookie_middleware.auth_header)
                or connection.cookies.get(cookie_middleware.auth_cookie_key)
            )
        if jwt is not None and reader is jwt.JWTAuthenticationMiddleware.authenticate_request:
            return bool(connection.headers.get(cast("JWTAuthenticationMiddleware", self).auth_header))
        if reader is SessionAuthMiddleware.authenticate_request:
            # The session middleware has loaded the session by now. Its cookie is no credential:
            # Litestar hands every visitor one, for an empty session; the session's data is.
            return bool(cast("dict[str, Any]", scope).get("session"))
        msg = (
            f"optional authentication cannot tell whether a request carries a credential for "
            f"{type(self).__mro__[2].__name__}; set AuthConfig.has_credentials"
        )
        raise ImproperlyConfiguredException(msg)


def _is_session_auth(value: object) -> "TypeGuard[SessionAuth[Any, Any]]":
    return isinstance(value, SessionAuth)


def _derive(
    cls: type[AbstractAuthenticationMiddleware],
    opt_key: str,
    has_credentials: "CredentialCheck | None",
) -> type[AbstractAuthenticationMiddleware]:
    if issubclass(cls, _OptionalAuthenticationMixin):
        return cls
    namespace = {
        "__slots__": (),
        "__module__": __name__,
        "lak_opt_key": opt_key,
        "lak_has_credentials": staticmethod(has_credentials) if has_credentials else None,
    }
    return type(f"Optional{cls.__name__}", (_OptionalAuthenticationMixin, cls), namespace)


def optional_authentication(
    middleware: "Middleware",
    opt_key: str = "auth",
    has_credentials: "CredentialCheck | None" = None,
) -> "Middleware":
    """Return ``middleware`` with optional authentication support, or unchanged if it does no authentication.

    The :class:`~litestar_alchemy_kit.auth.AuthPlugin` applies this to the app's middleware;
    call it yourself for authentication middleware you put on a router or controller
    (``middleware=[optional_authentication(jwt_auth.middleware)]``).

    Args:
        middleware: An entry of a ``middleware`` list: ``JWTAuth(...).middleware``,
            ``SessionAuth(...).middleware``, a ``DefineMiddleware`` of, or a subclass of,
            :class:`~litestar.middleware.authentication.AbstractAuthenticationMiddleware`.
        opt_key: The route ``opt`` key whose value ``"optional"`` makes authentication optional.
        has_credentials: Whether a request carries a credential; required for custom middleware.
    """
    original = middleware
    if isinstance(middleware, DefineMiddleware):
        target = middleware.middleware
        if isinstance(target, type) and issubclass(target, AbstractAuthenticationMiddleware):
            derived = _derive(target, opt_key, has_credentials)
            return DefineMiddleware(derived, *middleware.args, **middleware.kwargs)
        config = middleware.kwargs.get("config")
        if target is MiddlewareWrapper and _is_session_auth(config):
            session_auth = copy.copy(config)
            session_auth.authentication_middleware_class = cast(
                "type[SessionAuthMiddleware]",
                _derive(
                    session_auth.authentication_middleware_class,
                    opt_key,
                    has_credentials,
                ),
            )
            return DefineMiddleware(
                MiddlewareWrapper, *middleware.args, **{**middleware.kwargs, "config": session_auth}
            )
        return original
    if isinstance(middleware, type) and issubclass(middleware, AbstractAuthenticationMiddleware):
        return cast("Middleware", _derive(middleware, opt_key, has_credentials))
    return original
