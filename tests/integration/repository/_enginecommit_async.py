"""Writes on engine connections no session owns, invalidated in two phases (async source; unasyncd generates sync).

Three ways an application commits through the engine: ``engine.begin()`` blocks, ``engine.connect()`` with
``commit()``, and ``AUTOCOMMIT`` connections. For each, a second cache on the same store (another process's
view) reads in the *window*: after the database committed, before the kit settled its markers. It must read
the committed rows and cache nothing; once settled, its reads hit again. Then the policies when the store
cannot take the markers: ``"strict"`` refuses the write (nothing committed, the connection still usable),
``"available"`` records it in the invalidation outbox, which another process drains.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, event, select, text, update
from sqlalchemy.pool import Pool

from litestar_alchemy_kit.exceptions import CommitRefusedError
from litestar_alchemy_kit.orm import rawdml
from litestar_alchemy_kit.orm.outbox import InvalidationOutbox, outbox_table
from litestar_alchemy_kit.orm.rawdml import register_engine, unregister_engine
from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository._bridge import (
    drain_outbox_async,
    run_inline,
    sync_call_async,
    sync_engine_of,
    unreachable_cache_async,
)
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Item

ITEM = Item.__table__.name
FORMS = ("begin", "connect_commit", "autocommit")


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


async def _names(env: Env, cache: Any) -> list[str]:
    async with env.sessionmaker() as session:
        return sorted(item.name for item in await ItemRepository(session=session, cache=cache).get_many())


async def _hits_twice(env: Env, cache: Any, expected: list[str]) -> None:
    """The first read may populate; the second must be a hit."""
    assert await _names(env, cache) == expected
    hits = cache.stats["hit"]
    assert await _names(env, cache) == expected
    assert cache.stats["hit"] == hits + 1, f"the second identical read must be a cache hit: {dict(cache.stats)}"


async def _seed(env: Env) -> None:
    async with env.sessionmaker() as session:
        session.add(Item(name="before"))
        await session.commit()


async def _database_names(env: Env) -> list[str]:
    async with env.engine_object.connect() as conn:
        return sorted((await conn.execute(select(Item.name))).scalars())


def _listen_first(target: Any, name: str, handler: Callable[..., None], kit: Callable[..., None]) -> Callable[[], None]:
    """Listen at class level ahead of the kit's listener ``kit`` (instance listeners run after class ones, and
    ``insert=True`` does not reorder class-level ``Engine`` listeners): re-registers the kit's after ours."""
    event.remove(target, name, kit)
    event.listen(target, name, handler)
    event.listen(target, name, kit)

    def stop() -> None:
        event.remove(target, name, handler)

    return stop


