"""Review 26 of the read context (``orm.readcontext``): each scenario failed on its first version.

Engines a custom creator connects, or connected before the listeners, named by their URL alone; a temporary table
shadowing a table; MySQL's multi-assignment SET and its SET LOCAL (a session setting); SET in a DO block; MySQL
comments; custom settings named like neutral ones; and an engine's reads bypassing for good after one of its
connections, long closed, changed a setting.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import psycopg
import pymysql
import pytest
from litestar.stores.memory import MemoryStore
from sqlalchemy import TIMESTAMP, String, create_engine, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from litestar_alchemy_kit.cache import AsyncCache
from litestar_alchemy_kit.orm import bind_cache
from litestar_alchemy_kit.orm.binding import install_session_listeners
from litestar_alchemy_kit.orm.readcontext import note_state, state_bypass
from litestar_alchemy_kit.repository import CachedAsyncRepository

pytestmark = pytest.mark.integration


def _url(server: str, driver: str, database: str) -> str:
    return make_url(server).set(drivername=driver, database=database).render_as_string(hide_password=False)


class Base(DeclarativeBase):
    pass


class Widget(Base):
    __tablename__ = "lak_r26_widget"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40))


class Stamp(Base):
    __tablename__ = "lak_r26_stamp"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(TIMESTAMP)


class WidgetRepository(CachedAsyncRepository[Widget]):
    model_type = Widget


class StampRepository(CachedAsyncRepository[Stamp]):
    model_type = Stamp


def _cache() -> AsyncCache:
    return AsyncCache(MemoryStore(), namespace=f"lakr26{uuid.uuid4().hex[:8]}")


def _pg_admin(server: str) -> Any:
    url = make_url(server)
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database, autocommit=True
    )


@pytest.fixture
def pg_dbs(postgres_url: str) -> Iterator[tuple[str, str]]:
    """Two databases on the PostgreSQL server, as asyncpg URLs."""
    names = (f"lak_r26_{uuid.uuid4().hex[:8]}", f"lak_r26_{uuid.uuid4().hex[:8]}")
    with _pg_admin(postgres_url) as admin:
        for name in names:
            admin.execute(f"CREATE DATABASE {name}")
    yield _url(postgres_url, "postgresql+asyncpg", names[0]), _url(postgres_url, "postgresql+asyncpg", names[1])
    with _pg_admin(postgres_url) as admin:
        for name in names:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _seed(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(Widget.__table__.insert(), [{"id": 1, "name": name}])


async def _names(maker: Any, cache: AsyncCache, before: str | None = None) -> list[str]:
    async with maker() as session:
        if before is not None:
            await session.execute(text(before))
        return [w.name for w in await WidgetRepository(session=session, cache=cache, auto_expunge=True).get_many()]


# --- 1. engines built with a custom (async_)creator: named by their URL alone ----------------------------


@pytest.mark.asyncpg
async def test_creator_engines_to_two_databases_never_share_entries(pg_dbs: tuple[str, str]) -> None:
    """Cloud SQL connector style: ``create_async_engine("postgresql+asyncpg://", async_creator=...)`` per database."""

    def creator(db: str) -> Any:
        url = make_url(db)

        async def connect() -> Any:
            return await asyncpg.connect(
                host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
            )

        return connect

    engines = [create_async_engine("postgresql+asyncpg://", async_creator=creator(db)) for db in pg_dbs]
    try:
        for engine, name in zip(engines, ("first", "second"), strict=True):
            await _seed(engine, name)
        cache = _cache()
        makers = [async_sessionmaker(e, expire_on_commit=False) for e in engines]
        for maker in makers:
            bind_cache(maker, cache)
        seen = [[await _names(m, cache) for m in makers] for _ in range(3)]
        assert seen == [[["first"], ["second"]]] * 3, (seen, dict(cache.stats))
    finally:
        for engine in engines:
            await engine.dispose()


# --- 2. a pooled connection's temporary table shadows the table for every session of that connection --------


@pytest.mark.asyncpg
async def test_a_temporary_table_shadowing_the_table_is_never_served_to_others(pg_dbs: tuple[str, str]) -> None:
    url = pg_dbs[0]
    seeder = create_async_engine(url)
    await _seed(seeder, "first")
    await seeder.dispose()
    one = create_async_engine(url, pool_size=1, max_overflow=0)
    other = create_async_engine(url)
    cache = _cache()
    makers = [async_sessionmaker(e, expire_on_commit=False) for e in (one, other)]
    for maker in makers:
        bind_cache(maker, cache)
    try:
        for m in makers:  # warm: each engine has connected, reads are cached
            await _names(m, cache)
            assert await _names(m, cache) == ["first"]
        async with makers[0]() as session:  # a staging table of the same name, on the only pooled connection
            await session.execute(text("CREATE TEMP TABLE lak_r26_widget (id int primary key, name varchar(40))"))
            await session.execute(text("INSERT INTO lak_r26_widget VALUES (1, 'temp')"))
            await session.commit()
        assert await _names(makers[0], cache) == ["temp"]  # that connection sees pg_temp first
        assert await _names(makers[1], cache) == ["first"], dict(cache.stats)
    finally:
        await one.dispose()
        await other.dispose()


# --- 3. MySQL's multi-assignment SET: the first (neutral) variable hides the others ------------------------


@pytest.fixture
def my_db(mysql_url: str) -> Iterator[str]:
    """A database on the MariaDB server with one stamp row, as an asyncmy URL."""
    name = f"lak_r26_{uuid.uuid4().hex[:8]}"
    server = make_url(mysql_url)
    admin = pymysql.connect(
        host=server.host,
        port=server.port or 3306,
        user=server.username,
        password=server.password or "",
        autocommit=True,
    )
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"CREATE TABLE `{name}`.lak_r26_stamp (id int primary key, at TIMESTAMP NULL)")
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"INSERT INTO `{name}`.lak_r26_stamp VALUES (1, '2020-01-01 00:00:00')")
    yield _url(mysql_url, "mysql+asyncmy", name)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


@pytest.mark.asyncmy
@pytest.mark.parametrize(
    "sql",
    [
        "SET wait_timeout = 600, time_zone = '+09:00'",
        "SET SESSION innodb_lock_wait_timeout = 5, time_zone = '+09:00'",
        "SET @@session.wait_timeout = 600, @@session.time_zone = '+09:00'",
    ],
)
async def test_mysql_multi_assignment_set_after_a_neutral_variable_is_seen(my_db: str, sql: str) -> None:
    # control, no cache: what the database answers after the statement
    plain = create_async_engine(my_db, connect_args={"init_command": "SET time_zone = '+00:00'"})
    async with plain.connect() as conn:
        assert (await conn.execute(text("SELECT at FROM lak_r26_stamp"))).scalar_one().hour == 0
        await conn.execute(text(sql))
        assert (await conn.execute(text("SELECT at FROM lak_r26_stamp"))).scalar_one().hour == 9
    await plain.dispose()
    cache = _cache()

    async def hours(before: str | None = None) -> list[int]:
        async with maker() as session:
            if before is not None:
                await session.execute(text(before))
            rows = await StampRepository(session=session, cache=cache, auto_expunge=True).get_many()
            return [row.at.hour for row in rows]

    engine = create_async_engine(
        my_db, pool_size=1, max_overflow=0, connect_args={"init_command": "SET time_zone = '+00:00'"}
    )
    maker = async_sessionmaker(engine, expire_on_commit=False)
    bind_cache(maker, cache)
    try:
        await hours()
        assert await hours() == [0]
        assert await hours(sql) == [9], dict(cache.stats)
    finally:
        await engine.dispose()


# --- 4. one SET on one connection: the engine's sessions bypass forever, even once that connection is gone ----


@pytest.mark.asyncpg
@pytest.mark.parametrize(
    "sql",
    ["SET search_path TO public", "RESET statement_timeout", "SET session_replication_role = replica"],
)
@pytest.mark.parametrize("pool", ["nullpool", "dispose", "invalidate"])
async def test_a_setting_goes_with_its_connection(pg_dbs: tuple[str, str], sql: str, pool: str) -> None:
    url = pg_dbs[0]
    engine = create_async_engine(url, poolclass=NullPool) if pool == "nullpool" else create_async_engine(url)
    await _seed(engine, "first")
    cache = _cache()
    maker = async_sessionmaker(engine, expire_on_commit=False)
    bind_cache(maker, cache)
    try:
        await _names(maker, cache)
        assert await _names(maker, cache) == ["first"]
        async with maker() as session:  # e.g. a one-off maintenance/bulk-load request
            await session.execute(text(sql))
            if pool == "invalidate":
                await (await session.connection()).invalidate()
        if pool == "dispose":
            await engine.dispose()
        hits = cache.stats["hit"]
        for _ in range(3):
            assert await _names(maker, cache) == ["first"]
        # no connection carries the setting any more: every later read could be served
        assert cache.stats["hit"] == hits + 3, (dict(cache.stats), dict(cache.bypass_reasons))
    finally:
        await engine.dispose()


# --- 5. statements an app commonly runs that change nothing a read returns --------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "RESET statement_timeout",
        "SET FOREIGN_KEY_CHECKS = 0",
        "SET unique_checks = 0",
        "SET SESSION max_statement_time = 5",  # MariaDB's statement timeout
        "SET SESSION TRANSACTION READ ONLY",
        "SET default_transaction_read_only = on",
    ],
)
def test_neutral_statements_do_not_taint(sql: str) -> None:
    install_session_listeners()
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        note_state(conn, sql)
        assert state_bypass(conn, engine) is None
        assert state_bypass(None, engine) is None
    engine.dispose()


# --- 6. engines that connected before the listeners, differing only in connect_args ------------------------


@pytest.mark.asyncpg
def test_engines_connected_before_the_listeners_never_share_entries(
    pg_dbs: tuple[str, str],
) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, uuid
        from litestar.stores.memory import MemoryStore
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
        from litestar_alchemy_kit.cache import AsyncCache
        from litestar_alchemy_kit.orm import bind_cache
        from tests.integration.repository.test_read_context_review26 import WidgetRepository

        URL = "{pg_dbs[0]}"

        async def main():
            async with create_async_engine(URL).begin() as conn:
                await conn.execute(text("CREATE SCHEMA a"))
                await conn.execute(text("CREATE SCHEMA b"))
            eng = create_async_engine(URL)
            async with eng.begin() as conn:
                for s in "ab":
                    await conn.execute(text(f"CREATE TABLE {{s}}.lak_r26_widget (id int primary key, name varchar(40))"))
                    await conn.execute(text(f"INSERT INTO {{s}}.lak_r26_widget VALUES (1, '{{s}}')"))
            await eng.dispose()
            engines = [create_async_engine(URL, connect_args={{"server_settings": {{"search_path": s}}}}) for s in "ab"]
            for e in engines:  # startup work (a migration check) before the plugin binds the cache
                async with e.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            cache = AsyncCache(MemoryStore(), namespace=uuid.uuid4().hex[:8])
            makers = [async_sessionmaker(e, expire_on_commit=False) for e in engines]
            for m in makers:
                bind_cache(m, cache)
            out = []
            for _ in range(3):
                for m in makers:
                    async with m() as s:
                        out.append([w.name for w in await WidgetRepository(session=s, cache=cache).get_many()])
            print(out, dict(cache.stats))
            assert out == [["a"], ["b"]] * 3, out

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-1500:]


# --- 7. MySQL's SET LOCAL is SET SESSION: it outlives the transaction ----------------------------------------


@pytest.mark.asyncmy
async def test_mysql_set_local_is_a_session_setting(my_db: str) -> None:
    engine = create_async_engine(
        my_db, pool_size=1, max_overflow=0, connect_args={"init_command": "SET time_zone = '+00:00'"}
    )
    cache = _cache()
    maker = async_sessionmaker(engine, expire_on_commit=False)
    bind_cache(maker, cache)

    async def hours(before: str | None = None) -> list[int]:
        async with maker() as session:
            if before is not None:
                await session.execute(text(before))
            rows = await StampRepository(session=session, cache=cache, auto_expunge=True).get_many()
            return [row.at.hour for row in rows]

    try:
        await hours()
        assert await hours() == [0]
        # MySQL/MariaDB: LOCAL is a synonym of SESSION; the only pooled connection keeps +09:00
        assert await hours("SET LOCAL time_zone = '+09:00'") == [9]
        async with engine.connect() as conn:  # control: the pooled connection still answers +09:00
            assert (await conn.execute(text("SELECT @@session.time_zone"))).scalar_one() == "+09:00"
        assert await hours() == [9], dict(cache.stats)
    finally:
        await engine.dispose()


# --- 8. PostgreSQL: a SET inside a DO block ---------------------------------------------------------------


@pytest.mark.asyncpg
async def test_set_search_path_in_a_do_block_is_seen(pg_dbs: tuple[str, str]) -> None:
    url = pg_dbs[0]
    seeder = create_async_engine(url)
    await _seed(seeder, "first")
    async with seeder.begin() as conn:
        await conn.execute(text("CREATE SCHEMA other"))
        await conn.execute(text("CREATE TABLE other.lak_r26_widget (id int primary key, name varchar(40))"))
        await conn.execute(text("INSERT INTO other.lak_r26_widget VALUES (1, 'other')"))
    await seeder.dispose()
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    cache = _cache()
    maker = async_sessionmaker(engine, expire_on_commit=False)
    bind_cache(maker, cache)
    try:
        await _names(maker, cache)
        assert await _names(maker, cache) == ["first"]
        async with maker() as session:  # a tenant switch done in a DO block, committed: stays with the connection
            await session.execute(text("DO $$ BEGIN SET search_path TO other; END $$"))
            await session.commit()
        async with engine.connect() as conn:  # control: the pooled connection now reads the other schema
            assert (await conn.execute(text("SELECT name FROM lak_r26_widget"))).scalar_one() == "other"
        assert await _names(maker, cache) == ["other"], dict(cache.stats)
        # the connection's reads were cached, not bypassed: a plain engine of the same database is served them
        plain = create_async_engine(url)
        plain_maker = async_sessionmaker(plain, expire_on_commit=False)
        bind_cache(plain_maker, cache)
        async with plain.connect():
            pass
        try:
            assert await _names(plain_maker, cache) == ["first"], dict(cache.stats)
        finally:
            await plain.dispose()
    finally:
        await engine.dispose()


# --- 9. regex misses: statements that do change settings, not seen ------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "# routed by the proxy\nUSE other",  # MySQL '#' comment
        "/*!40101 SET time_zone = '+09:00' */",  # MySQL executable comment
        "SET log_tenant.id = 'b'",  # a custom (RLS) setting whose prefix looks like a neutral name
        "SET enable_tenant.id = 'b'",
    ],
)
def test_statements_that_change_settings_are_seen(sql: str) -> None:
    install_session_listeners()
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        note_state(conn, sql)
        assert state_bypass(conn, engine) is not None
    engine.dispose()
