"""Review 20: providers, the response cache and the auth context through a real Litestar app.

Fixed (failed before):

- ``test_router_level_authentication_default_rule`` / ``..._guarded_cached_route``: authentication middleware on a
  Router runs inside the app-level response cache middleware: the caller was identified as anonymous (one shared
  entry: bob was served alice's response) and guards ran before authentication (401 for a valid caller). Such routes
  are now served uncached (``engine._authenticates_below_the_app``);
- ``test_own_auth_plugin_same_sub_in_two_tenants``: the composed plugin without ``auth=`` next to an ``AuthPlugin``
  registered apart keyed responses by the JWT ``sub`` alone, while providers scope by tenant: admin@globex was served
  admin@acme's notes. The registered plugin's config now gives ``identify``;
- ``test_own_response_cache_state_key_is_invalidated_by_commits``: a response cache on a cache of its own
  (``cache_state_key``) was never invalidated by the app's commits: the composed plugin now builds that cache and
  binds it to the async session makers;
- ``test_integer_tenant_column_postgres`` / ``test_uuid_tenant_column[sqlite]``: a tenant-scoped provider bound
  ``AuthContext.tenant_id`` (always ``str``) to a typed tenant column: every read was a 409 conflict.integrity. The
  binding converts text to the column's integer or UUID type (``TenantBinding.of``);
- ``test_sqlite_released_savepoint_commits_without_invalidating``: on SQLite (the driver's legacy transactions) a
  savepoint opened with no transaction open is released as the database's COMMIT; the request then rolled back and
  the kit forgot the tags. The RELEASE now delivers them (``orm.sqlitetx``).

- ``test_own_auth_dependency_tenant_from_header``: the composed plugin without ``auth=`` and with an ``auth``
  dependency of the app's own keyed responses by the JWT ``sub`` alone, while providers scope by tenant. A response
  holding a tenant's rows is now stored only under a key naming that tenant (``test_response_tenants.py``).

Each scenario builds an app with the kit's plugin(s) and providers, on a SQLite file (aiosqlite) or
PostgreSQL, with Litestar's MemoryStore or a RedisStore, and checks through HTTP that no tenant or
user sees another's data, that a committed write is visible to the next request, and that a store
outage fails open.
"""

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from advanced_alchemy.mixins import UUIDPrimaryKey
from litestar import Litestar, Request, Router, get, post
from litestar.background_tasks import BackgroundTask
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Response
from litestar.security.jwt import JWTAuth, Token
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, ErrorsConfig, ServiceDependency
from litestar_alchemy_kit.auth import AuthConfig, AuthContext, AuthPlugin, TenantScope
from litestar_alchemy_kit.cache import CachePluginConfig
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.providers import AsyncServiceContext
from litestar_alchemy_kit.repository import CachedAsyncRepository
from litestar_alchemy_kit.response_cache import ResponseCacheRule
from litestar_alchemy_kit.service import CachedAsyncRepositoryService

pytestmark = [pytest.mark.integration]

SECRET = "r20-secret-0123456789abcdef0123456789abcdef"
REDIS_URL = "redis://127.0.0.1:6379"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class R20Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class R20Note(UUIDPrimaryKey, R20Base):
    __tablename__ = "r20_note"

    tenant_id: Mapped[str] = tenant_column(String(64))
    title: Mapped[str] = mapped_column(String(100))


class R20IntNote(UUIDPrimaryKey, R20Base):
    __tablename__ = "r20_int_note"

    tenant_id: Mapped[int] = tenant_column(Integer)
    title: Mapped[str] = mapped_column(String(100))


class R20NoteRepository(CachedAsyncRepository[R20Note]):
    model_type = R20Note


class R20NoteService(CachedAsyncRepositoryService[R20Note, R20NoteRepository]):
    repository_type = R20NoteRepository


class R20IntNoteRepository(CachedAsyncRepository[R20IntNote]):
    model_type = R20IntNote


class R20IntNoteService(CachedAsyncRepositoryService[R20IntNote, R20IntNoteRepository]):
    repository_type = R20IntNoteRepository


@dataclasses.dataclass(frozen=True)
class User:
    id: str
    tenant: str | None
    org: int | None = None


# Users are identified by (sub, tenant claim): user ids are per tenant (both tenants have an "admin").
USERS = {
    ("alice", "acme"): User("alice", "acme", 1),
    ("carol", "acme"): User("carol", "acme", 1),
    ("bob", "globex"): User("bob", "globex", 2),
    ("admin", "acme"): User("admin", "acme", 1),
    ("admin", "globex"): User("admin", "globex", 2),
}


