"""Review 22: holes and a regression in review 21's driver-transaction probes (drivertx), sqlitetx and durable.

Fixed (each failed on 4ae2612): a commit at the driver followed by more work in the session (a SELECT, a write, a
disconnect) is delivered before the next statement (``rawdml._deliver_committed``) or at the rollback of an
invalidated connection; a read-only ``CALL`` on MySQL no longer clears the namespace (review 21 had counted every
``CALL`` / ``EXECUTE`` as one that may commit: reverted, a strict xfail in ``test_transactions_review21.py``).

Known hole, a strict xfail: the driver's autocommit switched on and off again with no statement between (the
commit it causes is not seen by SQLAlchemy, nor by any statement).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.mixins import UUIDPrimaryKey
from sqlalchemy import Engine, String, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository, bind_cache
from tests.conftest import PATIENT, _engine_params

pytestmark = [pytest.mark.integration]


class R22Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class R22Item(UUIDPrimaryKey, R22Base):
    __tablename__ = "lak_r22_item"

    name: Mapped[str] = mapped_column(String(50))


TABLE = R22Item.__tablename__


class SyncRepo(CachedSyncRepository[R22Item]):
    model_type = R22Item


class AsyncRepo(CachedAsyncRepository[R22Item]):
    model_type = R22Item


def _ns() -> str:
    return f"lakr22{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------------------------- sync harness


class SyncEnv:
    def __init__(self, engine: Engine, name: str) -> None:
        from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend

        self.engine = engine
        self.name = name
        backend = SyncMemoryBackend()
        ns = _ns()
        self.reader = SyncCache(backend, namespace=ns)
        self.writer = SyncCache(backend, namespace=ns)
        self.plain = sessionmaker(engine, expire_on_commit=False)
        self.bound = sessionmaker(engine, expire_on_commit=False)
        bind_cache(self.bound, self.writer)

    def seed(self) -> uuid.UUID:
        with self.plain() as session:
            item = R22Item(name="before")
            session.add(item)
            session.commit()
            return item.id

    def reads(self, item_id: uuid.UUID) -> tuple[str, list[str]]:
        with self.plain() as session:
            repo = SyncRepo(session=session, cache=self.reader)
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
            return sorted(conn.execute(select(R22Item.name)).scalars())

    def check(self, item_id: uuid.UUID, expected: list[str] | None = None) -> None:
        database = self.database()
        if expected is not None:
            assert database == expected, f"scenario precondition: the database holds {database}"
        seen = self.reads(item_id)
        assert seen == (database[0], database), f"the cache serves {seen}, the database holds {database}"


def _sync_env(engine: Engine, name: str) -> Iterator[SyncEnv]:
    R22Base.metadata.drop_all(engine)
    R22Base.metadata.create_all(engine)
    try:
        yield SyncEnv(engine, name)
    finally:
        engine.dispose()
        R22Base.metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture
def senv(sync_engine: Engine, request: pytest.FixtureRequest) -> Iterator[SyncEnv]:
    yield from _sync_env(sync_engine, request.node.callspec.params["sync_engine"])


def _flush_write(session: Any, item_id: uuid.UUID, name: str) -> None:
    item = session.get(R22Item, item_id)
    item.name = name
    session.flush()


def _only(*names: str) -> Any:
    return pytest.mark.parametrize("sync_engine", _engine_params(names), indirect=True)


def _only_async(*names: str) -> Any:
    return pytest.mark.parametrize("async_engine", _engine_params(names), indirect=True)


# --------------------------------------------------------------------------------------------- async harness


class AsyncEnv:
    def __init__(self, engine: AsyncEngine, name: str) -> None:
        from litestar.stores.memory import MemoryStore

        from litestar_alchemy_kit.cache import AsyncCache

        self.engine = engine
        self.name = name
        store = MemoryStore()
        ns = _ns()
        self.reader = AsyncCache(store, namespace=ns, options=PATIENT)
        self.writer = AsyncCache(store, namespace=ns, options=PATIENT)
        self.plain = async_sessionmaker(engine, expire_on_commit=False)
        self.bound = async_sessionmaker(engine, expire_on_commit=False)
        bind_cache(self.bound, self.writer)

    async def seed(self) -> uuid.UUID:
        async with self.plain() as session:
            item = R22Item(name="before")
            session.add(item)
            await session.commit()
            return item.id

    async def reads(self, item_id: uuid.UUID) -> tuple[str, list[str]]:
        async with self.plain() as session:
            repo = AsyncRepo(session=session, cache=self.reader)
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
            return sorted((await conn.execute(select(R22Item.name))).scalars())

    async def check(self, item_id: uuid.UUID, expected: list[str] | None = None) -> None:
        database = await self.database()
        if expected is not None:
            assert database == expected, f"scenario precondition: the database holds {database}"
        seen = await self.reads(item_id)
        assert seen == (database[0], database), f"the cache serves {seen}, the database holds {database}"


@pytest.fixture
async def aenv(async_engine: AsyncEngine, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEnv]:
    async with async_engine.begin() as conn:
        await conn.run_sync(R22Base.metadata.drop_all)
        await conn.run_sync(R22Base.metadata.create_all)
    try:
        yield AsyncEnv(async_engine, request.node.callspec.params["async_engine"])
    finally:
        await async_engine.dispose()
        async with async_engine.begin() as conn:
            await conn.run_sync(R22Base.metadata.drop_all)


async def _aflush_write(session: Any, item_id: uuid.UUID, name: str) -> None:
    item = await session.get(R22Item, item_id)
    item.name = name
    await session.flush()


# ============================================================================================= scenarios


# --- 1. a commit at the driver, then the session goes on: drivertx asks only at the rollback ----------------------
# psycopg begins a new transaction before the next statement (a plain SELECT); sqlite3 before the next write; an
# invalidated connection is "unknown". The first write is durable, the cache keeps serving what preceded it.


@_only("psycopg_sync", "sqlite")
@pytest.mark.parametrize("then", ["select", "write", "invalidate"])
def test_r22_driver_commit_then_more_work(senv: SyncEnv, then: str) -> None:
    if senv.name == "sqlite" and then == "select":
        pytest.skip(
            "sqlite3 begins no transaction before a SELECT: see test_r22_check_sqlite_driver_commit_then_select"
        )
    item_id = senv.seed()
    senv.warm(item_id)
    with senv.bound() as session:
        _flush_write(session, item_id, "after")
        session.connection().connection.driver_connection.commit()  # durable now
        if then == "select":
            session.execute(select(R22Item.name)).all()
        elif then == "write":
            _flush_write(session, item_id, "discarded")  # the driver begins the next transaction: rolled back
        else:
            session.connection().invalidate()  # a disconnect noticed afterwards
        session.rollback()
    senv.check(item_id, ["after"])


@_only_async("psycopg_async", "aiosqlite")
async def test_r22_driver_commit_then_more_work_async(aenv: AsyncEnv) -> None:
    item_id = await aenv.seed()
    await aenv.warm(item_id)
    async with aenv.bound() as session:
        await _aflush_write(session, item_id, "after")
        driver = (await session.connection()).sync_connection.connection.driver_connection
        await driver.commit()  # durable now
        await _aflush_write(session, item_id, "discarded")  # a new transaction, rolled back below
        await session.rollback()
    await aenv.check(item_id, ["after"])


# --- 2. autocommit switched on at the driver and back off (a helper that runs one thing in autocommit) -----------
# SET autocommit = 1 commits the open transaction; at the rollback the flag is off again.


@_only("pymysql", "sqlite")
def test_r22_driver_autocommit_on_then_off(senv: SyncEnv, request: pytest.FixtureRequest) -> None:
    if senv.name == "pymysql":
        request.applymarker(pytest.mark.xfail(strict=True, reason="known hole: autocommit on and off at the driver"))
    item_id = senv.seed()
    senv.warm(item_id)
    with senv.bound() as session:
        _flush_write(session, item_id, "after")
        driver = session.connection().connection.driver_connection
        if senv.name == "pymysql":
            driver.autocommit(True)  # commits the open transaction
            driver.autocommit(False)
        else:
            driver.isolation_level = None  # commits the open transaction
            driver.isolation_level = ""
            _flush_write(session, item_id, "discarded")  # begins a new one, rolled back below
        session.rollback()
    senv.check(item_id, ["after"])


@_only_async("asyncmy")
@pytest.mark.xfail(strict=True, reason="known hole: autocommit on and off at the driver, no statement between")
async def test_r22_driver_autocommit_on_then_off_async(aenv: AsyncEnv) -> None:
    item_id = await aenv.seed()
    await aenv.warm(item_id)
    async with aenv.bound() as session:
        await _aflush_write(session, item_id, "after")
        driver = (await session.connection()).sync_connection.connection.driver_connection
        await driver.autocommit(True)
        await driver.autocommit(False)
        await session.rollback()
    await aenv.check(item_id, ["after"])


# --- 3. regression: a read-only stored procedure (CALL) in a request that rolls back clears the namespace ---------


RPROC = "lak_r22_read_proc"


@_only("pymysql")
def test_r22_mysql_read_only_call_then_rollback_keeps_the_cache(senv: SyncEnv) -> None:
    item_id = senv.seed()
    with senv.engine.begin() as conn:
        conn.execute(text(f"DROP PROCEDURE IF EXISTS {RPROC}"))
        conn.execute(text(f"CREATE PROCEDURE {RPROC}() BEGIN SELECT COUNT(*) FROM {TABLE}; END"))
    try:
        senv.warm(item_id)
        with senv.bound() as session:  # a read-only request: reads through a procedure, ends with a rollback
            assert session.execute(text(f"CALL {RPROC}()")).scalar() == 1
            session.rollback()
        hits = senv.reader.stats["hit"]
        senv.check(item_id, ["before"])
        assert senv.reader.stats["hit"] == hits + 2, "a read-only CALL rolled back invalidated the cache"
    finally:
        with senv.engine.begin() as conn:
            conn.execute(text(f"DROP PROCEDURE IF EXISTS {RPROC}"))


# --- checks that held ----------------------------------------------------------------------------------------------


@_only("sqlite")
def test_r22_check_sqlite_driver_commit_then_select(senv: SyncEnv) -> None:
    item_id = senv.seed()
    senv.warm(item_id)
    with senv.bound() as session:
        _flush_write(session, item_id, "after")
        session.connection().connection.driver_connection.commit()
        session.execute(select(R22Item.name)).all()  # sqlite3 begins nothing: no transaction open at the rollback
        session.rollback()
    senv.check(item_id, ["after"])