async def _write(env: Env, form: str, window: Callable[[], Any] | None = None) -> None:
    """Rename every item to ``after`` through an engine connection; ``window()`` runs once the database has
    committed, before the kit settles its markers."""
    engine = sync_engine_of(env.engine_object)
    armed: list[bool] = []

    def in_window(*args: Any) -> None:
        del args
        if armed and window is not None:
            armed.clear()
            run_inline(window())

    if form == "begin":
        # the block's exit commits, then returns the connection to the pool (checkin), where the kit settles
        stop = _listen_first(Pool, "checkin", in_window, rawdml._checkin)
        try:
            async with env.engine_object.begin() as conn:
                await conn.execute(update(Item.__table__).values(name="after"))
                armed.append(True)
        finally:
            stop()
    elif form == "connect_commit":
        async with env.engine_object.connect() as conn:
            await conn.execute(update(Item.__table__).values(name="after"))
            await conn.commit()
            if window is not None:
                await window()  # committed; the kit settles at the next begin or at checkin
    else:

        def after_update(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            del cursor, args
            if conn.engine.pool is engine.pool and statement.startswith("UPDATE"):
                in_window()

        stop = _listen_first(Engine, "after_cursor_execute", after_update, rawdml._after_cursor_execute)
        try:
            async with env.engine_object.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                armed.append(True)
                await conn.execute(text(f"UPDATE {ITEM} SET name = 'after'"))
        finally:
            stop()
    assert not armed or window is None, "the window never opened"


async def engine_write_is_marked_until_settled(env: Env, form: str) -> None:
    """In the window another process neither hits the old entry nor caches; after it, caching resumes."""
    reader, other = env.make_cache(), env.make_cache()
    await _seed(env)
    await _hits_twice(env, reader, ["before"])
    seen: list[list[str]] = []

    async def window() -> None:
        hits, marked = other.stats["hit"], other.bypass_reasons.get("invalidation_marked", 0)
        seen.append(await _names(env, other))
        seen.append(await _names(env, other))  # nothing was populated by the first read
        seen.append(await _names(env, reader))  # the entry from before the commit is not served
        assert other.stats["hit"] == hits
        assert other.bypass_reasons["invalidation_marked"] == marked + 2

    await _write(env, form, window)
    assert seen == [["after"]] * 3
    await _hits_twice(env, other, ["after"])  # settled: not held off until the markers expire
    await _hits_twice(env, reader, ["after"])


async def engine_strict_refuses(env: Env, form: str) -> None:
    """A marker the store does not take refuses the write: nothing committed, the connection usable again."""
    cache = env.make_cache()
    await _seed(env)
    await _hits_twice(env, cache, ["before"])
    engine = sync_engine_of(env.engine_object)
    refusing = unreachable_cache_async("strict", f"lakstrict{uuid.uuid4().hex[:8]}")
    register_engine(engine, refusing)
    try:
        if form == "connect_commit":
            async with env.engine_object.connect() as conn:
                await conn.execute(update(Item.__table__).values(name="after"))
                with pytest.raises(CommitRefusedError, match="commit_policy='strict'"):
                    await conn.commit()
                await conn.rollback()
                unregister_engine(engine, refusing)
                # the refused UPDATE was rolled back in the database, not only in SQLAlchemy's bookkeeping
                await conn.execute(text("SELECT 1"))
                await conn.commit()
        else:
            with pytest.raises(CommitRefusedError, match="commit_policy='strict'"):
                await _write(env, form)
    finally:
        unregister_engine(engine, refusing)
        await refusing.close()
    assert await _database_names(env) == ["before"]
    await _hits_twice(env, cache, ["before"])  # the lifted markers cost one miss, nothing else


async def engine_available_records_the_outbox(env: Env, form: str) -> None:
    """The writer cannot reach the store: its write commits with an outbox row another process drains."""
    reader = env.make_cache()
    table = outbox_table(MetaData())
    async with env.engine_object.begin() as conn:
        await sync_call_async(conn, table.metadata.create_all)
    engine = sync_engine_of(env.engine_object)
    writer = unreachable_cache_async("available", reader.namespace)
    outbox = InvalidationOutbox(table, staleness_bound=60.0)
    try:
        # the writer is another process, with an outbox of its own on the table (one outbox delivers a namespace's
        # rows to every cache attached to it)
        InvalidationOutbox(table, staleness_bound=60.0).attach(writer)
        outbox.attach(reader)
        await _seed(env)
        assert await drain_outbox_async(outbox, env.engine_object, reader)
        await _hits_twice(env, reader, ["before"])
        # The reader stands for another process: only the outbox can reach it.
        unregister_engine(engine, reader)
        register_engine(engine, writer)
        await _write(env, form)
        unregister_engine(engine, writer)
        async with env.engine_object.connect() as conn:
            rows = (await conn.execute(select(table))).all()
        # under AUTOCOMMIT one row before the statement and one after it (the first commits on its own, before the
        # write: a drain may take it too early, enginecommit.settle); one row in a transaction
        assert len(rows) == (2 if form == "autocommit" else 1), rows
        for row in rows:
            assert row.namespace == reader.namespace
            assert ITEM in row.tags
        assert await _names(env, reader) == ["before"], "before the drain the reader still hits the old entry"
        assert await drain_outbox_async(outbox, env.engine_object, reader)
        await _hits_twice(env, reader, ["after"])
        async with env.engine_object.connect() as conn:
            assert (await conn.execute(select(table))).all() == []
    finally:
        # Neither cache may outlive the test registered on this database with the outbox attached: later
        # writes through any engine of the database (the sync tests share it) would record into the dropped table.
        for cache in (writer, reader):
            unregister_engine(engine, cache)
            await cache.close()
        async with env.engine_object.begin() as conn:
            await sync_call_async(conn, table.metadata.drop_all)


XA_FORMS = ("prepared", "one_phase")


async def two_phase_commit_invalidates(env: Env, form: str) -> None:
    """A two-phase (XA) transaction on an engine connection: its commit invalidates like a plain one."""
    reader = env.make_cache()
    await _seed(env)
    await _hits_twice(env, reader, ["before"])

    def xa_write(conn: Any) -> None:
        xa = conn.begin_twophase()
        conn.execute(text(f"UPDATE {ITEM} SET name = 'after'"))
        if form == "prepared":
            xa.prepare()
        xa.commit()

    async with env.engine_object.connect() as conn:
        await sync_call_async(conn, xa_write)
    assert await _database_names(env) == ["after"]
    cached = await _names(env, reader)
    assert cached == ["after"], f"stale after the two-phase commit: {cached}"
    await _hits_twice(env, reader, ["after"])


async def two_phase_strict_refuses(env: Env, form: str) -> None:
    """A marker the store does not take refuses a two-phase commit: nothing committed, the connection usable.

    Prepared: refused before the ``XA PREPARE`` (the transaction is left to the caller's rollback); committed
    unprepared: refused before the ``XA COMMIT``, the XA transaction rolled back.
    """
    cache = env.make_cache()
    await _seed(env)
    await _hits_twice(env, cache, ["before"])
    engine = sync_engine_of(env.engine_object)
    refusing = unreachable_cache_async("strict", f"lakstrict{uuid.uuid4().hex[:8]}")
    register_engine(engine, refusing)

    def xa_write(conn: Any) -> None:
        xa = conn.begin_twophase()
        conn.execute(text(f"UPDATE {ITEM} SET name = 'after'"))
        try:
            with pytest.raises(CommitRefusedError, match="commit_policy='strict'"):
                (xa.prepare if form == "prepared" else xa.commit)()
        finally:
            unregister_engine(engine, refusing)
        xa.rollback()  # SQLAlchemy's bookkeeping (the XA transaction itself is rolled back already when unprepared)
        conn.execute(text("SELECT 1"))  # the connection is usable again
        conn.commit()

    try:
        async with env.engine_object.connect() as conn:
            await sync_call_async(conn, xa_write)
    finally:
        unregister_engine(engine, refusing)
        await refusing.close()
    assert await _database_names(env) == ["before"]
    await _hits_twice(env, cache, ["before"])
