"""PostgreSQL's prepared transactions: their writes are delivered when they commit (async source; unasyncd generates sync).

``PREPARE TRANSACTION`` takes a transaction's writes out of its session, where a later rollback undoes nothing;
``COMMIT PREPARED`` commits them, from any connection or process. SQLAlchemy's two-phase API
(``Session(twophase=True)``, ``begin_twophase()``, ``commit_prepared()``) runs the same statements.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from sqlalchemy import text, update

from tests.integration.repository import _durable_async as durable
from tests.integration.repository._bridge import sync_call_async
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Item

FINISHERS = ("commit_prepared_statement", "commit_prepared_api")


def _gid() -> str:
    return f"lak_{uuid.uuid4().hex}"


async def _finish(env: Env, how: str, gid: str) -> None:
    """Commit (or roll back) prepared transaction ``gid`` from a connection of its own."""
    async with env.engine_object.connect() as conn:
        if how == "commit_prepared_api":  # SQLAlchemy's recovery route: a transaction prepared elsewhere
            await sync_call_async(conn, lambda sync: sync.commit_prepared(gid, recover=True))
            await conn.commit()
            return
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        verb = "ROLLBACK" if how == "rollback_prepared" else "COMMIT"
        await auto.execute(text(f"{verb} PREPARED '{gid}'"))


async def _drop_prepared(env: Env, gid: str) -> None:
    """A failed scenario leaves no prepared transaction behind (it would keep its database from being dropped)."""
    async with env.engine_object.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        left = await auto.execute(text("SELECT 1 FROM pg_prepared_xacts WHERE gid = :gid"), {"gid": gid})
        if left.first() is not None:
            await auto.execute(text(f"ROLLBACK PREPARED '{gid}'"))


async def prepare_statement_then_commit(env: Env, form: str, how: str) -> None:
    """``PREPARE TRANSACTION`` in a session, the session rolled back, the transaction committed from elsewhere."""
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await durable._seed(env)
    await durable._warm(env, reader_cache, item_id)
    gid = _gid()
    try:
        if form == "connection":
            async with env.engine_object.connect() as conn:
                await conn.execute(update(Item.__table__).values(name="after"))
                await conn.execute(text(f"PREPARE TRANSACTION '{gid}'"))
                await conn.rollback()
        else:
            async with env.bound(writer_cache)() as session:
                await durable._write(session, form, "after", item_id)
                await session.execute(text(f"PREPARE TRANSACTION '{gid}'"))
                await session.rollback()
        await durable._reads_match_database(env, reader_cache, item_id, ["before"])  # prepared: nothing committed yet
        await _finish(env, how, gid)
        await durable._reads_match_database(env, reader_cache, item_id, ["after"])
    finally:
        await _drop_prepared(env, gid)


async def prepared_elsewhere_then_committed(env: Env, how: str) -> None:
    """A transaction this process never saw (another process prepared it) is committed here: everything is stale."""
    import psycopg

    from tests._backends import libpq

    reader_cache = env.make_cache()
    env.bound(reader_cache)  # the reader's caches are registered for this database, as an application's are
    item_id = await durable._seed(env)
    await durable._warm(env, reader_cache, item_id)
    gid = _gid()
    url = env.engine_object.url.set(drivername="postgresql")
    try:
        with psycopg.connect(libpq(url)) as other:  # no SQLAlchemy: nothing of this process sees its writes
            other.execute(f"UPDATE {Item.__table__.name} SET name = 'after'")
            other.execute(f"PREPARE TRANSACTION '{gid}'")
        await durable._reads_match_database(env, reader_cache, item_id, ["before"])
        await _finish(env, how, gid)
        await durable._reads_match_database(env, reader_cache, item_id, ["after"])
    finally:
        await _drop_prepared(env, gid)


async def prepared_then_rolled_back(env: Env) -> None:
    """``ROLLBACK PREPARED``: nothing was committed, and the cache is left as it was."""
    cache = env.make_cache()
    item_id = await durable._seed(env)
    await durable._warm(env, cache, item_id)
    gid = _gid()
    try:
        async with env.bound(cache)() as session:
            await durable._write(session, "orm_update", "after", item_id)
            await session.execute(text(f"PREPARE TRANSACTION '{gid}'"))
            await session.rollback()
        await _finish(env, "rollback_prepared", gid)
    finally:
        await _drop_prepared(env, gid)
    hits = cache.stats["hit"]
    assert await durable._fresh_reads(env, cache, item_id) == ("before", ["before"])
    assert cache.stats["hit"] == hits + 2, "the rollback must leave the entries in place"


async def twophase_session(env: Env, form: str, route: str) -> None:
    """``Session(twophase=True)``: its commit prepares and commits; an explicit ``prepare()`` first changes nothing."""
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    item_id = await durable._seed(env)
    await durable._warm(env, reader_cache, item_id)
    factory = env.bound(writer_cache)
    factory.configure(twophase=True)
    async with factory() as session:
        await durable._write(session, form, "after", item_id)
        if route == "prepare_then_commit":
            await sync_call_async(session, lambda sync: sync.prepare())
        await session.commit()
        await durable._reads_match_database(env, reader_cache, item_id, ["after"])
    await durable._reads_match_database(env, reader_cache, item_id, ["after"])


def _prepare_on(sync: Any, xid: str) -> Any:
    transaction = sync.begin_twophase(xid)
    sync.execute(update(Item.__table__).values(name="after"))
    transaction.prepare()
    return transaction


async def twophase_connection(env: Env, route: str) -> None:
    """``Connection.begin_twophase()``, ``prepare()``, then its ``commit()``, or ``commit_prepared()`` elsewhere."""
    reader_cache = env.make_cache()
    env.bound(reader_cache)  # the reader's caches are registered for this database, as an application's are
    item_id = await durable._seed(env)
    await durable._warm(env, reader_cache, item_id)
    gid = _gid()
    try:
        async with env.engine_object.connect() as conn:
            transaction = await sync_call_async(conn, lambda sync: _prepare_on(sync, gid))
            await durable._reads_match_database(env, reader_cache, item_id, ["before"])
            if route == "commit":
                await sync_call_async(conn, lambda _sync: transaction.commit())
            else:  # committed by hand, as after a crash: this connection's own transaction is gone
                await _finish(env, "commit_prepared_api", gid)
                await conn.invalidate()
            await durable._reads_match_database(env, reader_cache, item_id, ["after"])
    finally:
        with contextlib.suppress(Exception):
            await _drop_prepared(env, gid)
    await durable._reads_match_database(env, reader_cache, item_id, ["after"])