async def retrieve_user(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    return USERS.get((token.sub, token.extras.get("t")))


AUTH = AuthConfig[User, Token](tenant_of=lambda user, _: user.tenant)
INT_AUTH = AuthConfig[User, Token](tenant_of=lambda user, _: user.org)


def backend(**kwargs: Any) -> JWTAuth[User, Token]:
    return JWTAuth[User, Token](retrieve_user_handler=retrieve_user, token_secret=SECRET, **kwargs)


def bearer(jwt: JWTAuth[User, Token], sub: str, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.create_token(identifier=sub, token_extras={'t': tenant})}"}


CALLS: dict[str, int] = {}


def _called(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


# -- handlers -------------------------------------------------------------------------------------


@get("/notes", opt={"response_cache": ResponseCacheRule(scope="tenant")})
async def tenant_notes(notes: NamedDependency[R20NoteService]) -> list[str]:
    _called("tenant")
    return sorted(note.title for note in await notes.get_many())


@get("/notes/mine", opt={"response_cache": True})
async def my_notes(notes: NamedDependency[R20NoteService], auth: NamedDependency[Any]) -> dict[str, Any]:
    _called("mine")
    return {"for": auth.subject, "tenant": auth.tenant_id, "titles": sorted(n.title for n in await notes.get_many())}


@get("/notes/plain")
async def plain_notes(notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await notes.get_many())


@post("/notes")
async def add_note(notes: NamedDependency[R20NoteService], data: JSONBody[dict[str, str]]) -> str:
    return str((await notes.create(data)).id)


@post("/notes/fail")
async def add_then_fail(notes: NamedDependency[R20NoteService], data: JSONBody[dict[str, str]]) -> Response[Any]:
    await notes.create(data)
    titles = sorted(note.title for note in await notes.get_many())  # reads its own uncommitted row
    return Response(content={"seen": titles}, status_code=409)  # a non-2xx: autocommit rolls back


@post("/notes/later")
async def add_later(notes: NamedDependency[R20NoteService], data: JSONBody[dict[str, str]]) -> Response[str]:
    async def write() -> None:
        await notes.create(data, auto_commit=True)

    return Response("queued", background=BackgroundTask(write))


@get("/int-notes", opt={"response_cache": ResponseCacheRule(scope="tenant")})
async def int_notes(int_notes: NamedDependency[R20IntNoteService]) -> list[str]:
    return sorted(note.title for note in await int_notes.get_many())


@get("/int-notes/plain")
async def int_notes_plain(int_notes: NamedDependency[R20IntNoteService]) -> list[str]:
    return sorted(note.title for note in await int_notes.get_many())


@post("/int-notes")
async def add_int_note(int_notes: NamedDependency[R20IntNoteService], data: JSONBody[dict[str, str]]) -> str:
    return str((await int_notes.create(data)).id)


@post("/worker/{tenant:str}", exclude_from_auth=True)
async def worker_write(request: Request[Any, Any, Any], tenant: FromPath[str], data: JSONBody[dict[str, str]]) -> None:
    """A job run in the app's loop: the kit's out-of-request service context, as a CLI command or worker uses it."""
    async with AsyncServiceContext.from_app(request.app, scope=TenantScope(tenant)) as context:
        await context.service(R20NoteService).create(data)


HANDLERS = [tenant_notes, my_notes, plain_notes, add_note, add_then_fail, add_later, worker_write]


def sqlite_alchemy(tmp_path: Path) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        connection_string=f"sqlite+aiosqlite:///{tmp_path / 'r20.db'}",
        metadata=R20Base.metadata,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )


def make_app(
    tmp_path: Path,
    *,
    store: Store | None = None,
    handlers: list[Any] | None = None,
    alchemy: SQLAlchemyAsyncConfig | None = None,
    jwt: JWTAuth[User, Token] | None = None,
    route_auth: bool = False,
    kit_auth: bool = True,
    plugins: tuple[Any, ...] = (),
    services: dict[str, ServiceDependency] | None = None,
    auth: AuthConfig[Any, Any] = AUTH,
) -> tuple[Litestar, JWTAuth[User, Token]]:
    jwt = jwt or backend()
    kit = AlchemyKitConfig(
        alchemy=alchemy or sqlite_alchemy(tmp_path),
        auth=auth if kit_auth else None,
        errors=ErrorsConfig(),
        cache=CachePluginConfig(namespace=f"r20{uuid.uuid4().hex[:8]}"),
        services=services or {"notes": ServiceDependency(R20NoteService, scope="tenant")},
    )
    route_handlers: list[Any] = handlers or HANDLERS
    if route_auth:
        # Authentication on a router (the auth docs: "Middleware you add on a router ..."), not on the app.
        route_handlers = [Router("/api", route_handlers=route_handlers, middleware=[jwt.middleware])]
    app = Litestar(
        route_handlers,
        on_app_init=[] if route_auth else [jwt.on_app_init],
        plugins=[*plugins, AlchemyKitPlugin(kit)],
        stores={"cache": store or MemoryStore()},
    )
    return app, jwt


def redis_store() -> Store:
    from litestar.stores.redis import RedisStore

    return RedisStore.with_client(url=REDIS_URL, namespace=f"r20{uuid.uuid4().hex[:6]}")


def dead_redis_store() -> Store:
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    return RedisStore(client, namespace="r20dead")


STORES = [pytest.param(MemoryStore, id="memory"), pytest.param(redis_store, id="redis")]


# -- controls ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_store", STORES)
async def test_control_tenant_rule_is_per_tenant_and_fresh_after_a_write(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store())
    async with AsyncTestClient(app=app) as client:
        alice, carol, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "carol", "acme"), bearer(jwt, "bob", "globex")
        assert (await client.post("/notes", json={"title": "a1"}, headers=alice)).status_code == 201
        assert (await client.get("/notes", headers=alice)).json() == ["a1"]
        hit = await client.get("/notes", headers=carol)
        assert (hit.json(), hit.headers["x-cache"]) == (["a1"], "hit")
        assert (await client.get("/notes", headers=bob)).json() == []
        assert (await client.post("/notes", json={"title": "b1"}, headers=bob)).status_code == 201
        assert (await client.get("/notes", headers=bob)).json() == ["b1"]
        assert (await client.get("/notes", headers=alice)).json() == ["a1"]


