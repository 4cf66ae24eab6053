"""The plugin with a custom AbstractAuthenticationMiddleware; the app's own settings win."""

from typing import Any

import pytest
from litestar import Litestar, Request, get, websocket_listener
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.testing import TestClient

from litestar_alchemy_kit.auth import AuthConfig, AuthContext, AuthPlugin, get_auth_context, optional_authentication

API_KEYS = {"key-acme": {"id": 1, "org": "acme", "roles": ["reader"]}}


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        key = connection.headers.get("x-api-key")
        if not key:
            raise NotAuthorizedException("no api key")
        user = API_KEYS.get(key)
        if user is None:
            raise NotAuthorizedException("unknown api key")
        return AuthenticationResult(user=user, auth=key)


CONFIG = AuthConfig[dict[str, Any], str](
    tenant_of=lambda user, _: user["org"],
    roles_of=lambda user, _: user["roles"],
    subject_of=lambda user, _: user["id"],
    has_credentials=lambda connection: "x-api-key" in connection.headers,
)


@get("/who", opt={"auth": "optional"})
async def who(auth: NamedDependency[AuthContext[dict[str, Any], str]]) -> dict[str, Any]:
    return {
        "anonymous": auth.is_anonymous,
        "tenant": auth.tenant_id,
        "roles": sorted(auth.roles),
        "user_scope": str(auth.user_scope),
        "token": auth.token,
    }


@get("/strict")
async def strict(auth: NamedDependency[AuthContext[dict[str, Any], str]]) -> str:
    return str(auth.subject)


@websocket_listener("/ws", opt={"auth": "optional"})
async def ws(data: str, auth: NamedDependency[AuthContext[dict[str, Any], str]]) -> str:
    return f"{data}:{auth.tenant_id}"


def _app(config: AuthConfig[Any, Any] = CONFIG, **kwargs: Any) -> Litestar:
    middleware = kwargs.pop("middleware", [DefineMiddleware(ApiKeyMiddleware)])
    return Litestar([who, strict, ws], middleware=middleware, plugins=[AuthPlugin(config)], **kwargs)


def test_custom_middleware_optional_flow() -> None:
    with TestClient(_app()) as client:
        assert client.get("/who").json() == {
            "anonymous": True,
            "tenant": None,
            "roles": [],
            "user_scope": "tenant=*;subject=*;anonymous",
            "token": None,
        }
        assert client.get("/who", headers={"x-api-key": "key-acme"}).json() == {
            "anonymous": False,
            "tenant": "acme",
            "roles": ["reader"],
            "user_scope": "tenant=acme;subject=1",
            "token": "key-acme",
        }
        assert client.get("/who", headers={"x-api-key": "stolen"}).status_code == 401
        assert client.get("/strict").status_code == 401
        assert client.get("/strict", headers={"x-api-key": "key-acme"}).text == "1"


def test_websocket_optional_flow() -> None:
    with TestClient(_app()) as client:
        with client.websocket_connect("/ws") as socket:
            socket.send_text("hi")
            assert socket.receive_text() == "hi:None"
        with client.websocket_connect("/ws", headers={"x-api-key": "key-acme"}) as socket:
            socket.send_text("hi")
            assert socket.receive_text() == "hi:acme"


def test_raw_middleware_class_is_wrapped_too() -> None:
    with TestClient(_app(middleware=[ApiKeyMiddleware])) as client:
        assert client.get("/who").json()["anonymous"] is True


def test_custom_middleware_without_credential_check_fails_clearly_on_optional_routes() -> None:
    config = AuthConfig[dict[str, Any], str](tenant_of=lambda user, _: user["org"])
    with TestClient(_app(config, debug=True)) as client:
        response = client.get("/who")
        assert response.status_code == 500
        assert "set AuthConfig.has_credentials" in response.text
        assert "ApiKeyMiddleware" in response.text
        # required routes are unaffected
        assert client.get("/strict", headers={"x-api-key": "key-acme"}).status_code == 200


def test_opt_key_none_leaves_middleware_untouched() -> None:
    middleware = DefineMiddleware(ApiKeyMiddleware)
    app = _app(AuthConfig(opt_key=None), middleware=[middleware])
    assert app.middleware == [middleware]
    with TestClient(app) as client:
        assert client.get("/who").status_code == 401


@pytest.mark.parametrize("value", ["optinal", ["optional"], True])
def test_bad_opt_value_is_a_clear_error(value: object) -> None:
    @get("/typo", opt={"auth": value})
    async def typo() -> str:
        return "never"

    app = Litestar([typo], middleware=[DefineMiddleware(ApiKeyMiddleware)], plugins=[AuthPlugin(CONFIG)], debug=True)
    with TestClient(app) as client:
        response = client.get("/typo", headers={"x-api-key": "key-acme"})
        assert response.status_code == 500
        assert f"got {value!r} on typo" in response.text


def test_user_dependencies_and_signature_namespace_win() -> None:
    def mine() -> str:
        return "mine"

    app = _app(
        dependencies={"current_user": Provide(mine, sync_to_thread=False)}, signature_namespace={"AuthContext": str}
    )

    @get("/mine", opt={"exclude_from_auth": True})
    async def handler(current_user: NamedDependency[str]) -> str:
        return current_user

    app.register(handler)
    assert app.signature_namespace["AuthContext"] is str
    assert app.signature_namespace["TenantScope"].__name__ == "TenantScope"
    with TestClient(app) as client:
        assert client.get("/mine").text == "mine"


def test_custom_dependency_keys() -> None:
    config = AuthConfig[dict[str, Any], str](
        auth_dependency_key="caller", has_credentials=lambda connection: "x-api-key" in connection.headers
    )

    @get("/caller")
    async def handler(caller: NamedDependency[AuthContext[dict[str, Any], str]]) -> str:
        return str(caller.user)

    app = Litestar([handler], middleware=[DefineMiddleware(ApiKeyMiddleware)], plugins=[AuthPlugin(config)])
    assert "caller" in app.dependencies
    assert "auth" not in app.dependencies
    with TestClient(app) as client:
        assert "acme" in client.get("/caller", headers={"x-api-key": "key-acme"}).text


def test_duplicate_dependency_keys_rejected() -> None:
    with pytest.raises(ValueError, match="must be distinct"):
        AuthConfig(auth_dependency_key="x", user_dependency_key="x")


def test_get_auth_context_without_plugin() -> None:
    @get("/")
    async def handler(request: Request[Any, Any, Any]) -> str:
        return str(get_auth_context(request))

    app = Litestar([handler], debug=True)
    with TestClient(app) as client:
        response = client.get("/")
        assert response.status_code == 500
        assert "no AuthPlugin registered" in response.text


def test_optional_authentication_leaves_unrelated_middleware_alone() -> None:
    class Other:
        def __init__(self, app: Any) -> None:
            self.app = app

    define = DefineMiddleware(Other)
    assert optional_authentication(define) is define
    assert optional_authentication(Other) is Other  # type: ignore[arg-type]
    wrapped = optional_authentication(DefineMiddleware(ApiKeyMiddleware))
    assert isinstance(wrapped, DefineMiddleware)
    # Idempotent: wrapping twice does not stack subclasses.
    twice = optional_authentication(wrapped)
    assert isinstance(twice, DefineMiddleware)
    assert twice.middleware is wrapped.middleware
    assert issubclass(wrapped.middleware, ApiKeyMiddleware)
