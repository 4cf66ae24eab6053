"""A cached response holds the rows of the tenants its repositories were bound to: only a key of that tenant stores it.

The response cache keys a response by what ``identify`` says of the caller; the tenant-scoped providers (or a
repository built with ``tenant=``) bind reads to the tenant the app's auth context gives. Where the two differ (a
public route, the default ``identify`` that knows no tenant, a tenant the app takes from a header) the response is
served uncached, and a warning names the route (``response_cache.engine._foreign_tenants``). Through HTTP, SQLite
(aiosqlite), Litestar's MemoryStore and a RedisStore.
"""

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Request, get
from litestar.di import NamedDependency, Provide
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, ErrorsConfig, ServiceDependency
from litestar_alchemy_kit.auth import AuthContext
from litestar_alchemy_kit.cache import CachePluginConfig
from litestar_alchemy_kit.response_cache import ResponseCacheRule
from tests.integration.providers.test_providers_review20 import (
    HANDLERS,
    STORES,
    R20NoteRepository,
    R20NoteService,
    backend,
    bearer,
    make_app,
    sqlite_alchemy,
)

pytestmark = [pytest.mark.integration]

WARNING = "read rows of tenant(s)"


class _Warnings(logging.Handler):
    """The engine's warnings, on its own logger (Litestar's logging config replaces the root's handlers: caplog's)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def engine_warnings() -> Any:
    logger = logging.getLogger("litestar_alchemy_kit.response_cache.engine")
    handler = _Warnings()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@get("/r21/public", opt={"response_cache": ResponseCacheRule(scope="public")})
async def public_notes(notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await notes.get_many())


@get("/r21/picked", opt={"response_cache": True})
async def picked_notes(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> list[str]:
    """Binds a repository itself, to the tenant a header picks (no provider)."""
    repository = R20NoteRepository(session=db_session, tenant=request.headers["x-tenant"])
    return sorted(note.title for note in await repository.get_many())


@get("/r21/picked/shared", opt={"response_cache": ResponseCacheRule(scope="tenant")})
async def picked_shared(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> list[str]:
    """One entry per tenant of the caller's token; the rows read are those of the tenant a header picks."""
    repository = R20NoteRepository(session=db_session, tenant=request.headers["x-tenant"])
    return sorted(note.title for note in await repository.get_many())


def header_auth(request: Request[Any, Any, Any]) -> AuthContext[Any, Any]:
    """The app's own ``auth``: the caller picks one of its tenants with ``X-Tenant``."""
    user = request.scope.get("user")
    if user is None:
        return AuthContext.anonymous()
    return AuthContext(
        user=user, token=request.scope.get("auth"), tenant_id=request.headers["x-tenant"], subject=user.id
    )


def _own_auth_app(tmp_path: Path, store: Any) -> tuple[Litestar, Any]:
    jwt = backend()
    kit = AlchemyKitConfig(
        alchemy=sqlite_alchemy(tmp_path),
        errors=ErrorsConfig(),
        cache=CachePluginConfig(namespace=f"r21{uuid.uuid4().hex[:8]}"),
        services={"notes": ServiceDependency(R20NoteService, scope="tenant")},
    )
    app = Litestar(
        [*HANDLERS, picked_notes],
        on_app_init=[jwt.on_app_init],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": store},
        dependencies={"auth": Provide(header_auth, sync_to_thread=False)},
    )
    return app, jwt


@pytest.mark.parametrize("make_store", STORES)
async def test_public_route_reading_a_tenant_is_never_shared(
    tmp_path: Path, make_store: Any, engine_warnings: list[str]
) -> None:
    app, jwt = make_app(tmp_path, store=make_store(), handlers=[*HANDLERS, public_notes])
    async with AsyncTestClient(app=app) as client:
        alice, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "bob", "globex")
        assert (await client.post("/notes", json={"title": "acme secret"}, headers=alice)).status_code == 201
        for _ in range(2):
            mine = await client.get("/r21/public", headers=alice)
            assert (mine.json(), mine.headers["x-cache"]) == (["acme secret"], "bypass")
            other = await client.get("/r21/public", headers=bob)
            assert (other.json(), other.headers["x-cache"]) == ([], "bypass")
        warnings = [message for message in engine_warnings if WARNING in message]
        assert len(warnings) == 1, "one warning per route"
        assert "/r21/public" in warnings[0]
        assert "shared by every caller" in warnings[0]


