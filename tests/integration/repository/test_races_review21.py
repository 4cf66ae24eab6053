"""Review 21: the sync API, the outbox, and races between sessions/processes under fine tags.

Fixed (failed before): under ``AUTOCOMMIT`` the outbox row of a cache that took no marker committed before the
statement it stands for, and a drain in between took it (``enginecommit.settle`` writes a second row after the
statement); a session on an ``AUTOCOMMIT`` engine lost its flushed writes at rollback. The thread races are controls.

Every scenario compares what the cache serves with what the database holds after the write's commit returned.
Tables are ``lak_r21b_*``; each test uses a namespace of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import Engine, MetaData, String, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from litestar_alchemy_kit.cache import CacheOptions, SyncCache
from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table
from litestar_alchemy_kit.orm.rawdml import register_engine, unregister_engine
from litestar_alchemy_kit.repository import CachedSyncRepository
from tests.integration.repository._bridge import unreachable_cache

pytestmark = [pytest.mark.integration]


class R21Base(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class R21Item(R21Base):
    __tablename__ = "lak_r21b_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[str] = tenant_column(String(20))
    name: Mapped[str] = mapped_column(String(40))


class ItemRepository(CachedSyncRepository[R21Item]):
    model_type = R21Item


def _ns() -> str:
    return f"lakr21b{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    return make_url(postgres_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@pytest.fixture
def engines(pg_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one PostgreSQL database: the reader's (another process) and the writer's."""
    reader_engine, writer_engine = create_engine(pg_url), create_engine(pg_url)
    with writer_engine.begin() as conn:
        R21Base.metadata.drop_all(conn)
        R21Base.metadata.create_all(conn)
    try:
        yield reader_engine, writer_engine
    finally:
        with writer_engine.begin() as conn:
            R21Base.metadata.drop_all(conn)
        reader_engine.dispose()
        writer_engine.dispose()


def _redis_sync_cache(redis_url: str, namespace: str, **options: Any) -> tuple[SyncCache, Any]:
    client = AsyncRedis.from_url(redis_url)
    store = RedisStore(client, namespace=namespace)
    return SyncCache(store, namespace=namespace, options=CacheOptions(timeout=30.0, **options)), client


def _cached_name(sessions: Any, cache: SyncCache, pk: int) -> str:
    with sessions() as session:
        return ItemRepository(session=session, cache=cache).get(pk).name


def _cached_names(sessions: Any, cache: SyncCache, tenant: str) -> list[str]:
    with sessions() as session:
        return sorted(row.name for row in ItemRepository(session=session, cache=cache, tenant=tenant).get_many())


def _db_name(engine: Engine, pk: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(R21Item.name).where(R21Item.id == pk)).scalar_one())


# ================================================================================================================
# 1. Outbox under AUTOCOMMIT: the outbox row commits before the write it stands for
# ================================================================================================================


def test_outbox_autocommit_row_drained_before_its_write_commits(engines: tuple[Engine, Engine], redis_url: str) -> None:
    """A writer that lost the store writes through an AUTOCOMMIT connection: its outbox row is committed (on its
    own) just before the UPDATE runs. Another process drains in between: it bumps the tags and deletes the row,
    then reads the old row and caches it under the new versions. The UPDATE then commits; nothing is left to
    invalidate the entry. After a drain that began after the commit, the reader still serves the old name."""
    reader_engine, writer_engine = engines
    namespace = _ns()
    table = outbox_table(MetaData(), name="lak_r21b_outbox")
    with writer_engine.begin() as conn:
        table.metadata.drop_all(conn)
        table.metadata.create_all(conn)
    reader, _client = _redis_sync_cache(redis_url, namespace)
    writer = unreachable_cache("available", namespace)
    outbox = InvalidationOutbox(table, staleness_bound=60.0)
    InvalidationOutbox(table, staleness_bound=60.0).attach(writer)  # another process: an outbox of its own
    outbox.attach(reader)
    sessions = sessionmaker(reader_engine, expire_on_commit=False)
    try:
        with sessions() as session:
            session.add(R21Item(id=1, tenant="a", name="before"))
            session.commit()
        assert outbox.drain_sync(reader_engine, reader)
        assert _cached_name(sessions, reader, 1) == "before"
        assert _cached_name(sessions, reader, 1) == "before"
        assert reader.stats["hit"] >= 1
        # the reader stands for another process: the writer's raw writes reach only the writer's cache
        unregister_engine(reader_engine, reader)
        register_engine(writer_engine, writer)
        seen: list[Any] = []

        def window(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            del cursor, args
            if seen or not statement.startswith("UPDATE lak_r21b_item"):
                return
            with reader_engine.connect() as other:
                seen.append(other.execute(select(func.count()).select_from(table)).scalar_one())
            # another process's drain loop runs now: the row is committed, the UPDATE not yet
            seen.append(outbox.drain_sync(reader_engine, reader))
            seen.append(_cached_name(sessions, reader, 1))
            unregister_engine(reader_engine, reader)

        event.listen(Engine, "before_cursor_execute", window)
        try:
            with writer_engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text("UPDATE lak_r21b_item SET name = 'after' WHERE id = 1"))
        finally:
            event.remove(Engine, "before_cursor_execute", window)
            unregister_engine(writer_engine, writer)
        assert seen == [1, True, "before"], seen  # the outbox row was committed before the UPDATE ran
        assert _db_name(reader_engine, 1) == "after"
        # a drain that begins after the commit returned: from now on no older data may be served
        assert outbox.drain_sync(reader_engine, reader)
        assert _cached_name(sessions, reader, 1) == "after", (
            "the reader serves the row from before an acknowledged commit after a later drain"
        )
    finally:
        writer.close()
        reader.close()
        with writer_engine.begin() as conn:
            table.metadata.drop_all(conn)