@pytest.mark.parametrize("make_store", STORES)
async def test_control_same_sub_in_two_tenants_with_kit_auth(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store())
    async with AsyncTestClient(app=app) as client:
        acme_admin, globex_admin = bearer(jwt, "admin", "acme"), bearer(jwt, "admin", "globex")
        await client.post("/notes", json={"title": "acme secret"}, headers=acme_admin)
        first = await client.get("/notes/mine", headers=acme_admin)
        assert first.json()["titles"] == ["acme secret"]
        other = await client.get("/notes/mine", headers=globex_admin)
        assert (other.json()["tenant"], other.json()["titles"]) == ("globex", [])


@pytest.mark.parametrize("make_store", STORES)
async def test_control_failed_request_rolls_back_and_leaves_no_entry(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store())
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        for _ in range(2):
            assert (await client.get("/notes/plain", headers=alice)).json() == []
        failed = await client.post("/notes/fail", json={"title": "ghost"}, headers=alice)
        assert failed.status_code == 409
        assert failed.json() == {"seen": ["ghost"]}
        for _ in range(2):
            assert (await client.get("/notes/plain", headers=alice)).json() == []
            assert (await client.get("/notes", headers=alice)).json() == []


@pytest.mark.parametrize("make_store", STORES)
async def test_control_background_task_write_is_visible(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store())
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        assert (await client.get("/notes", headers=alice)).json() == []
        assert (await client.get("/notes/plain", headers=alice)).json() == []
        assert (await client.post("/notes/later", json={"title": "bg"}, headers=alice)).status_code == 201
        assert (await client.get("/notes", headers=alice)).json() == ["bg"]
        assert (await client.get("/notes/plain", headers=alice)).json() == ["bg"]


@pytest.mark.parametrize("make_store", STORES)
async def test_control_worker_write_through_service_context_is_visible(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store())
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        assert (await client.get("/notes", headers=alice)).json() == []
        assert (await client.get("/notes/plain", headers=alice)).json() == []
        async with AsyncServiceContext.from_app(app, scope=TenantScope("acme")) as context:
            await context.service(R20NoteService).create({"title": "w"})
        assert (await client.get("/notes", headers=alice)).json() == ["w"]
        assert (await client.get("/notes/plain", headers=alice)).json() == ["w"]


# -- fail open --------------------------------------------------------------------------------------


async def test_store_down_fails_open_through_http(tmp_path: Path) -> None:
    app, jwt = make_app(tmp_path, store=dead_redis_store())
    async with AsyncTestClient(app=app, timeout=30) as client:
        alice = bearer(jwt, "alice", "acme")
        assert (await client.get("/notes", headers=alice)).json() == []
        assert (await client.get("/notes/plain", headers=alice)).json() == []
        created = await client.post("/notes", json={"title": "down"}, headers=alice)
        assert created.status_code == 201, created.text
        assert (await client.get("/notes", headers=alice)).json() == ["down"]
        assert (await client.get("/notes/plain", headers=alice)).json() == ["down"]
        assert (await client.post("/worker/acme", json={"title": "w"})).status_code == 201
        assert (await client.get("/notes/plain", headers=alice)).json() == ["down", "w"]
        assert (await client.post("/notes/later", json={"title": "bg"}, headers=alice)).status_code == 201
        assert (await client.get("/notes", headers=alice)).json() == ["bg", "down", "w"]


# -- authentication on a router ---------------------------------------------------------------------


@pytest.mark.parametrize("make_store", STORES)
async def test_router_level_authentication_default_rule(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store(), route_auth=True)
    async with AsyncTestClient(app=app) as client:
        alice, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "bob", "globex")
        assert (await client.post("/api/notes", json={"title": "acme secret"}, headers=alice)).status_code == 201
        first = await client.get("/api/notes/mine", headers=alice)
        assert first.json() == {"for": "alice", "tenant": "acme", "titles": ["acme secret"]}
        theirs = await client.get("/api/notes/mine", headers=bob)
        assert theirs.json() == {"for": "bob", "tenant": "globex", "titles": []}, theirs.headers.get("x-cache")


