"""SessionAuth with server-side sessions on every store of the matrix: required and optional routes."""

from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.params import JSONBody
from litestar.security.session_auth import SessionAuth
from litestar.stores.base import Store

from litestar_alchemy_kit.auth import AuthConfig, AuthContext, AuthPlugin, has_role
from tests.unit.auth._app import USERS, User

pytestmark = pytest.mark.integration

SessionData = dict[str, Any]


async def retrieve_user(session: SessionData, _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return USERS.get(session.get("user_id", ""))


@post("/login", opt={"exclude_from_auth": True})
async def login(request: Request[Any, Any, Any], data: JSONBody[dict[str, str]]) -> None:
    request.set_session({"user_id": data["user"]})


@get("/me")
async def me(auth: NamedDependency[AuthContext[User, SessionData]]) -> dict[str, Any]:
    user = auth.require_user()
    return {"user": user.id, "tenant": auth.tenant_id, "token": auth.token}


@get("/maybe", opt={"auth": "optional"})
async def maybe(auth: NamedDependency[AuthContext[User, SessionData]]) -> dict[str, Any]:
    return {"user": None if auth.user is None else auth.user.id}


@get("/admin", guards=[has_role("admin")])
async def admin() -> str:
    return "admin"


def client_for(app: Litestar) -> httpx.AsyncClient:
    # In the test's own event loop: network stores' clients are bound to the loop they were made
    # in, and Litestar's AsyncTestClient runs the app on a loop of its own.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local")


@post("/cart", opt={"exclude_from_auth": True})
async def add_to_cart(request: Request[Any, Any, Any], data: JSONBody[dict[str, str]]) -> None:
    request.set_session({**request.session, "cart": [*request.session.get("cart", []), data["item"]]})


@get("/cart", opt={"exclude_from_auth": True})
async def cart(request: Request[Any, Any, Any]) -> list[str]:
    return list(request.session.get("cart", []))


def make_app(store: Store, *plugins: Any, config: "AuthConfig[User, SessionData] | None" = None) -> Litestar:
    session_auth = SessionAuth[User, ServerSideSessionBackend](
        retrieve_user_handler=retrieve_user,
        session_backend_config=ServerSideSessionConfig(store="sessions"),
    )
    config = config or AuthConfig[User, SessionData](
        tenant_of=lambda user, _: user.tenant, roles_of=lambda user, _: user.roles
    )
    return Litestar(
        [login, me, maybe, admin, add_to_cart, cart],
        on_app_init=[session_auth.on_app_init],
        plugins=[AuthPlugin(config), *plugins],
        stores={"sessions": store},
    )


async def test_session_auth_flow(store: Store) -> None:
    async with client_for(make_app(store)) as client:
        assert (await client.get("/me")).status_code == 401
        assert (await client.get("/maybe")).json() == {"user": None}

        assert (await client.post("/login", json={"user": "alice"})).status_code == 201
        session_id = client.cookies.get("session")
        assert session_id
        assert await store.get(session_id) is not None  # the session really lives in the store

        assert (await client.get("/me")).json() == {"user": "alice", "tenant": "acme", "token": {"user_id": "alice"}}
        assert (await client.get("/maybe")).json() == {"user": "alice"}
        assert (await client.get("/admin")).text == "admin"


async def test_session_guard_403_for_other_user(store: Store) -> None:
    async with client_for(make_app(store)) as client:
        await client.post("/login", json={"user": "bob"})
        assert (await client.get("/admin")).status_code == 403
        assert (await client.get("/me")).json()["tenant"] == "globex"


async def test_optional_route_stays_anonymous_across_requests(store: Store) -> None:
    # Litestar gives every visitor a session cookie (for an empty session): that cookie is not a
    # credential, so repeated anonymous visits stay anonymous instead of turning into 401s.
    async with client_for(make_app(store)) as client:
        for _ in range(3):
            assert (await client.get("/maybe")).json() == {"user": None}
        assert client.cookies.get("session")
        stale = await client.get("/maybe", headers={"Cookie": "session=no-such-session"})
        assert stale.json() == {"user": None}
        assert (await client.get("/me")).status_code == 401


async def test_session_of_a_deleted_user_is_401_on_optional_route(store: Store) -> None:
    async with client_for(make_app(store)) as client:
        await client.post("/login", json={"user": "mallory"})  # session data naming no known user
        assert (await client.get("/maybe")).status_code == 401
        # Litestar then clears the session, and the caller is anonymous again.
        assert (await client.get("/maybe")).json() == {"user": None}


async def test_session_failures_are_problem_responses(store: Store) -> None:
    from litestar_alchemy_kit.errors import PROBLEM_MEDIA_TYPE, ErrorsPlugin

    async with client_for(make_app(store, ErrorsPlugin())) as client:
        anonymous = await client.get("/me")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        assert anonymous.json()["code"] == "unauthorized"
        await client.post("/login", json={"user": "bob"})
        forbidden = await client.get("/admin")
        assert forbidden.status_code == 403
        assert forbidden.json()["code"] == "forbidden"
        await client.post("/login", json={"user": "mallory"})
        invalid = await client.get("/maybe")
        assert invalid.status_code == 401
        assert invalid.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)


async def test_anonymous_session_data_is_no_credential_when_told(store: Store) -> None:
    # By default any session data counts as a credential (the safe guess): an anonymous visitor's
    # cart makes optional routes 401. has_credentials says which key is the login.
    async with client_for(make_app(store)) as client:
        await client.post("/cart", json={"item": "book"})
        assert (await client.get("/maybe")).status_code == 401

    config = AuthConfig[User, SessionData](
        tenant_of=lambda user, _: user.tenant, has_credentials=lambda connection: "user_id" in connection.session
    )
    async with client_for(make_app(store, config=config)) as client:
        await client.post("/cart", json={"item": "book"})
        assert (await client.get("/maybe")).json() == {"user": None}
        assert (await client.get("/cart")).json() == ["book"]  # the visitor's session survives
        await client.post("/login", json={"user": "mallory"})
        assert (await client.get("/maybe")).status_code == 401  # a login naming no user is still refused
        await client.post("/login", json={"user": "alice"})
        assert (await client.get("/maybe")).json() == {"user": "alice"}
