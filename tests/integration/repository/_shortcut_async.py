"""The ``get(pk)`` shortcut and populating reads inside transactions (async source; sync generated).

``get(pk)`` with the repository's defaults skips building a statement on a hit: it has its own
uncommitted-writes check and its own key, so these scenarios exercise it on purpose (invariants
2 and 6). The slow-reader interleaving of invariant 3 runs again on sessions whose connections
take a snapshot per statement, the one setting under which a read inside an open transaction may
populate on every engine.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import set_committed_value

from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository._bridge import sync_call_async, sync_engine_of
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Author, Book, Item


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


class AuthorRepository(CachedAsyncRepository[Author]):
    model_type = Author


def populating_level(engine: str) -> str | None:
    """An isolation level under which each statement sees commits made before it (``None``: the default does)."""
    if engine in {"sqlite", "aiosqlite"}:
        return "AUTOCOMMIT"  # SQLite has no READ COMMITTED; each statement is its own transaction
    if engine in {"asyncmy", "pymysql"}:
        return "READ COMMITTED"
    return None  # PostgreSQL: READ COMMITTED is the default (DuckDB has no levels to choose from)


def populating_env(env: Env, level: str | None) -> Env:
    """``env`` on connections at ``level`` (as an execution option: what each connection reports)."""
    if level is None:
        return env
    engine = env.engine_object.execution_options(isolation_level=level)
    return Env(type(env.sessionmaker)(engine, expire_on_commit=False), env.make_cache, env.engine, engine)


async def seed_item(env: Env, name: str) -> Item:
    async with env.sessionmaker() as session:
        item = Item(name=name, quantity=0)
        session.add(item)
        await session.commit()
        return item


async def _get_name(env: Env, cache: Any, item_id: Any) -> str:
    async with env.sessionmaker() as session:
        return (await ItemRepository(session=session, cache=cache).get(item_id)).name


async def primary_key_read_sees_own_uncommitted_update(env: Env) -> None:
    """A warm ``get(pk)`` entry is not served to a session holding a flushed, uncommitted update of the row."""
    cache = env.make_cache()
    item = await seed_item(env, "committed")
    assert await _get_name(env, cache, item.id) == "committed"
    hits = cache.stats["hit"]
    assert await _get_name(env, cache, item.id) == "committed"
    assert cache.stats["hit"] == hits + 1, "the entry must be warm"
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.update(Item(id=item.id, name="mine, uncommitted"))  # flushed, not committed
        hits = cache.stats["hit"]
        assert (await repo.get(item.id)).name == "mine, uncommitted"
        assert cache.stats["hit"] == hits
        await session.rollback()
    assert await _get_name(env, cache, item.id) == "committed"


async def primary_key_read_never_publishes_uncommitted(env: Env) -> None:
    """A cold ``get(pk)`` in a session with a flushed update must not populate: after a rollback others
    would read a value that was never committed. Run on connections that let a read inside a
    transaction populate, so only the uncommitted-writes check stands in the way."""
    cache = env.make_cache()
    item = await seed_item(env, "committed")
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.update(Item(id=item.id, name="rolled back"))  # flushed, not committed
        assert (await repo.get(item.id)).name == "rolled back"
        await session.rollback()
    assert await _get_name(env, cache, item.id) == "committed"
    # the same read in a transaction with no writes does populate here (so the check above can fail)
    other = env.make_cache()
    async with env.sessionmaker() as session:
        await session.execute(select(Item.id))  # the transaction is open
        await ItemRepository(session=session, cache=other).get(item.id)
    hits = other.stats["hit"]
    assert await _get_name(env, other, item.id) == "committed"
    assert other.stats["hit"] == hits + 1, "a read inside a transaction must populate on these connections"


async def primary_key_read_follows_bind_group(env: Env, routed: Any, other_engine: Any) -> None:
    """``get(pk)`` on a repository with ``bind_group`` reads that group's database, under keys of its own.

    ``routed`` makes sessions sending ``bind_group="other"`` statements to ``other_engine``, a second
    database holding the same primary key with another value.
    """
    cache = env.make_cache()
    item_id = uuid.uuid4()
    async with env.sessionmaker() as session:
        session.add(Item(id=item_id, name="default bind", quantity=1))
        await session.commit()
    async with type(env.sessionmaker)(other_engine)() as session:
        session.add(Item(id=item_id, name="other bind", quantity=2))
        await session.commit()

    async def read(bind_group: str | None) -> str:
        async with routed() as session:
            repo = ItemRepository(session=session, cache=cache, bind_group=bind_group)
            return (await repo.get(item_id)).name

    for first, second in ((None, "other"), ("other", None)):
        for _ in range(2):  # cold, then warm
            assert await read(first) == ("other bind" if first else "default bind")
            assert await read(second) == ("other bind" if second else "default bind")
        await cache.clear()
    hits = cache.stats["hit"]
    await read("other")
    assert await read("other") == "other bind"
    assert cache.stats["hit"] == hits + 1, "the bind group's entry must be cached"


async def reads_inside_transactions_populate(env: Env) -> None:
    """On these connections a read inside an open transaction populates the cache.

    Otherwise labelling entries with versions read after the query, instead of before, would go
    unnoticed by the slow-reader interleaving run on them.
    """
    cache = env.make_cache()
    async with env.sessionmaker() as session:
        await session.execute(select(Item.id))  # the transaction is open
        expected = sorted(i.name for i in await ItemRepository(session=session, cache=cache).get_many())
    async with env.sessionmaker() as session:
        hits = cache.stats["hit"]
        assert sorted(i.name for i in await ItemRepository(session=session, cache=cache).get_many()) == expected
        assert cache.stats["hit"] == hits + 1, "a read inside a transaction must populate on these connections"


async def attached_reads_come_from_the_session(env: Env) -> None:
    """``auto_expunge=False`` (AA's default) gets the session's own instances, from the cache without SQL.

    A hit is merged into the session: the instance is in it, the same object as the session's for
    the same row (as a query returns it), lazy relationships load, and a change commits.
    """
    cache = env.make_cache()
    item = await seed_item(env, "row")
    async with env.sessionmaker() as session:  # populate get(pk) (a first read populates)
        await ItemRepository(session=session, cache=cache).get(item.id)
    async with env.sessionmaker() as session:  # and get_many
        await ItemRepository(session=session, cache=cache).get_many()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        hits = cache.stats["hit"]
        first = await repo.get(item.id)
        assert first in session
        listed = await repo.get_many()
        assert listed == [first], "the session's own instance, as a query returns it"
        assert await repo.get(item.id) is first
        assert cache.stats["hit"] == hits + 3, "attached reads must be cache hits"
        first.name = "changed"
        await session.commit()
    async with env.sessionmaker() as session:
        assert (await ItemRepository(session=session, cache=cache).get(item.id)).name == "changed"
    async with env.sessionmaker() as session:
        session.add(Author(name="lazy", books=[Book(title="b1")]))
        await session.commit()
    hits = cache.stats["hit"]
    for _ in range(2):  # the second read hits; the lazy collection loads through the session
        async with env.sessionmaker() as session:
            repo = AuthorRepository(session=session, cache=cache, load=[lazyload(Author.books)])
            author = await repo.get_one(name="lazy")
            assert author in session
            titles = await sync_call_async(session, lambda _, author=author: [book.title for book in author.books])
            assert titles == ["b1"]
    assert cache.stats["hit"] == hits + 1


async def attached_hits_behave_like_a_query(env: Env) -> None:
    """An attached hit is what the query it replaces returns, and runs no SQL.

    The instance the session holds for a row is the one returned, its loaded values as they are (with
    ``populate_existing``: overwritten by the entry's);
    attributes it has not loaded (expired) get the cached committed values; the attached rows carry
    no history, so a commit without changes writes nothing and a change writes only its column; an
    eagerly loaded relationship points at the session's own instances.
    """
    cache = env.make_cache()
    first, second = await seed_item(env, "first"), await seed_item(env, "second")
    async with env.sessionmaker() as session:
        author = Author(name="eager", books=[Book(title="b1"), Book(title="b2")])
        session.add(author)
        await session.commit()
    for _ in range(2):  # populate, then check the entries are warm (a session per read: SQLite's populates)
        hits = cache.stats["hit"]
        async with env.sessionmaker() as session:
            await ItemRepository(session=session, cache=cache).get(first.id)
        async with env.sessionmaker() as session:
            await ItemRepository(session=session, cache=cache).get_many()
        async with env.sessionmaker() as session:
            await AuthorRepository(session=session, cache=cache).get_many()
    assert cache.stats["hit"] == hits + 3, "the entries must be warm"
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = sync_engine_of(env.engine_object)
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=cache)
            held = (await session.execute(select(Item).where(Item.id == first.id))).scalar_one()
            set_committed_value(held, "name", "local")  # a loaded value the session holds, clean in its eyes
            statements.clear()
            hits = cache.stats["hit"]
            listed = await repo.get_many()
            assert held in listed, "the session's own instance, as a query returns it"
            assert held.name == "local", "a query without populate_existing leaves loaded values as they are"
            other = next(item for item in listed if item.id == second.id)
            assert other in session
            refreshing = {"populate_existing": True}  # not part of the key: the same entry, read as that query
            assert held in await repo.get_many(execution_options=refreshing)
            assert held.name == "first", "a query with populate_existing overwrites loaded values"
            set_committed_value(held, "name", "local")
            assert (
                await ItemRepository(session=session, cache=cache, execution_options=refreshing).get(first.id) is held
            )
            assert held.name == "first", "so does get(pk) on a repository whose statements populate existing"
            session.expire(held)
            assert await repo.get(first.id) is held
            assert held.name == "first", "an expired attribute is filled from the entry"
            (cached_author,) = await AuthorRepository(session=session, cache=cache).get_many()
            assert cached_author in session
            assert [book.title for book in cached_author.books] == ["b1", "b2"]
            assert all(book in session for book in cached_author.books)
            assert cache.stats["hit"] == hits + 5, "attached reads must be cache hits"
            assert statements == [], f"attached hits run no SQL: {statements}"
            await session.commit()
            assert not [s for s in statements if "UPDATE" in s.upper()], "unchanged attached rows are not written"
            other.quantity = 41
            await session.commit()
            updates = [s for s in statements if "UPDATE" in s.upper()]
            assert len(updates) == 1, updates
            assert "quantity" in updates[0]
            assert "name" not in updates[0].split("WHERE")[0], "only the changed column is written"
        async with env.sessionmaker() as session:
            # a book the session already holds: the cached author's collection points at it
            book = (await session.execute(select(Book).where(Book.title == "b1"))).scalar_one()
            statements.clear()
            (cached_author,) = await AuthorRepository(session=session, cache=cache).get_many()
            assert statements == [], f"the author was a hit: {statements}"
            assert cached_author.books[0] is book
    finally:
        event.remove(engine, "before_cursor_execute", record)