@pytest.mark.parametrize("make_store", STORES)
async def test_router_level_authentication_tenant_rule(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store(), route_auth=True)
    async with AsyncTestClient(app=app) as client:
        alice, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "bob", "globex")
        assert (await client.post("/api/notes", json={"title": "acme secret"}, headers=alice)).status_code == 201
        assert (await client.get("/api/notes", headers=alice)).json() == ["acme secret"]
        assert (await client.get("/api/notes", headers=bob)).json() == []


# -- the auth feature registered apart from the composed plugin ------------------------------------


@pytest.mark.parametrize("make_store", STORES)
async def test_own_auth_plugin_same_sub_in_two_tenants(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store(), kit_auth=False, plugins=(AuthPlugin(AUTH),))
    async with AsyncTestClient(app=app) as client:
        acme_admin, globex_admin = bearer(jwt, "admin", "acme"), bearer(jwt, "admin", "globex")
        await client.post("/notes", json={"title": "acme secret"}, headers=acme_admin)
        assert (await client.get("/notes/mine", headers=acme_admin)).json()["titles"] == ["acme secret"]
        other = await client.get("/notes/mine", headers=globex_admin)
        assert (other.json()["tenant"], other.json()["titles"]) == ("globex", []), other.headers.get("x-cache")


# -- an integer tenant column -----------------------------------------------------------------------

INT_HANDLERS = [int_notes, int_notes_plain, add_int_note]
INT_SERVICES = {"int_notes": ServiceDependency(R20IntNoteService, scope="tenant")}


@pytest.mark.parametrize("make_store", STORES)
async def test_integer_tenant_column_sqlite(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store(), handlers=INT_HANDLERS, services=INT_SERVICES, auth=INT_AUTH)
    async with AsyncTestClient(app=app) as client:
        alice, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "bob", "globex")
        assert (await client.get("/int-notes/plain", headers=alice)).json() == []
        assert (await client.get("/int-notes", headers=alice)).json() == []
        assert (await client.post("/int-notes", json={"title": "one"}, headers=alice)).status_code == 201
        assert (await client.get("/int-notes/plain", headers=alice)).json() == ["one"]
        assert (await client.get("/int-notes", headers=alice)).json() == ["one"]
        assert (await client.get("/int-notes/plain", headers=bob)).json() == []
        # a worker writing the integer tenant (the column's own type)
        async with AsyncServiceContext.from_app(app, scope=TenantScope(1)) as context:  # type: ignore[arg-type]
            await context.service(R20IntNoteService).create({"title": "w"})
        assert (await client.get("/int-notes/plain", headers=alice)).json() == ["one", "w"]
        assert (await client.get("/int-notes", headers=alice)).json() == ["one", "w"]


async def test_integer_tenant_column_postgres(tmp_path: Path) -> None:
    alchemy = SQLAlchemyAsyncConfig(
        connection_string=PG_URL,
        metadata=R20Base.metadata,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    app, jwt = make_app(
        tmp_path, store=MemoryStore(), handlers=INT_HANDLERS, services=INT_SERVICES, auth=INT_AUTH, alchemy=alchemy
    )
    try:
        async with AsyncTestClient(app=app) as client:
            alice = bearer(jwt, "alice", "acme")
            listed = await client.get("/int-notes/plain", headers=alice)
            assert listed.status_code == 200, listed.text
            created = await client.post("/int-notes", json={"title": "one"}, headers=alice)
            assert created.status_code == 201, created.text
            assert (await client.get("/int-notes/plain", headers=alice)).json() == ["one"]
    finally:
        async with alchemy.get_engine().begin() as conn:
            await conn.run_sync(R20Base.metadata.drop_all)
        await alchemy.get_engine().dispose()


# -- guards on a cached route under router-level authentication ------------------------------------

from litestar_alchemy_kit.auth import requires_authentication  # noqa: E402


@get("/guarded", opt={"response_cache": ResponseCacheRule(scope="tenant")}, guards=[requires_authentication])
async def guarded_notes(notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await notes.get_many())


@get("/guarded/plain", guards=[requires_authentication])
async def guarded_plain(notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await notes.get_many())


async def test_router_level_authentication_guarded_cached_route(tmp_path: Path) -> None:
    app, jwt = make_app(tmp_path, handlers=[guarded_notes, guarded_plain], route_auth=True)
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        # control: the same guard on an uncached route lets the authenticated caller in
        assert (await client.get("/api/guarded/plain", headers=alice)).status_code == 200
        answer = await client.get("/api/guarded", headers=alice)
        assert answer.status_code == 200, answer.text


# -- PostgreSQL controls ----------------------------------------------------------------------------


def pg_alchemy() -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        connection_string=PG_URL,
        metadata=R20Base.metadata,
        create_all=True,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )


@pytest.mark.parametrize("make_store", STORES)
async def test_control_postgres_tenant_isolation_and_freshness(tmp_path: Path, make_store: Any) -> None:
    alchemy = pg_alchemy()
    app, jwt = make_app(tmp_path, store=make_store(), alchemy=alchemy)
    try:
        async with AsyncTestClient(app=app) as client:
            alice, carol, bob = (
                bearer(jwt, "alice", "acme"),
                bearer(jwt, "carol", "acme"),
                bearer(jwt, "bob", "globex"),
            )
            await client.post("/notes", json={"title": "a1"}, headers=alice)
            assert (await client.get("/notes", headers=alice)).json() == ["a1"]
            assert (await client.get("/notes", headers=carol)).headers["x-cache"] == "hit"
            assert (await client.get("/notes", headers=bob)).json() == []
            assert (await client.get("/notes/plain", headers=bob)).json() == []
            assert (await client.get("/notes/plain", headers=alice)).json() == ["a1"]
            await client.post("/notes", json={"title": "a2", "tenant_id": "globex"}, headers=carol)
            assert (await client.get("/notes", headers=alice)).json() == ["a1", "a2"]
            assert (await client.get("/notes/plain", headers=alice)).json() == ["a1", "a2"]
            assert (await client.get("/notes", headers=bob)).json() == []
            failed = await client.post("/notes/fail", json={"title": "ghost"}, headers=bob)
            assert failed.status_code == 409
            assert (await client.get("/notes/plain", headers=bob)).json() == []
            assert (await client.get("/notes", headers=bob)).json() == []
            assert (await client.post("/worker/globex", json={"title": "b-w"})).status_code == 201
            assert (await client.get("/notes", headers=bob)).json() == ["b-w"]
            assert (await client.get("/notes/plain", headers=bob)).json() == ["b-w"]
    finally:
        async with alchemy.get_engine().begin() as conn:
            await conn.run_sync(R20Base.metadata.drop_all)
        await alchemy.get_engine().dispose()


# -- sync services (SyncCache on the app's Redis store) under the response cache --------------------

from advanced_alchemy.extensions.litestar import SQLAlchemySyncConfig, SyncSessionConfig  # noqa: E402

from litestar_alchemy_kit.repository import CachedSyncRepository  # noqa: E402
from litestar_alchemy_kit.service import CachedSyncRepositoryService  # noqa: E402


class R20SyncNoteRepository(CachedSyncRepository[R20Note]):
    model_type = R20Note


class R20SyncNoteService(CachedSyncRepositoryService[R20Note, R20SyncNoteRepository]):
    repository_type = R20SyncNoteRepository


@get("/sync-notes", opt={"response_cache": ResponseCacheRule(scope="tenant")}, sync_to_thread=True)
def sync_notes(notes: NamedDependency[R20SyncNoteService]) -> list[str]:
    return sorted(note.title for note in notes.get_many())


@get("/sync-notes/plain", sync_to_thread=True)
def sync_notes_plain(notes: NamedDependency[R20SyncNoteService]) -> list[str]:
    return sorted(note.title for note in notes.get_many())


@post("/sync-notes", sync_to_thread=True)
def sync_add(notes: NamedDependency[R20SyncNoteService], data: JSONBody[dict[str, str]]) -> str:
    return str(notes.create(data).id)


async def test_sync_services_on_redis_fresh_after_write(tmp_path: Path) -> None:
    alchemy = SQLAlchemySyncConfig(
        connection_string=f"sqlite:///{tmp_path / 'r20sync.db'}",
        metadata=R20Base.metadata,
        create_all=True,
        session_config=SyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    app, jwt = make_app(
        tmp_path,
        store=redis_store(),
        alchemy=alchemy,  # type: ignore[arg-type]
        handlers=[sync_notes, sync_notes_plain, sync_add],
        services={"notes": ServiceDependency(R20SyncNoteService, scope="tenant")},
    )
    async with AsyncTestClient(app=app) as client:
        alice, carol, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "carol", "acme"), bearer(jwt, "bob", "globex")
        seen = []
        for _ in range(3):
            answer = await client.get("/sync-notes", headers=alice)
            assert answer.json() == []
            seen.append(answer.headers["x-cache"])
            assert (await client.get("/sync-notes/plain", headers=alice)).json() == []
        assert "hit" in seen, seen
        assert (await client.post("/sync-notes", json={"title": "s1"}, headers=carol)).status_code == 201
        assert (await client.get("/sync-notes/plain", headers=alice)).json() == ["s1"]
        assert (await client.get("/sync-notes", headers=alice)).json() == ["s1"]
        assert (await client.get("/sync-notes", headers=bob)).json() == []
        assert (await client.get("/sync-notes/plain", headers=bob)).json() == []


# -- a store that accepts connections and never answers (a partition, not a refusal) -----------------

import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from sqlalchemy import select  # noqa: E402


def black_hole() -> tuple[int, socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1], server


