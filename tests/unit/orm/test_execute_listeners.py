"""An application's ``do_orm_execute`` listener may change a statement after the cache keyed it.

SQLAlchemy's global-filter recipe adds ``with_loader_criteria`` for the tenant in a context variable: a
cached read keyed without that filter served one tenant's rows to another. Reads through a session with
such a listener now bypass the cache, unless the listener is declared trusted (one that only observes).
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import pytest
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import create_engine, event, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, ORMExecuteState, Session, mapped_column, with_loader_criteria

from litestar_alchemy_kit.cache import AsyncCache, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import record_queries, trust_execute_listener
from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository, bind_cache

current_tenant: contextvars.ContextVar[int] = contextvars.ContextVar("current_tenant")


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "xl_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int]


class NoteRepo(CachedSyncRepository[Note]):
    model_type = Note


class AsyncNoteRepo(CachedAsyncRepository[Note]):
    model_type = Note


def tenant_filter(state: ORMExecuteState) -> None:
    """SQLAlchemy's documented global filter: every SELECT restricted to the context's tenant."""
    if state.is_select and not state.is_column_load and not state.is_relationship_load:
        tenant = current_tenant.get()
        state.statement = state.statement.options(
            with_loader_criteria(Note, lambda cls: cls.tenant == tenant, track_closure_variables=True)
        )


def timing(state: ORMExecuteState) -> None:
    """A listener that only observes."""
    state.session.info["statements"] = state.session.info.get("statements", 0) + 1


trust_execute_listener(timing)


@pytest.fixture
def engine() -> Any:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Note(id=1, tenant=1), Note(id=2, tenant=2)])
        session.commit()
    yield engine
    engine.dispose()


def listed(engine: Any, cache: SyncCache, tenant: int, *listeners: Any, use_cache: bool = True) -> list[int]:
    current_tenant.set(tenant)
    with Session(engine) as session:
        for listener in listeners:
            event.listen(session, "do_orm_execute", listener)
        bind_cache(session, cache)
        return sorted(note.id for note in NoteRepo(session=session, cache=cache).get_many(use_cache=use_cache))


def test_a_listener_filtering_by_tenant_never_serves_one_tenant_s_rows_to_another(engine: Any) -> None:
    cache = SyncCache(SyncMemoryBackend())
    assert listed(engine, cache, 1, tenant_filter) == [1]
    assert listed(engine, cache, 2, tenant_filter) == [2]
    assert listed(engine, cache, 1, tenant_filter) == [1]
    assert cache.stats["hit"] == 0
    assert cache.stats["bypass"] == 3


def test_a_get_by_primary_key_bypasses_too(engine: Any) -> None:
    cache = SyncCache(SyncMemoryBackend())

    def get(tenant: int) -> int | None:
        current_tenant.set(tenant)
        with Session(engine) as session:
            event.listen(session, "do_orm_execute", tenant_filter)
            bind_cache(session, cache)
            repo = NoteRepo(session=session, cache=cache)
            found = repo.get_one_or_none(id=1)
            try:
                by_key: Note | None = repo.get(1)
            except NotFoundError:
                by_key = None
            assert by_key is found
            return None if found is None else found.id

    assert get(1) == 1
    assert get(2) is None, "tenant 2 must not see tenant 1's note"
    assert get(1) == 1
    assert get(2) is None
    assert cache.stats["hit"] == 0


def test_a_trusted_listener_keeps_the_cache(engine: Any) -> None:
    cache = SyncCache(SyncMemoryBackend())
    assert listed(engine, cache, 1, timing) == [1, 2]
    assert listed(engine, cache, 1, timing) == [1, 2]
    assert cache.stats["hit"] == 1
    assert cache.stats["bypass"] == 0


def test_one_untrusted_listener_among_trusted_ones_bypasses(engine: Any) -> None:
    cache = SyncCache(SyncMemoryBackend())
    assert listed(engine, cache, 1, timing, tenant_filter) == [1]
    assert listed(engine, cache, 2, timing, tenant_filter) == [2]
    assert cache.stats["hit"] == 0


def test_a_listener_on_the_session_class_counts(engine: Any) -> None:
    class FilteredSession(Session):
        pass

    event.listen(FilteredSession, "do_orm_execute", tenant_filter)
    cache = SyncCache(SyncMemoryBackend())
    try:
        for tenant in (1, 2, 1):
            current_tenant.set(tenant)
            with FilteredSession(engine) as session:
                bind_cache(session, cache)
                assert [note.id for note in NoteRepo(session=session, cache=cache).get_many()] == [tenant]
    finally:
        event.remove(FilteredSession, "do_orm_execute", tenant_filter)
    assert cache.stats["hit"] == 0


def test_the_first_bypass_names_the_listener_once(engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    def another_filter(state: ORMExecuteState) -> None:
        tenant_filter(state)

    cache = SyncCache(SyncMemoryBackend())
    with caplog.at_level(logging.WARNING, logger="litestar_alchemy_kit.cache"):
        listed(engine, cache, 1, another_filter)
        listed(engine, cache, 2, another_filter)
    named = [record for record in caplog.records if "another_filter" in record.getMessage()]
    assert len(named) == 1
    assert "trust_execute_listener" in named[0].getMessage()


def test_a_recording_refuses_a_session_with_such_a_listener(engine: Any) -> None:
    current_tenant.set(1)
    with Session(engine) as session, record_queries() as recorder:
        event.listen(session, "do_orm_execute", tenant_filter)
        assert [note.id for note in session.scalars(select(Note))] == [1]
    assert recorder.refused is not None
    assert "tenant_filter" in recorder.refused
    with Session(engine) as session, record_queries() as recorder:
        event.listen(session, "do_orm_execute", timing)
        assert [note.id for note in session.scalars(select(Note))] == [1, 2]
    assert recorder.refused is None


async def test_an_async_session_s_listener_counts(tmp_path: Any) -> None:
    from litestar.stores.memory import MemoryStore

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'notes.sqlite'}")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with AsyncSession(engine) as session:
        session.add_all([Note(id=1, tenant=1), Note(id=2, tenant=2)])
        await session.commit()
    cache = AsyncCache(MemoryStore())
    try:
        for tenant in (1, 2, 1):
            current_tenant.set(tenant)
            async with AsyncSession(engine) as session:
                event.listen(session.sync_session, "do_orm_execute", tenant_filter)
                bind_cache(session, cache)
                notes = await AsyncNoteRepo(session=session, cache=cache).get_many()
                assert [note.id for note in notes] == [tenant]
        assert cache.stats["hit"] == 0
    finally:
        await cache.close()
        await engine.dispose()
