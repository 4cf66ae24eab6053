"""Writes through an engine on another database that change this one (async source; unasyncd generates sync).

MariaDB: a database is a schema of the server, so a connection whose URL names another database writes this
one's tables by qualified name (raw SQL, a ``Table`` with ``schema=``, a ``schema_translate_map``), or
unqualified after ``USE``. SQLite: a connection to another file writes this one once it is ``ATTACH``-ed. Each
write must invalidate the caches registered for this database, while a commit on the other database that
writes only its own tables must not reach them (a strict cache with its store down would refuse it).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from litestar_alchemy_kit.exceptions import CommitRefusedError
from litestar_alchemy_kit.orm.rawdml import register_engine, unregister_engine
from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository._bridge import sync_engine_of, unreachable_cache_async
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Item

ITEM = Item.__table__.name
FORMS = ("qualified_text", "translated_core", "qualified_table", "switched", "autocommit", "unbound_session")
ALIAS = "lak_here"  # SQLite: the name this database is attached under


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


async def _names(env: Env, cache: Any) -> list[str]:
    async with env.sessionmaker() as session:
        return sorted(item.name for item in await ItemRepository(session=session, cache=cache).get_many())


async def _warm(env: Env, cache: Any) -> list[str]:
    first = await _names(env, cache)
    hits = cache.stats["hit"]
    assert await _names(env, cache) == first
    assert cache.stats["hit"] == hits + 1, f"the second identical read must be a cache hit: {dict(cache.stats)}"
    return first


def _sqlite(env: Env) -> bool:
    return bool(env.engine_object.dialect.name == "sqlite")


@contextlib.asynccontextmanager
async def other_database(env: Env, *, attach: bool = True) -> AsyncIterator[tuple[Any, str]]:
    """An engine on another database (MariaDB: of the same server; SQLite: another file), and this one's name there.

    SQLite: ``attach`` attaches this database to each of its connections in a ``connect`` listener, as
    SQLAlchemy's documentation does it (no statement the kit sees).
    """
    url = env.engine_object.url
    suffix = uuid.uuid4().hex[:8]
    if _sqlite(env):
        path = f"{url.database}.{suffix}.other"
        other = create_async_engine(url.set(database=path))
        if attach:

            def attach_here(dbapi_connection: Any, record: Any) -> None:
                del record
                cursor = dbapi_connection.cursor()
                cursor.execute(f"ATTACH DATABASE '{url.database}' AS {ALIAS}")
                cursor.close()

            event.listen(sync_engine_of(other), "connect", attach_here)
        try:
            yield other, ALIAS
        finally:
            await other.dispose()
            Path(path).unlink(missing_ok=True)  # noqa: ASYNC240 - a test file removed once
        return
    name = f"{url.database}_x{suffix}"
    async with env.engine_object.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
        await conn.commit()
    other = create_async_engine(url.set(database=name))
    try:
        yield other, str(url.database)
    finally:
        await other.dispose()
        async with env.engine_object.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            await conn.commit()


async def _attach(env: Env, conn: Any) -> None:
    """SQLite: attach this database to ``conn`` in SQL (MariaDB's connections reach every database of the server)."""
    if _sqlite(env):
        await conn.exec_driver_sql(f"ATTACH DATABASE '{env.engine_object.url.database}' AS {ALIAS}")


async def _write(env: Env, other: Any, here: str, form: str) -> None:
    """Rename every item of this database to ``after`` through ``other`` (an engine on another database)."""
    if form == "unbound_session":  # a session bound to no cache: its commit is the connection's (rawdml._hold)
        factory = type(env.sessionmaker)(other.execution_options(schema_translate_map={None: here}))
        async with factory() as session:
            await session.execute(update(Item).values(name="after"))
            await session.commit()
        return
    options = {"isolation_level": "AUTOCOMMIT"} if form == "autocommit" else {}
    async with other.connect() as conn:
        conn = await conn.execution_options(**options)  # noqa: PLW2901
        if form in {"qualified_text", "autocommit"}:
            await conn.execute(text(f"UPDATE {here}.{ITEM} SET name = 'after'"))
        elif form == "translated_core":
            translated = await conn.execution_options(schema_translate_map={None: here})
            await translated.execute(update(Item.__table__).values(name="after"))
        elif form == "qualified_table":
            table = Table(ITEM, MetaData(), Column("name", String(50)), schema=here)
            await conn.execute(update(table).values(name="after"))
        else:  # "switched": MariaDB's USE, SQLite's ATTACH (an unqualified name is looked up in attached databases)
            if _sqlite(env):
                await _attach(env, conn)
            else:
                await conn.execute(text(f"USE {here}"))
            await conn.execute(text(f"UPDATE {ITEM} SET name = 'after'"))
        await conn.commit()


async def write_to_this_database_invalidates(env: Env, form: str) -> None:
    """A write to this database through an engine on another one invalidates this database's caches."""
    cache = env.make_cache()
    async with env.sessionmaker() as session:
        session.add(Item(name="before"))
        await session.commit()
    assert await _warm(env, cache) == ["before"]
    async with other_database(env, attach=form != "switched") as (other, here):
        await _write(env, other, here, form)
    assert await _names(env, cache) == ["after"]


async def commits_reach_the_databases_they_write(env: Env) -> None:
    """A strict cache of this database whose store is down: a commit on another database refuses only if it writes here."""
    async with env.sessionmaker() as session:
        session.add(Item(name="before"))
        await session.commit()
    engine = sync_engine_of(env.engine_object)
    async with other_database(env) as (other, here):
        refusing = unreachable_cache_async("strict", f"lakstrict{uuid.uuid4().hex[:8]}")
        register_engine(engine, refusing)
        try:
            async with other.connect() as conn:  # its own table: none of this database's caches' business
                await conn.execute(text("CREATE TABLE lak_own (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
                await conn.commit()
                await conn.execute(text("INSERT INTO lak_own (id, name) VALUES (1, 'x')"))
                await conn.commit()
            async with other.connect() as conn:
                await conn.execute(text(f"UPDATE {here}.{ITEM} SET name = 'after'"))
                with pytest.raises(CommitRefusedError, match="commit_policy='strict'"):
                    await conn.commit()
                await conn.rollback()
        finally:
            unregister_engine(engine, refusing)
            await refusing.close()
    async with env.sessionmaker() as session:  # the refused commit committed nothing
        assert (await session.execute(select(Item.name))).scalars().all() == ["before"]