@pytest.mark.parametrize("make_store", STORES)
async def test_default_identify_with_a_tenant_of_the_apps_own(tmp_path: Path, make_store: Any) -> None:
    """The default ``identify`` keys by the token's ``sub``; the app's ``auth`` takes the tenant from a header."""
    app, jwt = _own_auth_app(tmp_path, make_store())
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        acme, globex = alice | {"x-tenant": "acme"}, alice | {"x-tenant": "globex"}
        assert (await client.post("/notes", json={"title": "acme note"}, headers=acme)).status_code == 201
        for _ in range(2):
            first = await client.get("/notes/mine", headers=acme)
            assert (first.json()["titles"], first.headers["x-cache"]) == (["acme note"], "bypass")
            other = await client.get("/notes/mine", headers=globex)
            assert (other.json()["tenant"], other.json()["titles"]) == ("globex", [])


@pytest.mark.parametrize("make_store", STORES)
async def test_repository_bound_by_hand_to_a_header_tenant(tmp_path: Path, make_store: Any) -> None:
    """No provider: the handler builds a repository with ``tenant=`` from a header the key does not hold."""
    app, jwt = _own_auth_app(tmp_path, make_store())
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        acme, globex = alice | {"x-tenant": "acme"}, alice | {"x-tenant": "globex"}
        assert (await client.post("/notes", json={"title": "acme note"}, headers=acme)).status_code == 201
        for _ in range(2):
            assert (await client.get("/r21/picked", headers=acme)).json() == ["acme note"]
            assert (await client.get("/r21/picked", headers=globex)).json() == []


@pytest.mark.parametrize("make_store", STORES)
async def test_tenant_key_never_holds_another_tenants_rows(tmp_path: Path, make_store: Any) -> None:
    """The key names the token's tenant (the kit's auth), the handler reads another's: not stored for that key."""
    app, jwt = make_app(tmp_path, store=make_store(), handlers=[*HANDLERS, picked_shared])
    async with AsyncTestClient(app=app) as client:
        alice, bob, carol = bearer(jwt, "alice", "acme"), bearer(jwt, "bob", "globex"), bearer(jwt, "carol", "acme")
        assert (await client.post("/notes", json={"title": "globex secret"}, headers=bob)).status_code == 201
        # alice (of acme) asks for globex's rows: the response must not become acme's entry
        assert (await client.get("/r21/picked/shared", headers=alice | {"x-tenant": "globex"})).json() == [
            "globex secret"
        ]
        for _ in range(2):
            mine = await client.get("/r21/picked/shared", headers=carol | {"x-tenant": "acme"})
            assert mine.json() == [], mine.headers["x-cache"]
        assert (await client.get("/r21/picked/shared", headers=carol | {"x-tenant": "acme"})).headers[
            "x-cache"
        ] == "hit"


@pytest.mark.parametrize("make_store", STORES)
async def test_control_identify_naming_the_providers_tenant_is_cached(
    tmp_path: Path, make_store: Any, engine_warnings: list[str]
) -> None:
    """With the kit's auth feature ``identify`` names the tenant the providers bind: stored, hit, no warning."""
    app, jwt = make_app(tmp_path, store=make_store())
    async with AsyncTestClient(app=app) as client:
        alice, carol = bearer(jwt, "alice", "acme"), bearer(jwt, "carol", "acme")
        assert (await client.post("/notes", json={"title": "a1"}, headers=alice)).status_code == 201
        assert (await client.get("/notes", headers=alice)).headers["x-cache"] == "miss"
        hit = await client.get("/notes", headers=carol)
        assert (hit.json(), hit.headers["x-cache"]) == (["a1"], "hit")
        mine = [(await client.get("/notes/mine", headers=alice)).headers["x-cache"] for _ in range(2)]
        assert mine == ["miss", "hit"]
        assert not [message for message in engine_warnings if WARNING in message]
