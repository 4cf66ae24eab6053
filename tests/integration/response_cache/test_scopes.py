"""Per-user and per-tenant responses never cross over: every auth backend the auth feature supports x every store.

The app authenticates with Litestar's JWT (header), JWT cookie, OAuth2 password bearer or session
backend, builds the caller's context with the kit's :class:`AuthPlugin`, and caches ``/mine``
(per user, the default on an authenticated route) and ``/tenant-items`` (per tenant).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar, Request, post
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.params import FromPath
from litestar.security.jwt import JWTAuth, JWTCookieAuth, OAuth2PasswordBearerAuth, Token
from litestar.security.session_auth import SessionAuth
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from litestar_alchemy_kit.auth import AuthConfig, AuthPlugin, get_auth_context
from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.response_cache import ANONYMOUS, Caller
from tests.conftest import PATIENT, StoreBackend
from tests.integration.response_cache._app import Hooks, make_app
from tests.integration.response_cache.conftest import USERS, User

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]

SECRET = "lak-response-cache-secret-0123456789abcdef"
BACKENDS = ["jwt", "jwt_cookie", "oauth2", "session"]


async def _user_from_token(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return USERS.get(token.sub)


async def _user_from_session(session: dict[str, Any], _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return USERS.get(session.get("user", ""))


@post("/login/{name:str}", exclude_from_auth=True)
async def login(name: FromPath[str], request: Request[Any, Any, Any]) -> None:
    request.set_session({"user": name})


def identify(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller | None:
    """The kit's auth context as the cache's caller: its tenant and subject."""
    context = get_auth_context(connection)
    return ANONYMOUS if context.is_anonymous else Caller(context.tenant_id, context.subject)


def _backend(name: str) -> tuple[Any, Callable[[AsyncTestClient[Litestar], str], Any]]:
    """The auth backend, and how a client logs in as a user (returns request headers, or sets cookies)."""
    if name == "session":
        auth = SessionAuth[User, Any](
            retrieve_user_handler=_user_from_session,
            session_backend_config=ServerSideSessionConfig(),
            exclude=["/login"],
        )

        async def session_login(client: AsyncTestClient[Litestar], user: str) -> dict[str, str]:
            client.cookies.clear()
            assert (await client.post(f"/login/{user}")).status_code == 201
            return {}

        return auth, session_login
    kinds = {"jwt": JWTAuth, "jwt_cookie": JWTCookieAuth, "oauth2": OAuth2PasswordBearerAuth}
    extra = {"token_url": "/login"} if name == "oauth2" else {}
    auth = kinds[name][User](retrieve_user_handler=_user_from_token, token_secret=SECRET, exclude=["/login"], **extra)

    async def token_login(client: AsyncTestClient[Litestar], user: str) -> dict[str, str]:
        client.cookies.clear()
        token = auth.create_token(identifier=user)
        if name == "jwt_cookie":
            client.cookies.set(auth.key, f"Bearer {token}")
            return {}
        return {"Authorization": f"Bearer {token}"}

    return auth, token_login


@pytest.mark.parametrize("backend", BACKENDS)
async def test_users_and_tenants_never_cross_over(
    backend: str, store_backend: StoreBackend, engine: AsyncEngine
) -> None:
    auth, login_as = _backend(backend)
    store = store_backend.make()
    cache = AsyncCache(store, namespace=f"lakrcs{uuid.uuid4().hex[:8]}", options=PATIENT)
    hooks = Hooks()
    config = AuthConfig[User, Any](tenant_of=lambda user, _: user.tenant, subject_of=lambda user, _: user.id)
    app = make_app(
        "kit",
        store,
        async_sessionmaker(engine, expire_on_commit=False),
        cache,
        hooks=hooks,
        on_app_init=[auth.on_app_init],
        plugins=[AuthPlugin(config)],
        identify_caller=identify,
        extra_handlers=[login] if backend == "session" else [],
        on_shutdown=[cache.close],
    )
    expected_mine = {"alice": ["apple"], "carol": ["pear"], "bob": ["plum"]}
    expected_tenant = {"alice": ["apple", "pear"], "carol": ["apple", "pear"], "bob": ["plum"]}
    async with AsyncTestClient(app) as client:
        for round_ in range(3):  # learn, store, hit
            for user in ("alice", "carol", "bob"):
                headers = await login_as(client, user)
                mine = await client.get("/mine", headers=headers)
                assert mine.status_code == 200, mine.text
                assert mine.json() == {"owner": user, "items": expected_mine[user]}, (round_, user)
                tenant = await client.get("/tenant-items", headers=headers)
                assert tenant.json() == {"tenant": USERS[user].tenant, "items": expected_tenant[user]}, (round_, user)
                if round_ == 2:
                    assert mine.headers["x-cache"] == "hit"
                    assert tenant.headers["x-cache"] == "hit"
                    assert mine.headers["cache-control"] == "private, no-cache"
        client.cookies.clear()
        anonymous = await client.get("/mine")
        assert anonymous.status_code == 401  # guards and authentication run before any lookup
    # The route's first miss learns its tables (not stored); every later miss stores: one more call for
    # alice, one each for carol and bob; per tenant, carol shares acme's entry.
    assert hooks.calls["mine"] == 4
    assert hooks.calls["tenant"] == 3