# ================================================================================================================
# 2. Threads: a reader's versions / SELECT / store interleaved with a writer's commit (controls)
# ================================================================================================================


def _in_thread(work: Any) -> Any:
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    return out[0] if out else None


def _step_after_select(engine: Engine, step: Any, *, before: bool = False) -> Any:
    """Run ``step`` (in another thread) once, right after (or before) the next SELECT of lak_r21b_item on ``engine``."""
    fired: list[bool] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        del conn, cursor, args
        if fired or not statement.lstrip().startswith("SELECT"):
            return
        if "lak_r21b_item" not in statement:
            return
        fired.append(True)
        _in_thread(step)

    name = "before_cursor_execute" if before else "after_cursor_execute"
    event.listen(engine, name, hook)
    return lambda: (event.remove(engine, name, hook), fired)[1]


@pytest.mark.parametrize("shared", [True, False], ids=["one_cache", "two_caches"])
@pytest.mark.parametrize("before", [False, True], ids=["after_select", "before_select"])
@pytest.mark.parametrize("scenario", ["insert_partition", "insert_not_found", "move_tenant", "update_get"])
def test_threads_reader_races_writer(
    engines: tuple[Engine, Engine], redis_url: str, scenario: str, before: bool, shared: bool
) -> None:
    reader_engine, writer_engine = engines
    namespace = _ns()
    reader, _client = _redis_sync_cache(redis_url, namespace)
    if shared:
        writer = reader
    else:
        writer, _other = _redis_sync_cache(redis_url, namespace)
    rsessions = sessionmaker(reader_engine, expire_on_commit=False)
    wsessions = sessionmaker(writer_engine, expire_on_commit=False)
    with wsessions() as session:
        session.add_all([R21Item(id=1, tenant="a", name="one"), R21Item(id=2, tenant="b", name="two")])
        session.commit()

    def read() -> Any:
        if scenario == "insert_partition":
            return _cached_names(rsessions, reader, "a")
        if scenario == "move_tenant":
            return _cached_names(rsessions, reader, "b")
        with rsessions() as session:
            pk = 3 if scenario == "insert_not_found" else 1
            found = ItemRepository(session=session, cache=reader).get_one_or_none(R21Item.id == pk)
            if scenario == "update_get":
                return ItemRepository(session=session, cache=reader).get(1).name
            return None if found is None else found.name

    def write() -> None:
        with wsessions() as session:
            repo = ItemRepository(session=session, cache=writer)
            if scenario in {"insert_partition", "insert_not_found"}:
                repo.add(R21Item(id=3, tenant="a", name="three"), auto_commit=True)
            elif scenario == "move_tenant":
                item = repo.get(1)
                item.tenant = "b"
                repo.update(item, auto_commit=True)
            else:
                item = repo.get(1)
                item.name = "uno"
                repo.update(item, auto_commit=True)

    def truth() -> Any:
        with reader_engine.connect() as conn:
            if scenario == "insert_partition":
                return sorted(conn.execute(select(R21Item.name).where(R21Item.tenant == "a")).scalars())
            if scenario == "move_tenant":
                return sorted(conn.execute(select(R21Item.name).where(R21Item.tenant == "b")).scalars())
            pk = 3 if scenario == "insert_not_found" else 1
            return conn.execute(select(R21Item.name).where(R21Item.id == pk)).scalar_one_or_none()

    try:
        first = _in_thread(read)  # warm (populate)
        assert _in_thread(read) == first
        stop = _step_after_select(reader_engine, write, before=before)
        try:
            _in_thread(read)  # usually a hit (no SELECT): then the coarse bump below forces a miss to race on
        finally:
            fired = stop()
        if not fired:
            # the read hit: make it miss with an unrelated coarse bump, then race again
            reader.bump(["t:lak_r21b_item"])
            stop = _step_after_select(reader_engine, write, before=before)
            try:
                _in_thread(read)
            finally:
                fired = stop()
        assert fired
        expected = truth()
        assert _in_thread(read) == expected
        assert _in_thread(read) == expected
    finally:
        reader.close()
        if not shared:
            writer.close()


