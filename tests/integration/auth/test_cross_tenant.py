"""Two tenants' users on the same routes, over a real database and the cached repository.

Neither tenant ever sees the other's rows, from the database or from the cache (the cached
repository is scoped by ``auth.scope``), and the tenant guard refuses a mismatch with 403.
"""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import Token
from litestar.stores.memory import MemoryStore
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from litestar_alchemy_kit.auth import AuthContext, TenantScope, same_tenant
from litestar_alchemy_kit.cache import AsyncCache
from tests.integration.auth._models import AuthTestBase, Note, NoteRepository
from tests.unit.auth._app import AUTH_CONFIG, User, issue, make_backend

pytestmark = pytest.mark.integration


def scoped_repository(session: AsyncSession, cache: AsyncCache, scope: TenantScope) -> NoteRepository:
    """The documented way to pass the scope down: the SQL filter and the cache scope, both from ``auth.scope``."""
    return NoteRepository(
        session=session,
        cache=cache,
        scope=scope,
        statement=select(Note).where(scope.tenant_filter(Note.tenant_id)),
    )


def build_app(engine: AsyncEngine, cache: AsyncCache) -> Litestar:
    from litestar_alchemy_kit.auth import AuthPlugin

    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def provide_db_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    async def provide_notes(
        db_session: NamedDependency[AsyncSession], tenant_scope: NamedDependency[TenantScope]
    ) -> NoteRepository:
        return scoped_repository(db_session, cache, tenant_scope)

    @get("/notes")
    async def list_notes(notes: NamedDependency[NoteRepository]) -> list[str]:
        return sorted(note.title for note in await notes.get_many())

    @get("/notes/{note_id:uuid}")
    async def get_note(notes: NamedDependency[NoteRepository], note_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        note = await notes.get_one_or_none(Note.id == note_id)
        return {"title": None if note is None else note.title}

    @post("/notes")
    async def add_note(
        notes: NamedDependency[NoteRepository],
        auth: NamedDependency[AuthContext[User, Token]],
        data: JSONBody[dict[str, str]],
    ) -> str:
        note = await notes.add(Note(tenant_id=auth.require_tenant(), title=data["title"]), auto_commit=True)
        return str(note.id)

    @get("/tenants/{tenant_id:str}/notes", guards=[same_tenant()])
    async def tenant_notes(notes: NamedDependency[NoteRepository], tenant_id: FromPath[str]) -> dict[str, Any]:
        return {"tenant": tenant_id, "count": await notes.count()}

    backend = make_backend("jwt")
    return Litestar(
        [list_notes, get_note, add_note, tenant_notes],
        on_app_init=[backend.on_app_init],
        plugins=[AuthPlugin(AUTH_CONFIG)],
        dependencies={
            "db_session": Provide(provide_db_session),
            "notes": Provide(provide_notes),
        },
    )


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(make_backend('jwt'), user)}"}


@pytest.fixture
async def engine(async_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with async_engine.begin() as conn:
        await conn.run_sync(AuthTestBase.metadata.drop_all)
        await conn.run_sync(AuthTestBase.metadata.create_all)
    async with async_sessionmaker(async_engine)() as session:
        session.add_all(
            [
                Note(tenant_id="acme", title="acme-plan"),
                Note(tenant_id="acme", title="acme-budget"),
                Note(tenant_id="globex", title="globex-secret"),
            ]
        )
        await session.commit()
    yield async_engine
    async with async_engine.begin() as conn:
        await conn.run_sync(AuthTestBase.metadata.drop_all)


def count_note_selects(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "lak_auth_note" in statement:
            statements.append(statement)

    return statements


async def test_tenants_never_see_each_others_data(engine: AsyncEngine) -> None:
    selects = count_note_selects(engine)
    app = build_app(engine, AsyncCache(MemoryStore(), namespace="lakauth"))
    alice, bob, carol = bearer("alice"), bearer("bob"), bearer("carol")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local") as client:
        assert (await client.get("/notes", headers=alice)).json() == ["acme-budget", "acme-plan"]
        before = len(selects)
        # Served from the cache: no query ran, and still only acme's rows.
        assert (await client.get("/notes", headers=carol)).json() == ["acme-budget", "acme-plan"]
        assert len(selects) == before
        # Same route, same statement shape, other tenant: its own rows, never acme's cached entry.
        assert (await client.get("/notes", headers=bob)).json() == ["globex-secret"]
        assert len(selects) == before + 1

        # A write by one tenant: visible to that tenant at once, invisible to the other.
        created = await client.post("/notes", headers=bob, json={"title": "globex-new"})
        assert created.status_code == 201, created.text
        new_id = created.text
        assert (await client.get("/notes", headers=bob)).json() == ["globex-new", "globex-secret"]
        assert (await client.get("/notes", headers=alice)).json() == ["acme-budget", "acme-plan"]

        # Fetching the other tenant's row by id finds nothing, from the database or the cache.
        assert (await client.get(f"/notes/{new_id}", headers=bob)).json() == {"title": "globex-new"}
        assert (await client.get(f"/notes/{new_id}", headers=alice)).json() == {"title": None}
        assert (await client.get(f"/notes/{new_id}", headers=bob)).json() == {"title": "globex-new"}


async def test_tenant_guard_refuses_mismatch(engine: AsyncEngine) -> None:
    app = build_app(engine, AsyncCache(MemoryStore(), namespace="lakauth"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local") as client:
        assert (await client.get("/tenants/acme/notes", headers=bearer("alice"))).json() == {
            "tenant": "acme",
            "count": 2,
        }
        assert (await client.get("/tenants/globex/notes", headers=bearer("bob"))).json() == {
            "tenant": "globex",
            "count": 1,
        }
        assert (await client.get("/tenants/globex/notes", headers=bearer("alice"))).status_code == 403
        assert (await client.get("/tenants/acme/notes", headers=bearer("bob"))).status_code == 403
        assert (await client.get("/tenants/acme/notes")).status_code == 401
        # Anonymous callers never reach a tenant's rows through the scoped repository either.
        assert (await client.get("/notes")).status_code == 401
