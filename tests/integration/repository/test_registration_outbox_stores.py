"""A session factory bound to its caches before it had an engine, caches of one namespace on two stores under the
invalidation outbox, and the response cache past its drain deadline. Real databases (SQLite files) and real stores
(Litestar's ``MemoryStore``, a Redis server for the app), no mocks; each scenario waits on nothing it could race with.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from pathlib import Path

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from litestar import Litestar, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.testing import TestClient
from redis.asyncio import Redis
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from litestar_alchemy_kit import AlchemyKitConfig, AlchemyKitPlugin, AsyncCache, CacheOptions
from litestar_alchemy_kit.cache import CachePluginConfig, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table
from litestar_alchemy_kit.repository import CachedAsyncRepository, CachedSyncRepository
from tests.integration.repository._bridge import unreachable_cache, unreachable_cache_async

pytestmark = [pytest.mark.integration]


class RegBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class RegItem(RegBase):
    __tablename__ = "lak_reg_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    quantity: Mapped[int] = mapped_column()


OUTBOX = outbox_table(RegBase.metadata, "lak_reg_outbox")


class AsyncItems(CachedAsyncRepository[RegItem]):
    model_type = RegItem


class SyncItems(CachedSyncRepository[RegItem]):
    model_type = RegItem


def _ns() -> str:
    return f"reg_{uuid.uuid4().hex[:10]}"


def _seed(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            RegBase.metadata.create_all(connection)
            connection.execute(RegItem.__table__.insert().values(id=1, quantity=1))
    finally:
        engine.dispose()


def _outbox_rows(path: Path) -> int:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(OUTBOX)).scalar_one())
    finally:
        engine.dispose()


# --- a factory bound before it had an engine ---------------------------------------------------------------------


def test_late_bound_async_session_reads_then_raw_write_through_another_engine(tmp_path: Path) -> None:
    """A session factory bound to the cache before it has an engine (``configure(bind=...)`` at startup, the
    usual module-level ``async_sessionmaker()``): ``bind_cache`` sees no engine to register, so a session registers
    its caches for the database its transaction begins on. A raw ``UPDATE`` through another engine on the same
    SQLite file (``databases.engine_caches``) then invalidates the row the reading session cached (invariant 1;
    a regression of 6a0dcee, and on PostgreSQL stale before it too)."""
    path = tmp_path / "late.db"
    _seed(path)

    async def scenario() -> tuple[int, int, int]:
        cache = AsyncCache(MemoryStore(), namespace=_ns())
        maker = async_sessionmaker(expire_on_commit=False)
        bind_cache(maker, cache)
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        maker.configure(bind=engine)  # the app's startup gives the factory its engine
        other = create_async_engine(f"sqlite+aiosqlite:///{path}")
        try:

            async def read() -> int:
                async with maker() as session:
                    return (await AsyncItems(session=session, cache=cache).get(1)).quantity

            first = await read()
            hits = cache.stats["hit"]
            second = await read()
            assert cache.stats["hit"] == hits + 1, "the second read must be a hit (the entry is cached)"
            async with other.begin() as connection:  # a raw write: another engine, the same database
                await connection.execute(text("UPDATE lak_reg_item SET quantity = 2 WHERE id = 1"))
            return first, second, await read()
        finally:
            await other.dispose()
            await engine.dispose()
            await cache.close()

    assert asyncio.run(scenario()) == (1, 1, 2), "the raw write's commit was not seen: a stale cached row was served"


def test_late_bound_sync_session_reads_then_raw_write_through_another_engine(tmp_path: Path) -> None:
    """:func:`test_late_bound_async_session_reads_then_raw_write_through_another_engine` with a sync session
    factory, a ``SyncCache`` and pysqlite."""
    path = tmp_path / "late_sync.db"
    _seed(path)
    cache = SyncCache(SyncMemoryBackend(), namespace=_ns())
    maker: sessionmaker[Session] = sessionmaker(expire_on_commit=False)
    bind_cache(maker, cache)
    engine = create_engine(f"sqlite:///{path}")
    maker.configure(bind=engine)
    other = create_engine(f"sqlite:///{path}")
    try:

        def read() -> int:
            with maker() as session:
                return SyncItems(session=session, cache=cache).get(1).quantity

        first = read()
        hits = cache.stats["hit"]
        second = read()
        assert cache.stats["hit"] == hits + 1, "the second read must be a hit (the entry is cached)"
        with other.begin() as connection:
            connection.execute(text("UPDATE lak_reg_item SET quantity = 2 WHERE id = 1"))
        third = read()
    finally:
        other.dispose()
        engine.dispose()
        cache.close()
    assert (first, second, third) == (1, 1, 2), "the raw write's commit was not seen: a stale cached row was served"


# --- the outbox's rows are per namespace: every attached cache of it is bumped ----------------------------------


def test_outbox_row_of_a_namespace_is_delivered_to_every_store_of_it(tmp_path: Path) -> None:
    """Two caches of one namespace on two stores, both attached to the outbox and drained by it, as
    ``AlchemyKitPlugin`` sets up a response cache on a cache of its own (``ResponseCachePluginConfig
    .cache_state_key``): its namespace defaults to the kit's, its store to ``"response_cache"``. The writer (another
    process, the store out of reach) records one row per cache, both under the namespace. A drain delivers a
    namespace's rows to every attached cache of it before deleting them: the first drain bumps both stores (it
    bumped its own only, and the second store served the entry from before the commit)."""
    path = tmp_path / "ns.db"
    _seed(path)
    namespace = _ns()

    async def scenario() -> tuple[int, int, int]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        kit, responses = AsyncCache(MemoryStore(), namespace), AsyncCache(MemoryStore(), namespace)
        outbox = InvalidationOutbox(OUTBOX, staleness_bound=60.0)
        outbox.attach(kit)
        outbox.attach(responses)
        outbox.expect(engine, kit)
        reader = async_sessionmaker(engine, expire_on_commit=False)
        bind_cache(reader, kit)
        bind_cache(reader, responses)
        # the writer: another process, both its caches cut off from their stores, the 'available' policy
        writer_engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        writer_caches = [unreachable_cache_async("available", namespace) for _ in range(2)]
        writer_outbox = InvalidationOutbox(OUTBOX, staleness_bound=60.0)
        writer = async_sessionmaker(writer_engine, expire_on_commit=False)
        for cache in writer_caches:
            writer_outbox.attach(cache)
            bind_cache(writer, cache)
        try:
            assert await outbox.drain_async(engine, kit)
            assert await outbox.drain_async(engine, responses)

            async def read() -> int:
                async with reader() as session:
                    return (await AsyncItems(session=session, cache=responses).get(1)).quantity

            before = await read()
            hits = responses.stats["hit"]
            assert await read() == before
            assert responses.stats["hit"] == hits + 1, "the second read must be a hit (the entry is cached)"
            async with writer() as session:
                await AsyncItems(session=session, cache=writer_caches[0]).update(
                    RegItem(id=1, quantity=2), auto_commit=True
                )
            rows = _outbox_rows(path)
            # the reader drains: both caches, one after the other (nothing races here)
            assert await outbox.drain_async(engine, kit)
            assert await outbox.drain_async(engine, responses)
            return rows, _outbox_rows(path), await read()
        finally:
            for cache in writer_caches:
                await cache.close()
            await writer_engine.dispose()
            await kit.close()
            await responses.close()
            await engine.dispose()

    rows, left, after = asyncio.run(scenario())
    assert rows >= 1, "the writer recorded no outbox row: the scenario did not happen"
    assert (left, after) == (0, 2), (
        f"after both drains (outbox rows {rows} -> {left}) the second store still served quantity {after}:"
        " its namespace's rows were delivered to the first store only"
    )


# --- an undrained response cache joins no handler in flight ---------------------------------------------------

_GATES: list[threading.Event] = []
_READ = threading.Event()


@get("/reg/{item_id:int}", opt={"response_cache": True})
async def read_gated(
    item_id: FromPath[int], db_session: NamedDependency[AsyncSession], cache: NamedDependency[AsyncCache]
) -> dict[str, int]:
    item = await AsyncItems(session=db_session, cache=cache).get(item_id)
    quantity = item.quantity
    if _GATES:  # the first request read the database, and waits (a slow handler)
        gate = _GATES.pop()
        _READ.set()
        await asyncio.to_thread(gate.wait, 60)  # set by the test's thread
    return {"quantity": quantity}


def test_undrained_response_cache_joins_no_handler_in_flight(redis_url: str, tmp_path: Path) -> None:
    """A cache past its drain deadline shares no work: the store's versions may predate an outbox row's commit.
    The response cache shares handlers in flight keyed by the versions read (``ResponseCacheEngine._miss``):
    undrained, ``lookup()`` reads none and ``serve`` no longer reads them with ``cache.versions()``, so a request
    arriving undrained runs its own handler (it joined one that read the database before the commit)."""
    path = tmp_path / "rc.db"
    _seed(path)
    namespace = _ns()
    app = Litestar(
        [read_gated],
        plugins=[
            AlchemyKitPlugin(
                AlchemyKitConfig(
                    connection_string=f"sqlite+aiosqlite:///{path}",
                    metadata=RegBase.metadata,
                    cache=CachePluginConfig(namespace=namespace, options=CacheOptions(commit_policy="available")),
                    cli=False,
                )
            )
        ],
        stores={"cache": RedisStore(Redis.from_url(redis_url, socket_timeout=2.0), namespace=None)},
    )
    bound = 1.0
    _GATES.clear()
    _READ.clear()
    gate = threading.Event()
    writer_engine = create_engine(f"sqlite:///{path}")
    writer_cache = unreachable_cache("available", namespace)
    InvalidationOutbox(OUTBOX, staleness_bound=bound).attach(writer_cache)
    writer: sessionmaker[Session] = sessionmaker(writer_engine, expire_on_commit=False)
    bind_cache(writer, writer_cache)
    pool = concurrent.futures.ThreadPoolExecutor(2)
    try:
        with TestClient(app) as client:
            cache = app.state["cache"]
            outbox = InvalidationOutbox(OUTBOX, staleness_bound=bound)
            outbox.attach(cache)
            drained_at = time.monotonic()

            async def drain() -> bool:  # one drain, nothing to deliver yet (no store call): hits for the bound
                drain_engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
                try:
                    return await outbox.drain_async(drain_engine, cache)
                finally:
                    await drain_engine.dispose()

            assert asyncio.run(drain())
            assert client.get("/reg/1?warm=1").json() == {"quantity": 1}  # the route learns its tags
            _GATES.append(gate)
            first = pool.submit(client.get, "/reg/1")
            assert _READ.wait(30), "the first request never read the database"
            with writer() as session:  # another process commits, its store out of reach: an outbox row
                SyncItems(session=session, cache=writer_cache).update(RegItem(id=1, quantity=2), auto_commit=True)
            assert _outbox_rows(path) == 1
            time.sleep(max(0.0, drained_at + bound + 0.5 - time.monotonic()))  # past the deadline: undrained
            second = pool.submit(client.get, "/reg/1")
            concurrent.futures.wait([second], timeout=10)  # its own handler has no gate: it answers at once
            gate.set()
            answers = (first.result(30).json(), second.result(30).json())
    finally:
        gate.set()
        pool.shutdown(wait=True)
        writer_cache.close()
        writer_engine.dispose()
    assert answers[1] == {"quantity": 2}, (
        f"a request arriving past the drain deadline, after the commit, was answered {answers[1]}: the response of"
        " a handler that read the database before the commit (joined while in flight)"
    )