# ================================================================================================================
# 3. A session on an AUTOCOMMIT engine: its flush commits as it runs; its rollback forgets the tags
# ================================================================================================================


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_autocommit_session_flush_then_rollback(
    engines: tuple[Engine, Engine], pg_url: str, redis_url: str, end: str
) -> None:
    reader_engine, _ = engines
    auto = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    namespace = _ns()
    cache, _client = _redis_sync_cache(redis_url, namespace)
    sessions = sessionmaker(reader_engine, expire_on_commit=False)
    writes = sessionmaker(auto, expire_on_commit=False)
    try:
        with sessions() as session:
            session.add(R21Item(id=1, tenant="a", name="before"))
            session.commit()
        assert _cached_name(sessions, cache, 1) == "before"
        assert _cached_name(sessions, cache, 1) == "before"
        assert _cached_names(sessions, cache, "a") == ["before"]
        with writes() as session:
            repo = ItemRepository(session=session, cache=cache)
            item = repo.get(1)
            item.name = "after"
            repo.update(item)  # flushed: under AUTOCOMMIT the UPDATE is committed as it runs
            if end == "rollback":
                session.rollback()
        assert _db_name(reader_engine, 1) == "after"
        assert _cached_name(sessions, cache, 1) == "after"
        assert _cached_names(sessions, cache, "a") == ["after"]
    finally:
        cache.close()
        auto.dispose()


async def test_autocommit_async_session_flush_then_rollback(pg_url: str, redis_url: str) -> None:
    """The async twin of :func:`test_autocommit_session_flush_then_rollback` (asyncpg, AsyncCache on a RedisStore)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from litestar_alchemy_kit.cache import AsyncCache
    from litestar_alchemy_kit.repository import CachedAsyncRepository

    class AsyncItemRepository(CachedAsyncRepository[R21Item]):
        model_type = R21Item

    url = make_url(pg_url).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url)
    auto = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.begin() as conn:
        await conn.run_sync(R21Base.metadata.drop_all)
        await conn.run_sync(R21Base.metadata.create_all)
    namespace = _ns()
    client = AsyncRedis.from_url(redis_url)
    cache = AsyncCache(RedisStore(client, namespace=namespace), namespace=namespace, options=CacheOptions(timeout=30.0))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session:
            session.add(R21Item(id=1, tenant="a", name="before"))
            await session.commit()
        for _ in range(2):
            async with sessions() as session:
                assert (await AsyncItemRepository(session=session, cache=cache).get(1)).name == "before"
        async with async_sessionmaker(auto, expire_on_commit=False)() as session:
            repo = AsyncItemRepository(session=session, cache=cache)
            item = await repo.get(1)
            item.name = "after"
            await repo.update(item)
            await session.rollback()
        async with engine.connect() as conn:
            assert (await conn.execute(select(R21Item.name))).scalar_one() == "after"
        async with sessions() as session:
            assert (await AsyncItemRepository(session=session, cache=cache).get(1)).name == "after"
    finally:
        await cache.close()
        async with engine.begin() as conn:
            await conn.run_sync(R21Base.metadata.drop_all)
        await engine.dispose()
        await auto.dispose()