async def test_hanging_store_fails_open_within_bounded_time(tmp_path: Path) -> None:
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    port, server = black_hole()
    try:
        store = RedisStore(Redis(host="127.0.0.1", port=port, socket_timeout=1.0), namespace="r20hole")
        app, jwt = make_app(tmp_path, store=store)
        async with AsyncTestClient(app=app, timeout=60) as client:
            alice = bearer(jwt, "alice", "acme")
            started = time.monotonic()
            assert (await client.get("/notes", headers=alice)).json() == []
            assert (await client.get("/notes/plain", headers=alice)).json() == []
            created = await client.post("/notes", json={"title": "hole"}, headers=alice)
            assert created.status_code == 201, created.text
            assert (await client.get("/notes", headers=alice)).json() == ["hole"]
            assert (await client.get("/notes/plain", headers=alice)).json() == ["hole"]
            assert time.monotonic() - started < 20
    finally:
        server.close()


# -- per-call statements and ETags across tenants -----------------------------------------------------


@get("/notes/stmt", opt={"response_cache": ResponseCacheRule(scope="tenant")})
async def notes_own_statement(notes: NamedDependency[R20NoteService]) -> list[str]:
    """The handler passes its own statement (every tenant's rows): the binding must still filter it."""
    return sorted(note.title for note in await notes.get_many(statement=select(R20Note)))


@get("/notes/stmt/plain")
async def notes_own_statement_plain(notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await notes.get_many(statement=select(R20Note).order_by(R20Note.title)))


@pytest.mark.parametrize("make_store", STORES)
async def test_control_handler_statement_and_etag_across_tenants(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(
        tmp_path, store=make_store(), handlers=[*HANDLERS, notes_own_statement, notes_own_statement_plain]
    )
    async with AsyncTestClient(app=app) as client:
        alice, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "bob", "globex")
        await client.post("/notes", json={"title": "a"}, headers=alice)
        await client.post("/notes", json={"title": "b"}, headers=bob)
        for _ in range(2):
            assert (await client.get("/notes/stmt", headers=alice)).json() == ["a"]
            assert (await client.get("/notes/stmt", headers=bob)).json() == ["b"]
            assert (await client.get("/notes/stmt/plain", headers=alice)).json() == ["a"]
            assert (await client.get("/notes/stmt/plain", headers=bob)).json() == ["b"]
        tag = (await client.get("/notes", headers=alice)).headers["etag"]
        assert (await client.get("/notes", headers=alice | {"If-None-Match": tag})).status_code == 304
        other = await client.get("/notes", headers=bob | {"If-None-Match": tag})
        assert (other.status_code, other.json()) == (200, ["b"])


# -- the composed plugin without auth=: scoped providers on an auth dependency of the app's own ----------

from litestar.di import Provide  # noqa: E402

from litestar_alchemy_kit.response_cache import ResponseCachePluginConfig  # noqa: E402


def header_auth(request: Request[Any, Any, Any]) -> AuthContext[Any, Any]:
    """The app's own ``auth``: a user who belongs to several tenants picks one with ``X-Tenant``."""
    user = request.scope.get("user")
    if user is None:
        return AuthContext.anonymous()
    return AuthContext(
        user=user, token=request.scope.get("auth"), tenant_id=request.headers.get("x-tenant"), subject=user.id
    )


@pytest.mark.parametrize("make_store", STORES)
async def test_own_auth_dependency_tenant_from_header(tmp_path: Path, make_store: Any) -> None:
    jwt = backend()
    kit = AlchemyKitConfig(
        alchemy=sqlite_alchemy(tmp_path),
        errors=ErrorsConfig(),
        cache=CachePluginConfig(namespace=f"r20{uuid.uuid4().hex[:8]}"),
        services={"notes": ServiceDependency(R20NoteService, scope="tenant")},
    )
    app = Litestar(
        HANDLERS,
        on_app_init=[jwt.on_app_init],
        plugins=[AlchemyKitPlugin(kit)],
        stores={"cache": make_store()},
        dependencies={"auth": Provide(header_auth, sync_to_thread=False)},
    )
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        await client.post("/notes", json={"title": "acme secret"}, headers=alice | {"x-tenant": "acme"})
        mine = await client.get("/notes/mine", headers=alice | {"x-tenant": "acme"})
        assert (mine.json()["tenant"], mine.json()["titles"]) == ("acme", ["acme secret"])
        other = await client.get("/notes/mine", headers=alice | {"x-tenant": "globex"})
        assert (other.json()["tenant"], other.json()["titles"]) == ("globex", []), other.headers.get("x-cache")


# -- a response cache on a cache of its own (cache_state_key set by the user) -----------------------------


