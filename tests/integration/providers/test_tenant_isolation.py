"""A tenant-scoped provider never returns or changes another tenant's row, on every async engine x store.

The tenant is declared once (``tenant_column`` on ``Note``); the provider derives the SQL filter,
the create stamp and the cache scope from it. Reads run twice so the second comes from the cache.
"""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from advanced_alchemy.exceptions import NotFoundError, RepositoryError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from litestar_alchemy_kit.auth import AuthContext
from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.providers import create_service_provider
from tests.conftest import PATIENT, StoreBackend
from tests.integration.providers.models import Note, NoteService, ProvidersBase

pytestmark = pytest.mark.integration


@pytest.fixture
async def tables(async_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with async_engine.begin() as conn:
        await conn.run_sync(ProvidersBase.metadata.create_all)
    yield async_engine
    async with async_engine.begin() as conn:
        await conn.run_sync(ProvidersBase.metadata.drop_all)


def caller(tenant: str | None, *, user: object = "user") -> AuthContext[Any, Any]:
    return AuthContext(user=user, tenant_id=tenant, subject=f"{tenant}-user")


PROVIDE_NOTES = create_service_provider(NoteService, scope="tenant")


async def notes_for(session: AsyncSession, cache: AsyncCache, tenant: str) -> NoteService:
    return await anext(PROVIDE_NOTES(db_session=session, cache=cache, auth=caller(tenant)))


@pytest.mark.parametrize(
    "store_backend",
    [pytest.param(name, marks=getattr(pytest.mark, name)) for name in ("memory_store", "redis_store", "valkey_store")],
    indirect=True,
)
async def test_tenant_provider_never_crosses_tenants(tables: AsyncEngine, store_backend: StoreBackend) -> None:
    cache = AsyncCache(store_backend.make(), namespace=f"iso{uuid.uuid4().hex[:8]}", options=PATIENT)
    sessions = async_sessionmaker(tables, expire_on_commit=False)

    async with sessions() as session:
        acme = await notes_for(session, cache, "acme")
        globex = await notes_for(session, cache, "globex")
        mine = await acme.create({"title": "a1"}, auto_commit=True)
        # A client naming another tenant in the payload still writes into its own.
        theirs = await globex.create({"title": "b1", "tenant_id": "acme"}, auto_commit=True)
        # the first repository of its kind is built, not restored from a template: it reads only its tenant's rows too
        assert [note.title for note in await acme.get_many(use_cache=False)] == ["a1"]
    assert (mine.tenant_id, theirs.tenant_id) == ("acme", "globex")
    # The cache scope comes from the same tenant value as the filter (keys of two tenants never meet).
    assert acme.repository.cache_scope == (("tenant", "acme"),)
    assert globex.repository.cache_scope == (("tenant", "globex"),)

    for _ in range(2):  # the second round is served from the cache
        async with sessions() as session:
            acme = await notes_for(session, cache, "acme")
            globex = await notes_for(session, cache, "globex")
            assert [note.title for note in await acme.get_many()] == ["a1"]
            assert [note.title for note in await globex.get_many()] == ["b1"]
            listed, total = await acme.get_many_and_count()
            assert ([note.title for note in listed], total) == (["a1"], 1)
            assert await acme.count() == 1
            assert await globex.count() == 1
            assert await acme.exists(Note.id == mine.id)
            assert not await acme.exists(Note.id == theirs.id)
            assert not await globex.exists(title="a1")
            assert (await acme.get(mine.id)).title == "a1"
            with pytest.raises(NotFoundError):
                await acme.get(theirs.id)
            with pytest.raises(NotFoundError):
                await globex.get(mine.id)
            assert await acme.get_one_or_none(Note.id == theirs.id) is None
    assert cache.stats["hit"] > 0

    async with sessions() as session:
        acme = await notes_for(session, cache, "acme")
        with pytest.raises(NotFoundError):
            await acme.update({"title": "hijacked"}, item_id=theirs.id, auto_commit=True)
        with pytest.raises(NotFoundError):
            await acme.update(Note(id=theirs.id, title="hijacked", tenant_id="globex"), auto_commit=True)
        with pytest.raises(NotFoundError):
            await acme.delete(theirs.id, auto_commit=True)
        with pytest.raises(NotFoundError):
            await acme.delete_many([theirs.id], auto_commit=True)
        with pytest.raises(NotFoundError):
            await acme.update_many([{"id": theirs.id, "title": "hijacked"}], auto_commit=True)
        assert await acme.delete_where(Note.title == "b1", auto_commit=True) == []
        # An upsert matching another tenant's key inserts (a duplicate key), never overwrites.
        with pytest.raises(RepositoryError):
            await acme.upsert({"id": theirs.id, "title": "hijacked"}, auto_commit=True)
        await session.rollback()

    async with sessions() as session:
        stored = await session.get(Note, theirs.id)  # straight from the database
        assert stored is not None
        assert (stored.title, stored.tenant_id) == ("b1", "globex")

    async with sessions() as session:
        acme = await notes_for(session, cache, "acme")
        globex = await notes_for(session, cache, "globex")
        # Keyword arguments naming another tenant are the payload's too: the row they change stays the caller's.
        found, _ = await acme.get_and_update(match_fields=["title"], title="a1", tenant_id="globex", auto_commit=True)
        assert found.tenant_id == "acme"
        found, _ = await acme.get_or_upsert(match_fields=["title"], title="a1", tenant_id="globex", auto_commit=True)
        assert found.tenant_id == "acme"
        await acme.update({"title": "a2"}, item_id=mine.id, auto_commit=True)
        created = await acme.create_many([{"title": "m1"}, {"title": "m2", "tenant_id": "globex"}], auto_commit=True)
        upserted = await acme.upsert_many([{"title": "u1", "tenant_id": "globex"}], auto_commit=True)
        assert {note.tenant_id for note in [*created, *upserted]} == {"acme"}
        assert (await acme.get(mine.id)).title == "a2"
        assert sorted(note.title for note in await acme.get_many()) == ["a2", "m1", "m2", "u1"]
        assert [note.title for note in await globex.get_many()] == ["b1"]
        assert await globex.count() == 1
        await globex.delete(theirs.id, auto_commit=True)
        assert await globex.count() == 0
        assert await acme.count() == 4
