"""Configuration of the auth plugin: how to read tenant, roles and scopes, and dependency keys."""

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from litestar.connection import ASGIConnection

from litestar_alchemy_kit.auth.context import AuthContext

if TYPE_CHECKING:
    from litestar.security.jwt import Token

__all__ = ("AuthConfig",)

UserT = TypeVar("UserT")
TokenT = TypeVar("TokenT")

# Where the context built for one request is kept: an ASGI scope extension key, so guards and
# dependencies of one request share a single context.
_SCOPE_KEY = "litestar_alchemy_kit.auth"


def _jwt_token(token: object) -> "Token | None":
    # Litestar's JWT support needs PyJWT (an extra): if its module was never imported, no
    # request can carry one of its tokens, so there is nothing to import here.
    module = sys.modules.get("litestar.security.jwt.token")
    if module is None or not isinstance(token, module.Token):
        return None
    return cast("Token", token)


def _no_tenant(_user: object, _token: object) -> None:
    return None


def _no_roles(_user: object, _token: object) -> Iterable[str]:
    return ()


def _token_scopes(_user: object, token: object) -> Iterable[str]:
    """OAuth 2 scopes from a Litestar JWT: a space-delimited ``scope`` claim or a ``scopes`` list."""
    jwt_token = _jwt_token(token)
    if jwt_token is None:
        return ()
    claim = jwt_token.extras.get("scope", jwt_token.extras.get("scopes"))
    if isinstance(claim, str):
        return claim.split()
    if isinstance(claim, list | tuple):
        return [str(item) for item in cast("Iterable[object]", claim)]
    return ()


def _token_subject(_user: object, token: object) -> "str | None":
    """The ``sub`` claim of a Litestar JWT."""
    jwt_token = _jwt_token(token)
    return None if jwt_token is None else jwt_token.sub


@dataclass
class AuthConfig(Generic[UserT, TokenT]):
    """How the caller's :class:`AuthContext` is built, and under which keys it is provided.

    The callables receive the ``user`` and ``auth`` values the authentication backend put in the
    ASGI scope (for ``JWTAuth`` the user your ``retrieve_user_handler`` returned and the decoded
    ``Token``; for ``SessionAuth`` the user and the session dict). They run once per request.
    """

    tenant_of: "Callable[[UserT, TokenT], object | None]" = _no_tenant
    """The caller's tenant id (converted with ``str()``), or ``None``. Default: no tenant."""
    roles_of: "Callable[[UserT, TokenT], Iterable[str]]" = _no_roles
    """The caller's roles. Default: none."""
    scopes_of: "Callable[[UserT, TokenT], Iterable[str]]" = _token_scopes
    """The credential's scopes. Default: a JWT's ``scope`` (space-delimited) or ``scopes`` claim."""
    subject_of: "Callable[[UserT, TokenT], object | None]" = _token_subject
    """A stable id of the user (converted with ``str()``), used by per-user scopes. Default: a JWT's ``sub``."""
    auth_dependency_key: str = "auth"
    """Dependency key of the :class:`AuthContext` (anonymous on routes without a user)."""
    user_dependency_key: str = "current_user"
    """Dependency key of the current user; a route using it answers 401 to anonymous callers."""
    tenant_dependency_key: str = "current_tenant"
    """Dependency key of the caller's tenant id (``str``); 401 when anonymous, 403 without a tenant."""
    scope_dependency_key: str = "tenant_scope"
    """Dependency key of the caller's :class:`TenantScope`, to pass as ``scope=`` to scoped repositories."""
    opt_key: "str | None" = "auth"
    """Route ``opt`` key selecting optional authentication: ``opt={"auth": "optional"}`` on an app,
    router, controller or handler lets callers without a credential through as anonymous (a
    present but invalid credential is still a 401); ``"required"`` restores the default on an inner layer.
    ``None`` disables optional authentication (the plugin then leaves middleware untouched)."""
    has_credentials: "Callable[[ASGIConnection[Any, Any, Any, Any]], bool] | None" = None
    """Whether a request carries a credential, for optional routes. Needed only for custom
    authentication middleware; the JWT backends (header or cookie) and ``SessionAuth`` (non-empty
    session data) are detected without it."""

    def __post_init__(self) -> None:
        keys = (
            self.auth_dependency_key,
            self.user_dependency_key,
            self.tenant_dependency_key,
            self.scope_dependency_key,
        )
        if len(set(keys)) != len(keys):
            msg = f"auth dependency keys must be distinct, got {keys!r}"
            raise ValueError(msg)

    def build_context(self, user: "UserT | None", token: "TokenT | None") -> AuthContext[UserT, TokenT]:
        """Build the context for a ``user`` and ``token``; a ``None`` user gives the anonymous context."""
        if user is None:
            return AuthContext[UserT, TokenT].anonymous()
        token_value = cast("TokenT", token)
        tenant = self.tenant_of(user, token_value)
        subject = self.subject_of(user, token_value)
        return AuthContext(
            user=user,
            token=token,
            tenant_id=None if tenant is None else str(tenant),
            subject=None if subject is None else str(subject),
            roles=frozenset(self.roles_of(user, token_value)),
            scopes=frozenset(self.scopes_of(user, token_value)),
        )

    def context_for(self, connection: "ASGIConnection[Any, Any, Any, Any]") -> AuthContext[UserT, TokenT]:
        """The context of ``connection``, built once per request.

        Routes the authentication middleware skipped (excluded paths or ``exclude_from_auth``) and
        optional routes called without a credential give the anonymous context.
        """
        scope = cast("dict[str, Any]", connection.scope)
        user, token = scope.get("user"), scope.get("auth")
        cached = scope.get(_SCOPE_KEY)
        # Identity check: a later middleware that replaces the user must not see a stale context.
        if cached is not None and cached[0] is user and cached[1] is token:
            return cast("AuthContext[UserT, TokenT]", cached[2])
        context = self.build_context(user, token)
        scope[_SCOPE_KEY] = (user, token, context)
        return context