@pytest.mark.parametrize("make_store", STORES)
async def test_own_response_cache_state_key_is_invalidated_by_commits(tmp_path: Path, make_store: Any) -> None:
    jwt = backend()
    kit = AlchemyKitConfig(
        alchemy=sqlite_alchemy(tmp_path),
        auth=AUTH,
        errors=ErrorsConfig(),
        cache=CachePluginConfig(namespace=f"r20{uuid.uuid4().hex[:8]}"),
        services={"notes": ServiceDependency(R20NoteService, scope="tenant")},
        response_cache=ResponseCachePluginConfig(cache_state_key="responses"),
    )
    app = Litestar(
        HANDLERS, on_app_init=[jwt.on_app_init], plugins=[AlchemyKitPlugin(kit)], stores={"cache": make_store()}
    )
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        for _ in range(2):
            assert (await client.get("/notes", headers=alice)).json() == []
        assert (await client.post("/notes", json={"title": "new"}, headers=alice)).status_code == 201
        fresh = await client.get("/notes", headers=alice)
        assert fresh.json() == ["new"], fresh.headers.get("x-cache")


# -- a UUID tenant column ----------------------------------------------------------------------------

from sqlalchemy import Uuid  # noqa: E402

ACME_ID = uuid.UUID("6f1c1d2e-0000-4000-8000-00000000acme".replace("acme", "ac1e"))


class R20UuidNote(UUIDPrimaryKey, R20Base):
    __tablename__ = "r20_uuid_note"

    tenant_id: Mapped[uuid.UUID] = tenant_column(Uuid())
    title: Mapped[str] = mapped_column(String(100))


class R20UuidNoteRepository(CachedAsyncRepository[R20UuidNote]):
    model_type = R20UuidNote


class R20UuidNoteService(CachedAsyncRepositoryService[R20UuidNote, R20UuidNoteRepository]):
    repository_type = R20UuidNoteRepository


UUID_AUTH = AuthConfig[User, Token](tenant_of=lambda user, _: ACME_ID if user.tenant == "acme" else None)


@get("/uuid-notes/plain")
async def uuid_notes_plain(uuid_notes: NamedDependency[R20UuidNoteService]) -> list[str]:
    return sorted(note.title for note in await uuid_notes.get_many())


@post("/uuid-notes")
async def add_uuid_note(uuid_notes: NamedDependency[R20UuidNoteService], data: JSONBody[dict[str, str]]) -> str:
    return str((await uuid_notes.create(data)).id)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_uuid_tenant_column(tmp_path: Path, database: str) -> None:
    alchemy = sqlite_alchemy(tmp_path) if database == "sqlite" else pg_alchemy()
    app, jwt = make_app(
        tmp_path,
        alchemy=alchemy,
        handlers=[uuid_notes_plain, add_uuid_note],
        services={"uuid_notes": ServiceDependency(R20UuidNoteService, scope="tenant")},
        auth=UUID_AUTH,
    )
    try:
        async with AsyncTestClient(app=app) as client:
            alice = bearer(jwt, "alice", "acme")
            listed = await client.get("/uuid-notes/plain", headers=alice)
            assert (listed.status_code, listed.json()) == (200, []), listed.text
            created = await client.post("/uuid-notes", json={"title": "u"}, headers=alice)
            assert created.status_code == 201, created.text
            assert (await client.get("/uuid-notes/plain", headers=alice)).json() == ["u"]
    finally:
        if database == "postgres":
            async with alchemy.get_engine().begin() as conn:
                await conn.run_sync(R20Base.metadata.drop_all)
            await alchemy.get_engine().dispose()


# -- per-call statements on every read, through HTTP, twice (the second from the cache) ----------------

from advanced_alchemy.exceptions import NotFoundError  # noqa: E402


@get("/notes/probe/{note_id:uuid}")
async def probe(notes: NamedDependency[R20NoteService], note_id: FromPath[uuid.UUID]) -> dict[str, Any]:
    everyone = select(R20Note)
    out: dict[str, Any] = {}
    try:
        out["get"] = (await notes.get(note_id, statement=everyone)).title
    except NotFoundError:
        out["get"] = None
    one = await notes.get_one_or_none(R20Note.id == note_id, statement=everyone)
    out["one"] = None if one is None else one.title
    out["count"] = await notes.count(statement=everyone)
    out["exists"] = await notes.exists(R20Note.id == note_id, statement=everyone)
    listed, total = await notes.get_many_and_count(statement=everyone)
    out["list"] = (sorted(n.title for n in listed), total)
    return out


@pytest.mark.parametrize("make_store", STORES)
async def test_control_per_call_statement_every_read(tmp_path: Path, make_store: Any) -> None:
    app, jwt = make_app(tmp_path, store=make_store(), handlers=[*HANDLERS, probe])
    async with AsyncTestClient(app=app) as client:
        alice, bob = bearer(jwt, "alice", "acme"), bearer(jwt, "bob", "globex")
        await client.post("/notes", json={"title": "a"}, headers=alice)
        theirs = (await client.post("/notes", json={"title": "b"}, headers=bob)).text
        for _ in range(2):
            answer = await client.get(f"/notes/probe/{theirs}", headers=alice)
            assert answer.json() == {"get": None, "one": None, "count": 1, "exists": False, "list": [["a"], 1]}
            answer = await client.get(f"/notes/probe/{theirs}", headers=bob)
            assert answer.json() == {"get": "b", "one": "b", "count": 1, "exists": True, "list": [["b"], 1]}


