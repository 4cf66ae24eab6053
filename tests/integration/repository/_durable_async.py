"""Writes made durable by something other than their transaction's commit (async source; unasyncd generates sync).

``Connection.commit()`` on a session's connection, a ``COMMIT`` statement in SQL, and MySQL / MariaDB statements
that commit implicitly make a transaction's writes durable; a later rollback or close undoes none of them. The
cache must show them as soon as they are durable, and must go on showing what the database holds after it.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, select, text, update
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import create_async_engine

from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository._bridge import sync_call_async
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Item, Label

ITEM = Item.__table__.name
LABEL = Label.__table__.name
WRITES = ("flush", "orm_update", "text")
COMMIT_STATEMENTS = {"commit": "/* raw */ COMMIT;", "end": "END", "commit_work": "COMMIT WORK"}
IMPLICIT = ("create_table", "ddl_construct", "truncate_table", "lock_tables")
# MySQL / MariaDB spellings of turning autocommit on (each commits the open transaction, and every later statement)
AUTOCOMMIT_ON = {
    "plain": "SET autocommit=1",
    "on": "SET autocommit = ON",
    "system_variable": "SET @@autocommit=1",
    "session": "SET SESSION autocommit=1",
    "lowercase_true": "set AUTOCOMMIT=true",
    "among_assignments": "SET @lak_durable = 1, autocommit = 1",
    "expression": "SET autocommit = 0 + 1",
    "executable_comment": "/*!40101 SET autocommit=1 */",
}
SCRATCH = "lak_durable_scratch"
SQLITE_DRIVERS = frozenset({"aiosqlite", "sqlite"})
# each write, and whether SQLite's driver runs it with no transaction (CPython skips comments before the first word)
UNBEGUN_WRITE = {
    "cte": (f"WITH names AS (SELECT 'after' AS name) UPDATE {ITEM} SET name = (SELECT name FROM names)", True),
    "comment": (f"/* first */ UPDATE {ITEM} SET name = 'after'", False),
}


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


async def _seed(env: Env) -> uuid.UUID:
    async with env.sessionmaker() as session:
        item = Item(name="before")
        session.add(item)
        await session.commit()
        return item.id


async def _fresh_reads(env: Env, cache: Any, item_id: uuid.UUID) -> tuple[str, list[str]]:
    """``get(item_id)``'s name and every name, through ``cache`` in a new session."""
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        return (await repo.get(item_id)).name, sorted(item.name for item in await repo.get_many())


async def _warm(env: Env, cache: Any, item_id: uuid.UUID) -> None:
    """Read ``get(item_id)`` and the list until both are cache hits."""
    for _ in range(3):
        hits = cache.stats["hit"]
        assert await _fresh_reads(env, cache, item_id) == ("before", ["before"])
        if cache.stats["hit"] == hits + 2:
            return
    raise AssertionError(f"both reads must be cache hits before the write: {dict(cache.stats)}")


async def _database(env: Env) -> list[str]:
    async with env.engine_object.connect() as conn:
        return sorted((await conn.execute(select(Item.name))).scalars())


async def _write(session: Any, form: str, name: str, item_id: uuid.UUID) -> None:
    if form == "flush":
        item = await session.get(Item, item_id)
        item.name = name
        await session.flush()
    elif form == "orm_update":
        await session.execute(update(Item).values(name=name))
    else:
        await session.execute(text(f"UPDATE {ITEM} SET name = '{name}'"))


async def _reads_match_database(env: Env, cache: Any, item_id: uuid.UUID, expected: list[str] | None = None) -> None:
    database = await _database(env)
    if expected is not None:
        assert database == expected
    seen = await _fresh_reads(env, cache, item_id)
    assert seen == (database[0], database), f"the cache serves {seen}, the database holds {database}"


