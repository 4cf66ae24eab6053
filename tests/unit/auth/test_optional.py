"""What counts as "a credential" on optional routes: broken ones are 401, never anonymous."""

from typing import Any

import pytest
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.middleware import AuthenticationResult
from litestar.security.jwt import JWTAuth, Token
from litestar.security.jwt.middleware import JWTAuthenticationMiddleware
from litestar.testing import TestClient

from litestar_alchemy_kit.auth import AuthConfig, AuthContext, AuthPlugin
from tests.unit.auth._app import AUDIENCE, BACKENDS, ISSUER, SECRET, User, issue, make_app, make_backend, retrieve_user

MALFORMED_HEADERS = ("Bearer", "Bearer ", "Basic xyz", "Basic", "garbage", "Bearer not.a.jwt")


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("header", MALFORMED_HEADERS)
def test_malformed_authorization_header_is_401_not_anonymous(kind: str, header: str) -> None:
    with TestClient(make_app(make_backend(kind))) as client:
        response = client.get("/maybe", headers={"Authorization": header})
        assert response.status_code == 401, response.text
        assert client.get("/maybe").json() == {"anonymous": True, "user": None}


@pytest.mark.parametrize("kind", ["jwt_cookie", "oauth2"])
def test_broken_header_beside_a_valid_cookie_is_401(kind: str) -> None:
    # Litestar reads the header first: a broken header is the credential, whatever the cookie holds.
    backend = make_backend(kind)
    with TestClient(make_app(backend)) as client:
        cookie = f"token={issue(backend, 'bob')}"
        assert client.get("/maybe", headers={"Cookie": cookie}).json() == {"anonymous": False, "user": "bob"}
        broken = client.get("/maybe", headers={"Authorization": "Basic xyz", "Cookie": cookie})
        assert broken.status_code == 401


@pytest.mark.parametrize("kind", BACKENDS)
def test_empty_values_carry_no_credential(kind: str) -> None:
    # An empty header or cookie holds no token at all (e.g. a cookie cleared at logout): anonymous
    # on optional routes, 401 on required ones, exactly as Litestar treats a missing one.
    with TestClient(make_app(make_backend(kind))) as client:
        for headers in ({"Authorization": ""}, {"Cookie": "token="}, {"Cookie": "other=1"}):
            assert client.get("/maybe", headers=headers).json() == {"anonymous": True, "user": None}
            assert client.get("/me", headers=headers).status_code == 401


class QueryTokenMiddleware(JWTAuthenticationMiddleware):
    """A JWT middleware subclass that also reads ``?token=``: the plugin cannot know where it looks."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = connection.query_params.get("token")
        if token is not None:
            return await self.authenticate_token(encoded_token=token, connection=connection)
        return await super().authenticate_request(connection)


@get("/who", opt={"auth": "optional"})
async def who(auth: NamedDependency[AuthContext[User, Token]]) -> dict[str, Any]:
    return {"user": None if auth.user is None else auth.user.id}


def _query_token_app(config: AuthConfig[User, Token]) -> tuple[Litestar, JWTAuth[User, Token]]:
    backend = JWTAuth[User, Token](
        retrieve_user_handler=retrieve_user,
        token_secret=SECRET,
        accepted_audiences=[AUDIENCE],
        accepted_issuers=[ISSUER],
        authentication_middleware_class=QueryTokenMiddleware,
    )
    app = Litestar([who], on_app_init=[backend.on_app_init], plugins=[AuthPlugin(config)], debug=True)
    return app, backend


def test_subclass_reading_credentials_elsewhere_needs_has_credentials() -> None:
    # Guessing "header only" for it would turn a bad ?token= into an anonymous caller.
    app, _ = _query_token_app(AuthConfig[User, Token]())
    with TestClient(app) as client:
        response = client.get("/who", params={"token": "forged"})
        assert response.status_code == 500
        assert "QueryTokenMiddleware" in response.text
        assert "set AuthConfig.has_credentials" in response.text


def test_subclass_with_has_credentials_rejects_a_bad_query_token() -> None:
    config = AuthConfig[User, Token](
        has_credentials=lambda connection: bool(
            connection.query_params.get("token") or connection.headers.get("authorization")
        )
    )
    app, backend = _query_token_app(config)
    with TestClient(app) as client:
        assert client.get("/who").json() == {"user": None}
        assert client.get("/who", params={"token": issue(backend, "bob")}).json() == {"user": "bob"}
        assert client.get("/who", params={"token": "forged"}).status_code == 401
