"""The harness of the transaction scenarios (reviews 21 and 22): a row, a warmed reader, a bound writer, a check.

Every scenario seeds one row ("before"), warms a reader cache (``get`` and the list are hits), writes through a
session bound to a writer cache, makes the write durable by some route, ends the session, then compares what the
cache serves with what the database holds (:meth:`SyncEnv.check`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from sqlalchemy import Engine, MetaData, String, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository, bind_cache
from tests.conftest import PATIENT, _engine_params


class Models(NamedTuple):
    """One module's table: its metadata, its mapped item (``name``) and a cached repository of each flavour."""

    metadata: MetaData
    item: Any
    sync_repo: Any
    async_repo: Any

    @property
    def table(self) -> str:
        return str(self.item.__tablename__)


def models(table: str) -> Models:
    """A mapped item on a registry of its own (each module its own table: xdist workers share the databases)."""

    class Base(CommonTableAttributes, DeclarativeBase):
        registry = create_registry()
        metadata = registry.metadata
        __abstract__ = True

    class Item(UUIDPrimaryKey, Base):
        __tablename__ = table

        name: Mapped[str] = mapped_column(String(50))

    class SyncRepo(CachedSyncRepository[Item]):
        model_type = Item

    class AsyncRepo(CachedAsyncRepository[Item]):
        model_type = Item

    return Models(Base.metadata, Item, SyncRepo, AsyncRepo)


def _ns() -> str:
    return f"laktx{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------------- sync harness


class SyncEnv:
    """A reader cache and a writer cache (bound to ``bound`` sessions) on one in-process store, over ``engine``."""

    def __init__(self, engine: Engine, name: str, m: Models) -> None:
        from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend

        self.engine = engine
        self.name = name
        self.m = m
        backend = SyncMemoryBackend()
        ns = _ns()
        self.reader = SyncCache(backend, namespace=ns)
        self.writer = SyncCache(backend, namespace=ns)
        self.plain = sessionmaker(engine, expire_on_commit=False)
        self.bound = sessionmaker(engine, expire_on_commit=False)
        bind_cache(self.bound, self.writer)

    def seed(self) -> uuid.UUID:
        with self.plain() as session:
            item = self.m.item(name="before")
            session.add(item)
            session.commit()
            return item.id

    def flush_write(self, session: Any, item_id: uuid.UUID, name: str) -> None:
        """Rename ``item_id`` in ``session`` and flush."""
        found = session.get(self.m.item, item_id)
        found.name = name
        session.flush()

    def reads(self, item_id: uuid.UUID) -> tuple[str, list[str]]:
        with self.plain() as session:
            repo = self.m.sync_repo(session=session, cache=self.reader)
            return repo.get(item_id).name, sorted(i.name for i in repo.get_many())

    def warm(self, item_id: uuid.UUID) -> None:
        for _ in range(3):
            hits = self.reader.stats["hit"]
            assert self.reads(item_id) == ("before", ["before"])
            if self.reader.stats["hit"] == hits + 2:
                return
        raise AssertionError(f"not warm: {dict(self.reader.stats)}")

    def database(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(self.m.item.name)).scalars())

    def check(self, item_id: uuid.UUID, expected: list[str] | None = None) -> None:
        database = self.database()
        if expected is not None:
            assert database == expected, f"scenario precondition: the database holds {database}"
        seen = self.reads(item_id)
        assert seen == (database[0], database), f"the cache serves {seen}, the database holds {database}"


def sync_env(engine: Engine, name: str, m: Models) -> Iterator[SyncEnv]:
    """``m``'s table created afresh on ``engine``, and dropped after."""
    m.metadata.drop_all(engine)
    m.metadata.create_all(engine)
    try:
        yield SyncEnv(engine, name, m)
    finally:
        engine.dispose()
        m.metadata.drop_all(engine)
        engine.dispose()


def only(*names: str) -> Any:
    return pytest.mark.parametrize("sync_engine", _engine_params(names), indirect=True)


def only_async(*names: str) -> Any:
    return pytest.mark.parametrize("async_engine", _engine_params(names), indirect=True)


# --------------------------------------------------------------------------------------------- async harness


class AsyncEnv:
    """:class:`SyncEnv`'s async twin, on Litestar's MemoryStore."""

    def __init__(self, engine: AsyncEngine, name: str, m: Models) -> None:
        from litestar.stores.memory import MemoryStore

        from litestar_alchemy_kit.cache import AsyncCache

        self.engine = engine
        self.name = name
        self.m = m
        store = MemoryStore()
        ns = _ns()
        self.reader = AsyncCache(store, namespace=ns, options=PATIENT)
        self.writer = AsyncCache(store, namespace=ns, options=PATIENT)
        self.plain = async_sessionmaker(engine, expire_on_commit=False)
        self.bound = async_sessionmaker(engine, expire_on_commit=False)
        bind_cache(self.bound, self.writer)

    async def seed(self) -> uuid.UUID:
        async with self.plain() as session:
            item = self.m.item(name="before")
            session.add(item)
            await session.commit()
            return item.id

    async def flush_write(self, session: Any, item_id: uuid.UUID, name: str) -> None:
        """Rename ``item_id`` in ``session`` and flush."""
        found = await session.get(self.m.item, item_id)
        found.name = name
        await session.flush()

    async def reads(self, item_id: uuid.UUID) -> tuple[str, list[str]]:
        async with self.plain() as session:
            repo = self.m.async_repo(session=session, cache=self.reader)
            return (await repo.get(item_id)).name, sorted(i.name for i in await repo.get_many())

    async def warm(self, item_id: uuid.UUID) -> None:
        for _ in range(3):
            hits = self.reader.stats["hit"]
            assert await self.reads(item_id) == ("before", ["before"])
            if self.reader.stats["hit"] == hits + 2:
                return
        raise AssertionError(f"not warm: {dict(self.reader.stats)}")

    async def database(self) -> list[str]:
        async with self.engine.connect() as conn:
            return sorted((await conn.execute(select(self.m.item.name))).scalars())

    async def check(self, item_id: uuid.UUID, expected: list[str] | None = None) -> None:
        database = await self.database()
        if expected is not None:
            assert database == expected, f"scenario precondition: the database holds {database}"
        seen = await self.reads(item_id)
        assert seen == (database[0], database), f"the cache serves {seen}, the database holds {database}"


async def async_env(engine: AsyncEngine, name: str, m: Models) -> AsyncIterator[AsyncEnv]:
    """``m``'s table created afresh on ``engine``, and dropped after."""
    async with engine.begin() as conn:
        await conn.run_sync(m.metadata.drop_all)
        await conn.run_sync(m.metadata.create_all)
    try:
        yield AsyncEnv(engine, name, m)
    finally:
        await engine.dispose()
        async with engine.begin() as conn:
            await conn.run_sync(m.metadata.drop_all)