async def connection_commit_in_session(env: Env, form: str, end: str) -> None:
    """``(await session.connection()).commit()``: the session's writes are durable, whatever the session does next.

    Its later write runs in a new database transaction, which the session's rollback or close undoes.
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await _seed(env)
    await _warm(env, reader_cache, item_id)
    async with env.bound(writer_cache)() as session:
        await _write(session, form, "after", item_id)
        await (await session.connection()).commit()
        await _reads_match_database(env, reader_cache, item_id, ["after"])
        await _write(session, form, "later", item_id)
        if end == "rollback":
            # SQLAlchemy's own warning: the session's transaction was committed behind its back
            with pytest.warns(SAWarning, match="deassociated"):
                await session.rollback()
    await _reads_match_database(env, reader_cache, item_id, ["after"])


async def commit_statement(env: Env, form: str, sql: str) -> None:
    """A ``COMMIT`` statement commits what the transaction wrote so far; SQLAlchemy still counts it as open.

    The write after it runs in a new transaction (psycopg, MySQL drivers, SQLite), which the rollback undoes,
    or commits as it runs (asyncpg, DuckDB): either way the cache serves what the database holds.
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await _seed(env)
    await _warm(env, reader_cache, item_id)
    if form == "connection":
        async with env.engine_object.connect() as conn:
            await conn.execute(update(Item.__table__).values(name="after"))
            await conn.execute(text(sql))
            await _reads_match_database(env, reader_cache, item_id, ["after"])
            await conn.execute(update(Item.__table__).values(name="later"))
            await _reads_match_database(env, reader_cache, item_id)
            await conn.rollback()
    else:
        async with env.bound(writer_cache)() as session:
            await _write(session, form, "after", item_id)
            await session.execute(text(sql))
            await _reads_match_database(env, reader_cache, item_id, ["after"])
            await _write(session, form, "later", item_id)
            await _reads_match_database(env, reader_cache, item_id)
            await session.rollback()
    await _reads_match_database(env, reader_cache, item_id)


async def _implicit(session: Any, statement: str) -> None:
    if statement == "create_table":
        await session.execute(text(f"CREATE TABLE {SCRATCH} (x integer)"))
    elif statement == "ddl_construct":
        table = Table(SCRATCH, MetaData(), Column("x", Integer))
        await sync_call_async(await session.connection(), table.create)
    elif statement == "truncate_table":
        await session.execute(text(f"TRUNCATE TABLE {SCRATCH}"))
    else:
        await session.execute(text(f"LOCK TABLES {LABEL} WRITE"))
        await session.execute(text("UNLOCK TABLES"))


async def implicit_commit(env: Env, form: str, statement: str) -> None:
    """MySQL / MariaDB commit the open transaction before DDL, ``LOCK TABLES`` ...: its rollback undoes nothing."""
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await _seed(env)
    await _warm(env, reader_cache, item_id)
    if statement == "truncate_table":
        async with env.engine_object.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {SCRATCH} (x integer)"))
    try:
        async with env.bound(writer_cache)() as session:
            await _write(session, form, "after", item_id)
            await _implicit(session, statement)
            await session.rollback()
        await _reads_match_database(env, reader_cache, item_id, ["after"])
    finally:
        async with env.engine_object.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {SCRATCH}"))


