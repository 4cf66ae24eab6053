"""A test app: users in two tenants, JWT backends, and routes exercising every auth feature."""

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from litestar import Litestar, Router, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import FromPath
from litestar.security.jwt import JWTAuth, JWTCookieAuth, OAuth2PasswordBearerAuth, Token

from litestar_alchemy_kit.auth import (
    AuthConfig,
    AuthContext,
    AuthPlugin,
    TenantScope,
    has_any_role,
    has_role,
    has_scope,
    requires_authentication,
    same_tenant,
)

SECRET = "lak-test-secret-0123456789abcdef0123456789"
AUDIENCE = "lak-api"
ISSUER = "lak-issuer"


@dataclasses.dataclass(frozen=True)
class User:
    id: str
    tenant: str | None
    roles: tuple[str, ...] = ()


USERS = {
    "alice": User("alice", "acme", ("admin",)),
    "bob": User("bob", "globex"),
    "carol": User("carol", "acme", ("editor",)),
    "dave": User("dave", None),  # authenticated, in no tenant
    "erin": User("erin", "acme", ("admin", "editor")),
}


async def retrieve_user(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return USERS.get(token.sub)


AUTH_CONFIG = AuthConfig[User, Token](tenant_of=lambda user, _: user.tenant, roles_of=lambda user, _: user.roles)


@get("/me")
async def me(auth: NamedDependency[AuthContext[User, Token]]) -> dict[str, Any]:
    user = auth.require_user()
    return {
        "user": user.id,
        "tenant": auth.tenant_id,
        "roles": sorted(auth.roles),
        "scopes": sorted(auth.scopes),
        "subject": auth.subject,
        "scope": str(auth.scope),
    }


@get("/maybe", opt={"auth": "optional"})
async def maybe(auth: NamedDependency[AuthContext[User, Token]]) -> dict[str, Any]:
    return {"anonymous": auth.is_anonymous, "user": None if auth.user is None else auth.user.id}


@get("/maybe/user", opt={"auth": "optional"})
async def maybe_user(current_user: NamedDependency[User]) -> dict[str, Any]:
    return {"user": current_user.id}


@get("/maybe/guarded", opt={"auth": "optional"}, guards=[requires_authentication])
async def maybe_guarded(auth: NamedDependency[AuthContext[User, Token]]) -> dict[str, Any]:
    return {"user": auth.require_user().id}


@get("/maybe/tenant", opt={"auth": "optional"})
async def maybe_tenant(
    current_tenant: NamedDependency[str], tenant_scope: NamedDependency[TenantScope]
) -> dict[str, Any]:
    return {"tenant": current_tenant, "scope": str(tenant_scope)}


# The handler itself refuses callers outside a tenant: it declares so, as any handler declares what it raises.
@get("/maybe/scoped", opt={"auth": "optional"}, raises=[NotAuthorizedException, PermissionDeniedException])
async def maybe_scoped(tenant_scope: NamedDependency[TenantScope]) -> str:
    # What a tenant-filtered repository does with the scope (TenantScope.tenant_filter).
    return tenant_scope.require_tenant()


@get("/public", opt={"exclude_from_auth": True})
async def public(
    auth: NamedDependency[AuthContext[User, Token]], tenant_scope: NamedDependency[TenantScope]
) -> dict[str, Any]:
    return {"anonymous": auth.is_anonymous, "scope": str(tenant_scope)}


@get("/admin", guards=[has_role("admin")])
async def admin() -> str:
    return "admin"


@get("/staff", guards=[has_any_role("admin", "editor")])
async def staff() -> str:
    return "staff"


@get("/admin-editor", guards=[has_role("admin", "editor")])
async def admin_editor() -> str:
    return "admin-editor"


@get("/read-write", guards=[has_scope("items:read", "items:write")])
async def read_write() -> str:
    return "read-write"


@get("/write", guards=[has_scope("items:write")])
async def write() -> str:
    return "write"


@get("/tenants/{tenant_id:str}/ping", guards=[same_tenant()])
async def tenant_ping(tenant_id: FromPath[str]) -> str:
    return tenant_id


@get("/inner")
async def inner(auth: NamedDependency[AuthContext[User, Token]]) -> dict[str, Any]:
    return {"anonymous": auth.is_anonymous}


@get("/inner/strict", opt={"auth": "required"})
async def inner_strict(auth: NamedDependency[AuthContext[User, Token]]) -> dict[str, Any]:
    return {"anonymous": auth.is_anonymous}


HANDLERS = [
    me,
    admin_editor,
    read_write,
    maybe,
    maybe_user,
    maybe_guarded,
    maybe_tenant,
    maybe_scoped,
    public,
    admin,
    staff,
    write,
    tenant_ping,
    Router("/optional-router", route_handlers=[inner, inner_strict], opt={"auth": "optional"}),
]

BACKENDS = ("jwt", "jwt_cookie", "oauth2")


def make_backend(kind: str) -> JWTAuth[User, Token]:
    common: dict[str, Any] = {
        "retrieve_user_handler": retrieve_user,
        "token_secret": SECRET,
        "accepted_audiences": [AUDIENCE],
        "accepted_issuers": [ISSUER],
    }
    if kind == "jwt":
        return JWTAuth[User, Token](**common)
    if kind == "jwt_cookie":
        return JWTCookieAuth[User, Token](**common)
    if kind == "oauth2":
        return OAuth2PasswordBearerAuth[User, Token](token_url="/login", **common)  # type: ignore[return-value]
    raise AssertionError(kind)


def make_app(backend: JWTAuth[User, Token], *, plugins: tuple[Any, ...] = (), **kwargs: Any) -> Litestar:
    return Litestar(
        route_handlers=HANDLERS,
        on_app_init=[backend.on_app_init],
        plugins=[AuthPlugin(AUTH_CONFIG), *plugins],
        **kwargs,
    )


def issue(backend: JWTAuth[User, Token], sub: str, **extras: Any) -> str:
    """A token issued by the backend itself."""
    return backend.create_token(
        identifier=sub, token_issuer=ISSUER, token_audience=AUDIENCE, token_extras=extras or None
    )


def forge(*, secret: str = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    """A token encoded directly with PyJWT, for the invalid cases."""
    now = datetime.now(timezone.utc)
    claims: dict[str, Any] = {
        "sub": "alice",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "aud": AUDIENCE,
        "iss": ISSUER,
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm=algorithm)


def alg_none(sub: str = "alice") -> str:
    """An unsigned token claiming ``alg: none`` (a classic forgery)."""
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(datetime.now(timezone.utc).timestamp())
    claims = {"sub": sub, "iat": now, "exp": now + 300, "aud": AUDIENCE, "iss": ISSUER}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def credentials(kind: str, token: str) -> dict[str, Any]:
    """Request kwargs carrying ``token`` the way the backend expects it (a cookie for the cookie backends)."""
    if kind == "jwt":
        return {"headers": {"Authorization": f"Bearer {token}"}}
    return {"headers": {"Cookie": f"token={token}"}}
