"""A database per tenant, one shared cache on every store: the tenant scope alone keeps them apart.

Both tenants run the very same statement (no tenant filter in SQL: each tenant's database holds
only its own rows), so the statement fingerprint is identical; only the ``tenant_scope`` the auth
plugin provides, passed as the repository's ``scope=``, separates their cache entries.
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.stores.base import Store
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from litestar_alchemy_kit.auth import AuthPlugin, TenantScope
from litestar_alchemy_kit.cache import AsyncCache, CacheOptions
from tests.integration.auth._models import AuthTestBase, Note, NoteRepository
from tests.unit.auth._app import AUTH_CONFIG, issue, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.aiosqlite]

ROWS = {"acme": ["acme-budget", "acme-plan"], "globex": ["globex-roadmap", "globex-secret"]}


@pytest.fixture
async def tenant_engines(tmp_path: Path) -> AsyncIterator[dict[str, AsyncEngine]]:
    engines = {tenant: create_async_engine(f"sqlite+aiosqlite:///{tmp_path / tenant}.db") for tenant in ROWS}
    for tenant, engine in engines.items():
        async with engine.begin() as conn:
            await conn.run_sync(AuthTestBase.metadata.create_all)
        async with async_sessionmaker(engine)() as session:
            session.add_all([Note(tenant_id=tenant, title=title) for title in ROWS[tenant]])
            await session.commit()
    yield engines
    for engine in engines.values():
        await engine.dispose()


def build_app(engines: dict[str, AsyncEngine], cache: AsyncCache) -> Litestar:
    async def provide_db_session(tenant_scope: NamedDependency[TenantScope]) -> AsyncIterator[AsyncSession]:
        async with async_sessionmaker(engines[tenant_scope.require_tenant()])() as session:
            yield session

    async def provide_notes(
        db_session: NamedDependency[AsyncSession], tenant_scope: NamedDependency[TenantScope]
    ) -> NoteRepository:
        return NoteRepository(session=db_session, cache=cache, scope=tenant_scope)

    @get("/notes")
    async def list_notes(notes: NamedDependency[NoteRepository]) -> list[str]:
        return sorted(note.title for note in await notes.get_many())

    backend = make_backend("jwt")
    return Litestar(
        [list_notes],
        on_app_init=[backend.on_app_init],
        plugins=[AuthPlugin(AUTH_CONFIG)],
        dependencies={"db_session": Provide(provide_db_session), "notes": Provide(provide_notes)},
    )


def record_selects(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    return statements


async def test_scope_alone_separates_tenants_cached_entries(
    tenant_engines: dict[str, AsyncEngine], store: Store
) -> None:
    selects = {tenant: record_selects(engine) for tenant, engine in tenant_engines.items()}
    # A store call slower than the cache's fail-open budget is a miss by design (invariant 7), and a
    # miss here is an extra SELECT: with the default 0.5 s budget, AA's database store (a SQLite
    # write per call through aiosqlite's thread) missed it under a loaded CI run (`assert 2 == 1`).
    # This test is about scopes, not latency (the fail-open path has its own tests): a generous
    # budget, and the error count asserted, so a store failure can never pass for a scope bug.
    cache = AsyncCache(store, namespace="lakauthdb", options=CacheOptions(timeout=30.0))
    app = build_app(tenant_engines, cache)
    backend = make_backend("jwt")
    alice, bob, carol = ({"Authorization": f"Bearer {issue(backend, who)}"} for who in ("alice", "bob", "carol"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver.local") as client:
        assert (await client.get("/notes", headers=alice)).json() == ROWS["acme"]
        assert len(selects["acme"]) == 1
        # Another acme user: acme's entry, from the cache.
        assert (await client.get("/notes", headers=carol)).json() == ROWS["acme"]
        assert len(selects["acme"]) == 1
        # Same statement, other tenant: its own database, never acme's cached entry.
        assert (await client.get("/notes", headers=bob)).json() == ROWS["globex"]
        assert len(selects["globex"]) == 1
        assert (await client.get("/notes", headers=bob)).json() == ROWS["globex"]
        assert (await client.get("/notes", headers=alice)).json() == ROWS["acme"]
        assert (len(selects["acme"]), len(selects["globex"])) == (1, 1)
    assert cache.stats["error"] == 0