async def released_savepoint(env: Env, form: str, *, begun: bool) -> None:
    """A ``begin_nested()`` block, then the session's rollback: the cache serves what the database holds.

    On SQLite with the driver's default transaction control a savepoint opened with no transaction open begins
    it, and its release commits (the rollback undoes nothing); elsewhere, or inside a transaction the driver began
    (``begun``: a write before the savepoint), the rollback undoes the block's write and the entries stay.
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await _seed(env)
    await _warm(env, reader_cache, item_id)
    async with env.bound(writer_cache)() as session:
        if begun:
            await session.execute(text(f"DELETE FROM {LABEL} WHERE 1 = 0"))
        async with session.begin_nested():
            await _write(session, form, "after", item_id)
        # durable as soon as the release committed it (SQLite), not only once the rollback shows it
        await _reads_match_database(env, reader_cache, item_id)
        await session.rollback()
    committed = env.engine in SQLITE_DRIVERS and not begun
    hits = reader_cache.stats["hit"]
    await _reads_match_database(env, reader_cache, item_id, ["after"] if committed else ["before"])
    if not committed:
        assert reader_cache.stats["hit"] == hits + 2, "nothing was committed: the entries must stay"


async def unbegun_write(env: Env, end: str) -> None:
    """A write the driver begins no transaction for, as a session's first statement: it commits as it runs.

    SQLite's driver begins one only before INSERT / UPDATE / DELETE / REPLACE, so a ``WITH ... UPDATE`` with none
    open is committed at once; a commented ``UPDATE`` is not (the kit delivers it early too: an extra invalidation)
    and the other databases undo both at the rollback.
    """
    sql, unbegun_on_sqlite = UNBEGUN_WRITE[end]
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await _seed(env)
    await _warm(env, reader_cache, item_id)
    async with env.bound(writer_cache)() as session:
        await session.execute(text(sql))
        await _reads_match_database(env, reader_cache, item_id)
        await session.rollback()
    committed = unbegun_on_sqlite and env.engine in SQLITE_DRIVERS
    await _reads_match_database(env, reader_cache, item_id, ["after"] if committed else ["before"])


async def driver_transaction_control(env: Env, control: str) -> None:
    """SQLite with the driver's ``isolation_level=None``: every write commits as it runs, unless a BEGIN opened one.

    ``"none"``: nothing begins a transaction, the session's rollback undoes nothing; ``"recipe"``: SQLAlchemy's
    documented recipe (``isolation_level=None`` and a ``begin`` listener that emits ``BEGIN``), where it does.
    """
    engine = create_async_engine(env.engine_object.url, connect_args={"isolation_level": None})
    if control == "recipe":
        event.listen(getattr(engine, "sync_engine", engine), "begin", _emit_begin)
    try:
        env = dataclasses.replace(env, engine_object=engine)
        reader_cache, writer_cache = env.make_cache(), env.make_cache()
        item_id = await _seed(env)
        await _warm(env, reader_cache, item_id)
        async with env.bound(writer_cache)() as session:
            await _write(session, "flush", "after", item_id)
            await _reads_match_database(env, reader_cache, item_id)  # under "none" durable as it ran
            await session.rollback()
        committed = control == "none"
        hits = reader_cache.stats["hit"]
        await _reads_match_database(env, reader_cache, item_id, ["after"] if committed else ["before"])
        if not committed:
            assert reader_cache.stats["hit"] == hits + 2, "nothing was committed: the entries must stay"
    finally:
        await engine.dispose()


def _emit_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


async def rollback_still_forgets(env: Env, form: str) -> None:
    """A transactional write rolled back after a statement that commits nothing leaves the cache as it was."""
    cache = env.make_cache()
    item_id = await _seed(env)
    await _warm(env, cache, item_id)
    async with env.bound(cache)() as session:
        await _write(session, form, "after", item_id)
        await session.execute(text("SELECT 1"))
        await session.rollback()
    hits = cache.stats["hit"]
    assert await _fresh_reads(env, cache, item_id) == ("before", ["before"])
    assert cache.stats["hit"] == hits + 2, "the rollback must leave the entries in place"


async def maybe_commit_keeps_the_tags(env: Env, form: str, sql: str) -> None:
    """A statement that may commit but does not: what it delivered early is delivered again by the real commit.

    A reader between that statement and the commit caches the old rows under the versions it bumped; the commit
    must bump them again.
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await _seed(env)
    await _warm(env, reader_cache, item_id)
    async with env.bound(writer_cache)() as session:
        await _write(session, form, "after", item_id)
        await session.execute(text(sql))
        await _reads_match_database(env, reader_cache, item_id, ["before"])  # nothing committed: cached again
        await _reads_match_database(env, reader_cache, item_id, ["before"])
        await session.commit()
    await _reads_match_database(env, reader_cache, item_id, ["after"])


async def autocommit_on(env: Env, form: str, sql: str) -> None:
    """``SET autocommit=1`` (MySQL / MariaDB) commits the open transaction, and every statement after it as it runs.

    The session's rollback then undoes nothing: what it wrote before and after must be delivered, not forgotten.
    The connection goes back to the pool with autocommit on (the engine is the test's own).
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await _seed(env)
    await _warm(env, reader_cache, item_id)
    if form == "connection":
        async with env.engine_object.connect() as conn:
            await conn.execute(update(Item.__table__).values(name="after"))
            await conn.execute(text(sql))
            await _reads_match_database(env, reader_cache, item_id, ["after"])
            await conn.execute(update(Item.__table__).values(name="later"))
            await _reads_match_database(env, reader_cache, item_id, ["later"])
            await conn.rollback()
    else:
        async with env.bound(writer_cache)() as session:
            await _write(session, form, "after", item_id)
            await session.execute(text(sql))
            await _reads_match_database(env, reader_cache, item_id, ["after"])
            await _write(session, form, "later", item_id)
            await _reads_match_database(env, reader_cache, item_id, ["later"])
            await session.rollback()
    await _reads_match_database(env, reader_cache, item_id, ["later"])


async def autocommit_off_again(env: Env) -> None:
    """``SET autocommit=0`` after it: writes wait for the commit again, and a rollback leaves the cache as it was."""
    cache = env.make_cache()
    item_id = await _seed(env)
    async with env.engine_object.connect() as conn:
        await conn.execute(text("SET autocommit=1"))
        await conn.execute(text("SET autocommit=0"))
        await conn.commit()
    await _warm(env, cache, item_id)
    async with env.bound(cache)() as session:
        await _write(session, "text", "after", item_id)
        await session.rollback()
    hits = cache.stats["hit"]
    assert await _fresh_reads(env, cache, item_id) == ("before", ["before"])
    assert cache.stats["hit"] == hits + 2, "the rollback must leave the entries in place"