# -- a write through one scope, reads through others ------------------------------------------------


@get("/notes/user", opt={"response_cache": True})
async def user_scoped(user_notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await user_notes.get_many())


@get("/notes/user/plain")
async def user_scoped_plain(user_notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await user_notes.get_many())


@get("/notes/custom")
async def custom_scoped(custom_notes: NamedDependency[R20NoteService]) -> list[str]:
    return sorted(note.title for note in await custom_notes.get_many())


@pytest.mark.parametrize("make_store", STORES)
async def test_control_write_in_one_scope_read_in_others(tmp_path: Path, make_store: Any) -> None:
    services = {
        "notes": ServiceDependency(R20NoteService, scope="tenant"),
        "user_notes": ServiceDependency(R20NoteService, scope="user"),
        "custom_notes": ServiceDependency(R20NoteService, scope=lambda auth: TenantScope(auth.tenant_id, "x")),
    }
    app, jwt = make_app(
        tmp_path,
        store=make_store(),
        services=services,
        handlers=[*HANDLERS, user_scoped, user_scoped_plain, custom_scoped],
    )
    async with AsyncTestClient(app=app) as client:
        alice, carol = bearer(jwt, "alice", "acme"), bearer(jwt, "carol", "acme")
        for _ in range(2):
            for path in ("/notes/user", "/notes/user/plain", "/notes/custom", "/notes"):
                assert (await client.get(path, headers=alice)).json() == []
        await client.post("/notes", json={"title": "c"}, headers=carol)
        for path in ("/notes/user", "/notes/user/plain", "/notes/custom", "/notes"):
            assert (await client.get(path, headers=alice)).json() == ["c"], path


# -- a savepoint released inside a request that then rolls back --------------------------------------


@post("/notes/savepoint")
async def savepoint_then_fail(
    notes: NamedDependency[R20NoteService], db_session: NamedDependency[Any], data: JSONBody[dict[str, str]]
) -> Response[Any]:
    async with db_session.begin_nested():
        await notes.create(data)
    # the savepoint is released, the transaction is not committed: this read must not populate the cache
    seen = sorted(note.title for note in await notes.get_many())
    count = await notes.count()
    return Response(content={"seen": seen, "count": count}, status_code=409)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
@pytest.mark.parametrize("make_store", STORES)
async def test_released_savepoint_then_rollback_leaves_no_entry(tmp_path: Path, make_store: Any, database: str) -> None:
    alchemy = sqlite_alchemy(tmp_path) if database == "sqlite" else pg_alchemy()
    app, jwt = make_app(tmp_path, store=make_store(), alchemy=alchemy, handlers=[*HANDLERS, savepoint_then_fail])
    try:
        async with AsyncTestClient(app=app) as client:
            alice = bearer(jwt, "alice", "acme")
            failed = await client.post("/notes/savepoint", json={"title": "ghost"}, headers=alice)
            assert (failed.status_code, failed.json()) == (409, {"seen": ["ghost"], "count": 1})
            if database == "sqlite":
                import sqlite3

                with sqlite3.connect(tmp_path / "r20.db") as raw:
                    rows = raw.execute("SELECT title FROM r20_note").fetchall()
                # pysqlite/aiosqlite quirk: a SAVEPOINT opened with no BEGIN is the transaction, its RELEASE commits
                assert rows == [("ghost",)]
                return
            for _ in range(2):
                assert (await client.get("/notes/plain", headers=alice)).json() == []
                assert (await client.get("/notes", headers=alice)).json() == []
    finally:
        if database == "postgres":
            async with alchemy.get_engine().begin() as conn:
                await conn.run_sync(R20Base.metadata.drop_all)
            await alchemy.get_engine().dispose()


@pytest.mark.parametrize("make_store", STORES)
async def test_sqlite_released_savepoint_commits_without_invalidating(tmp_path: Path, make_store: Any) -> None:
    """On SQLite (aiosqlite's default transaction control) the savepoint's RELEASE is the database's COMMIT."""
    app, jwt = make_app(tmp_path, store=make_store(), handlers=[*HANDLERS, savepoint_then_fail])
    async with AsyncTestClient(app=app) as client:
        alice = bearer(jwt, "alice", "acme")
        for _ in range(2):
            assert (await client.get("/notes/plain", headers=alice)).json() == []
            assert (await client.get("/notes", headers=alice)).json() == []
        failed = await client.post("/notes/savepoint", json={"title": "ghost"}, headers=alice)
        assert failed.status_code == 409
        import sqlite3

        with sqlite3.connect(tmp_path / "r20.db") as raw:
            stored = [title for (title,) in raw.execute("SELECT title FROM r20_note")]
        # whatever the database holds now, the next reads must return it
        assert (await client.get("/notes/plain", headers=alice)).json() == stored
        assert (await client.get("/notes", headers=alice)).json() == stored
