# pyright: strict
"""Type-checked, never run: the user's type survives AuthContext in mypy and pyright (strict).

``tests/unit/auth/test_typing.py`` runs both checkers on this module and requires zero errors.
"""

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.security.jwt import Token
from typing_extensions import assert_type

from litestar_alchemy_kit.auth import AuthConfig, AuthContext, TenantScope, get_auth_context


class User:
    name: str = "u"
    tenant: str = "t"


class Admin(User):
    level: int = 1


@get("/")
async def handler(auth: NamedDependency[AuthContext[User, Token]]) -> str:
    assert_type(auth.user, User | None)
    assert_type(auth.token, Token | None)
    user = auth.require_user()
    assert_type(user, User)
    assert_type(auth.scope, TenantScope)
    assert_type(auth.tenant_id, str | None)
    if auth.user is not None:
        assert_type(auth.user, User)
    return user.name


def from_request(request: Request[User, Token, Any]) -> str:
    context = get_auth_context(request)
    assert_type(context, AuthContext[User, Token])
    return context.require_user().name


def from_config(config: AuthConfig[User, Token], user: User, token: Token) -> None:
    assert_type(config.build_context(user, token), AuthContext[User, Token])


config = AuthConfig[User, Token](tenant_of=lambda user, _: user.tenant, roles_of=lambda user, token: [token.sub])


def covariance(admin_context: AuthContext[Admin, Token]) -> AuthContext[User, Token]:
    # Immutable, so an admin's context is a user's context.
    return admin_context


anonymous = AuthContext[User, Token].anonymous()
assert_type(anonymous, AuthContext[User, Token])
