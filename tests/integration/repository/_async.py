"""The cache-safety invariants as scenarios, written once (async) and generated for sync by unasyncd.

Every scenario first proves the cache is really in use (a hit is counted), then shows the
invariant holds; each would fail if the behaviour it names broke.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from advanced_alchemy.filters import StatementFilter
from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.orm import selectinload

from litestar_alchemy_kit.orm import trust_execute_listener
from litestar_alchemy_kit.orm.statement import StatementInfo
from litestar_alchemy_kit.repository import CachedAsyncRepository
from litestar_alchemy_kit.service import CachedAsyncRepositoryService
from tests.integration.repository._bridge import run_inline, sync_call_async, sync_session_of
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Author, Book, Car, Item, Label, Vehicle


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


class AuthorRepository(CachedAsyncRepository[Author]):
    model_type = Author


class BookRepository(CachedAsyncRepository[Book]):
    model_type = Book


class LabelRepository(CachedAsyncRepository[Label]):
    model_type = Label


class VehicleRepository(CachedAsyncRepository[Vehicle]):
    model_type = Vehicle


class CarRepository(CachedAsyncRepository[Car]):
    model_type = Car


async def seed_items(env: Env, names: list[str], tenant: str = "a") -> list[Item]:
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session)
        items = await repo.add_many(
            [Item(name=name, quantity=i, tenant=tenant) for i, name in enumerate(names)], auto_commit=True
        )
        return list(items)


async def cached_names(env: Env, cache: Any, **kwargs: Any) -> list[str]:
    """Item names through the cache, after making sure the entry is warm (the second read hits)."""
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.get_many(**kwargs)
        hits = cache.stats["hit"]
        names = sorted(item.name for item in await repo.get_many(**kwargs))
        assert cache.stats["hit"] == hits + 1, "the second identical read must be a cache hit"
        return names


async def db_names(env: Env) -> list[str]:
    async with env.sessionmaker() as session:
        return sorted((await session.execute(select(Item.name))).scalars().all())


# --- 1. read after commit -------------------------------------------------------------------


async def read_after_commit_across_caches(env: Env, iterations: int) -> None:
    """A commit through one cache client is seen by the very next read through another, every time."""
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    (item,) = await seed_items(env, ["counter"])
    hits_before = reader_cache.stats["hit"]
    for i in range(1, iterations + 1):
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=reader_cache)
            assert (await repo.get(item.id)).quantity == i - 1
            assert (await repo.get(item.id)).quantity == i - 1  # a hit
            assert [row.quantity for row in await repo.get_many()] == [i - 1]
        async with env.sessionmaker() as session:
            writer = ItemRepository(session=session, cache=writer_cache)
            await writer.update(Item(id=item.id, quantity=i), auto_commit=True)
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=reader_cache)
            assert (await repo.get(item.id)).quantity == i
            assert [row.quantity for row in await repo.get_many()] == [i]
            assert await repo.count(Item.quantity == i) == 1
    assert reader_cache.stats["hit"] >= hits_before + iterations


# --- 4. every write counts ------------------------------------------------------------------


async def every_write_counts(env: Env) -> None:
    """Each kind of write invalidates cached lists, counts and gets of its table at commit."""
    cache = env.make_cache()
    await seed_items(env, ["a0", "a1", "a2"])

    async def check() -> None:
        assert await cached_names(env, cache) == await db_names(env)
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=cache)
            await repo.count()
            assert await repo.count() == len(await db_names(env))

    writes = env.bound(cache)

    async def repo_write(action: Any) -> None:
        await check()
        async with writes() as session:
            repo = ItemRepository(session=session, cache=cache)
            await action(repo, session)
        await check()

    async def add(repo: Any, session: Any) -> None:
        await repo.add(Item(name="b0"))
        await session.commit()

    async def add_auto_commit(repo: Any, session: Any) -> None:
        await repo.add(Item(name="b1"), auto_commit=True)

    async def add_many(repo: Any, session: Any) -> None:
        await repo.add_many([Item(name="b2"), Item(name="b3")], auto_commit=True)

    async def update_one(repo: Any, session: Any) -> None:
        target = await repo.get_one(name="a0")
        target.name = "a0-renamed"
        await repo.update(target, auto_commit=True)

    async def update_many(repo: Any, session: Any) -> None:
        rows = await repo.get_many(Item.name.in_(["b2", "b3"]))
        for row in rows:
            row.name = row.name + "-x"
        await repo.update_many(rows, auto_commit=True)

    async def upsert(repo: Any, session: Any) -> None:
        target = await repo.get_one(name="a1")
        await repo.upsert(Item(id=target.id, name="a1-upserted", quantity=7, tenant="a"), auto_commit=True)

    async def upsert_many(repo: Any, session: Any) -> None:
        target = await repo.get_one(name="a2")
        await repo.upsert_many(
            [Item(id=target.id, name="a2-upserted", quantity=1, tenant="a"), Item(name="c0", quantity=1, tenant="a")],
            auto_commit=True,
        )

    async def delete_one(repo: Any, session: Any) -> None:
        await repo.delete((await repo.get_one(name="b0")).id, auto_commit=True)

    async def delete_many(repo: Any, session: Any) -> None:
        await repo.delete_many([(await repo.get_one(name="b1")).id], auto_commit=True)

    async def delete_where(repo: Any, session: Any) -> None:
        await repo.delete_where(Item.name == "c0", auto_commit=True)

    async def plain_add(repo: Any, session: Any) -> None:
        session.add(Item(name="d0"))
        await session.commit()

    async def plain_delete(repo: Any, session: Any) -> None:
        row = (await session.execute(select(Item).where(Item.name == "d0"))).scalar_one()
        await session.delete(row)
        await session.commit()

    async def bulk_insert(repo: Any, session: Any) -> None:
        await session.execute(
            insert(Item), [{"name": "e0", "quantity": 0, "tenant": "a"}, {"name": "e1", "quantity": 0, "tenant": "a"}]
        )
        await session.commit()

    async def bulk_update(repo: Any, session: Any) -> None:
        await session.execute(update(Item).where(Item.name == "e0").values(name="e0-bulk"))
        await session.commit()

    async def bulk_delete(repo: Any, session: Any) -> None:
        await session.execute(delete(Item).where(Item.name == "e1"))
        await session.commit()

    for action in (
        add,
        add_auto_commit,
        add_many,
        update_one,
        update_many,
        upsert,
        upsert_many,
        delete_one,
        delete_many,
        delete_where,
        plain_add,
        plain_delete,
        bulk_insert,
        bulk_update,
        bulk_delete,
    ):
        await repo_write(action)


# --- 2. no uncommitted data; rollback changes nothing ---------------------------------------


async def rollback_changes_nothing(env: Env) -> None:
    cache = env.make_cache()
    await seed_items(env, ["a", "b"])
    before = await cached_names(env, cache)
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.add(Item(name="rolled-back"))
        target = await repo.get_one(name="a")
        target.name = "a-rolled-back"
        await repo.update(target)
        await session.rollback()
    hits = cache.stats["hit"]
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert sorted(item.name for item in await repo.get_many()) == before
    assert cache.stats["hit"] == hits + 1, "a rollback must leave the cached entry valid"


async def uncommitted_changes_bypass(env: Env) -> None:
    cache = env.make_cache()
    await seed_items(env, ["a", "b"])
    committed = await cached_names(env, cache)
    async with env.sessionmaker() as writer_session:
        writer = ItemRepository(session=writer_session, cache=cache)
        await writer.add(Item(name="uncommitted"))  # flushed, not committed
        bypass = cache.stats["bypass"]
        # The session sees its own write (not the cached entry), through a query never cached before...
        assert "uncommitted" in [item.name for item in await writer.get_many(order_by=(Item.name, True))]
        assert "uncommitted" in [item.name for item in await writer.get_many()]
        assert cache.stats["bypass"] >= bypass + 2
        # ...and an unflushed change is seen too (no hit skips the autoflush).
        pending = (await writer_session.execute(select(Item).where(Item.name == "a"))).scalar_one()
        pending.name = "a-pending"
        assert await writer.count(Item.name == "a-pending") == 1
        # Another session never sees uncommitted data through the cache.
        async with env.sessionmaker() as other:
            others = await ItemRepository(session=other, cache=cache).get_many()
            assert sorted(item.name for item in others) == committed
        await writer_session.rollback()
    # Nothing the writer read was published: the never-before-cached query is computed afresh.
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        descending = await repo.get_many(order_by=(Item.name, True))
        assert [item.name for item in descending] == sorted(committed, reverse=True)
        assert await repo.count(Item.name == "a-pending") == 0


# --- 3. no stale sets -----------------------------------------------------------------------


async def _commit_rename(env: Env, cache: Any, old: str, new: str) -> None:
    async with env.bound(cache)() as session:
        await session.execute(update(Item).where(Item.name == old).values(name=new))
        await session.commit()


async def slow_reader_never_installs_stale(env: Env, iterations: int) -> None:
    """The reader's query runs, then a writer commits, then the reader stores its (old) result.

    The interleaving is forced with a ``do_orm_execute`` hook: the reader's SELECT runs, its rows
    are fetched, and the writer commits before the reader's repository gets the rows back.
    """
    cache, writer_cache = env.make_cache(), env.make_cache()
    await seed_items(env, ["v0"])
    for i in range(iterations):
        old, new = f"v{i}", f"v{i + 1}"
        async with env.sessionmaker() as reader_session:
            fired: list[bool] = []

            def slow_select(state: Any, *, _fired: list[bool] = fired, _old: str = old, _new: str = new) -> Any:
                if not state.is_select or _fired:
                    return None
                _fired.append(True)
                frozen = state.invoke_statement().freeze()
                run_inline(_commit_rename(env, writer_cache, _old, _new))
                return frozen()

            # it returns the statement's own rows, only later: declared, so the read goes through the cache
            trust_execute_listener(slow_select)
            event.listen(sync_session_of(reader_session), "do_orm_execute", slow_select)
            reader = ItemRepository(session=reader_session, cache=cache)
            bypassed = cache.stats["bypass"]
            # a query of its own per iteration, so the reader misses and populates
            assert [item.name for item in await reader.get_many(Item.quantity > -1 - i)] == [old]
            assert fired, "the interleaving did not happen"
            assert cache.stats["bypass"] == bypassed, "the reader must go through the cache"
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=cache)
            assert [item.name for item in await repo.get_many(Item.quantity > -1 - i)] == [new], (
                "a stale result was installed"
            )


async def old_snapshot_never_installs_stale(env: Env) -> None:
    """A transaction whose snapshot predates a commit (REPEATABLE READ, SERIALIZABLE) must not populate."""
    cache, writer_cache = env.make_cache(), env.make_cache()
    await seed_items(env, ["before"])
    async with env.sessionmaker() as session:
        # Another query of the table gives its tags versions: the reader's miss below reads them with it.
        await ItemRepository(session=session, cache=cache).get_many(Item.quantity > -1)
    async with env.sessionmaker() as reader_session:
        # Open the transaction and its snapshot with a read of the same table.
        assert (await reader_session.execute(select(func.count()).select_from(Item))).scalar_one() == 1
        await _commit_rename(env, writer_cache, "before", "after")
        reader = ItemRepository(session=reader_session, cache=cache)
        await reader.get_many()  # whatever the snapshot shows, it must not become the cached value
        await reader_session.rollback()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert [item.name for item in await repo.get_many()] == ["after"]


# --- 5. every dependency counts ---------------------------------------------------------------


async def dependencies_count(env: Env) -> None:
    cache = env.make_cache()
    writes = env.bound(cache)
    async with writes() as session:
        labels = [Label(name="red"), Label(name="blue")]
        author = Author(name="ann", books=[Book(title="t1", labels=[labels[0]]), Book(title="t2")])
        session.add_all([author, Author(name="bob"), *labels])
        await session.commit()

    async def warm(make: Any) -> Any:
        async with env.sessionmaker() as session:
            await make(session)
            hits = cache.stats["hit"]
            value = await make(session)
            assert cache.stats["hit"] == hits + 1
            return value

    async def authors_with_books(session: Any) -> Any:
        return [
            (a.name, [b.title for b in a.books])
            for a in await AuthorRepository(session=session, cache=cache).get_many(order_by=(Author.name, False))
        ]

    async def books_joined(session: Any) -> Any:
        repo = BookRepository(
            session=session, cache=cache, statement=select(Book).join(Author).where(Author.name == "ann")
        )
        return sorted(b.title for b in await repo.get_many())

    async def books_subquery(session: Any) -> Any:
        repo = BookRepository(session=session, cache=cache)
        books = await repo.get_many(Book.author_id.in_(select(Author.id).where(Author.name == "ann")))
        return sorted(b.title for b in books)

    async def books_with_labels(session: Any) -> Any:
        repo = BookRepository(session=session, cache=cache)
        books = await repo.get_many(load=[selectinload(Book.labels)])
        return sorted((b.title, [lb.name for lb in b.labels]) for b in books)

    # selectin relationship declared on the model (lazy="selectin"): a book change invalidates authors
    assert await warm(authors_with_books) == [("ann", ["t1", "t2"]), ("bob", [])]
    async with writes() as session:
        await session.execute(update(Book).where(Book.title == "t2").values(title="t2-new"))
        await session.commit()
    assert await warm(authors_with_books) == [("ann", ["t1", "t2-new"]), ("bob", [])]

    # join and subquery: renaming the author changes which books match
    assert await warm(books_joined) == ["t1", "t2-new"]
    assert await warm(books_subquery) == ["t1", "t2-new"]
    async with writes() as session:
        await session.execute(update(Author).where(Author.name == "ann").values(name="anne"))
        await session.commit()
    assert await warm(books_joined) == []
    assert await warm(books_subquery) == []

    # many-to-many through a secondary table, loaded with load=
    assert await warm(books_with_labels) == [("t1", ["red"]), ("t2-new", [])]
    async with writes() as session:
        book = (
            await session.execute(select(Book).where(Book.title == "t2-new").options(selectinload(Book.labels)))
        ).scalar_one()
        blue = (await session.execute(select(Label).where(Label.name == "blue"))).scalar_one()
        book.labels.append(blue)
        await session.commit()
    assert await warm(books_with_labels) == [("t1", ["red"]), ("t2-new", ["blue"])]
    async with env.sessionmaker() as session:
        await LabelRepository(session=session, cache=cache).update(Label(id=blue.id, name="navy"), auto_commit=True)
    assert await warm(books_with_labels) == [("t1", ["red"]), ("t2-new", ["navy"])]


async def inheritance_counts(env: Env) -> None:
    """A joined-inheritance row spans two tables: a change to either invalidates reads of both."""
    cache = env.make_cache()
    writes = env.bound(cache)
    async with writes() as session:
        session.add_all([Car(doors=2, wheels=4), Vehicle(kind="vehicle", wheels=3)])
        await session.commit()

    async def cars(session: Any) -> Any:
        return [(c.doors, c.wheels) for c in await CarRepository(session=session, cache=cache).get_many()]

    async def warm(make: Any) -> Any:
        async with env.sessionmaker() as session:
            await make(session)
            hits = cache.stats["hit"]
            value = await make(session)
            assert cache.stats["hit"] == hits + 1
            return value

    assert await warm(cars) == [(2, 4)]
    async with writes() as session:
        car = (await session.execute(select(Car))).scalar_one()
        car.doors = 5
        await session.commit()
    assert await warm(cars) == [(5, 4)]
    async with writes() as session:
        await session.execute(update(Vehicle).where(Vehicle.kind == "car").values(wheels=6))
        await session.commit()
    assert await warm(cars) == [(5, 6)]
    async with env.sessionmaker() as session:
        assert sorted(v.wheels for v in await VehicleRepository(session=session, cache=cache).get_many()) == [3, 6]


# --- 6. scope isolation ----------------------------------------------------------------------


class NameIs(StatementFilter):
    """A custom AA filter whose repr() hides its value: AA's own cache keys collide on it."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "NameIs(...)"

    def append_to_statement(self, statement: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        return statement.where(model.name == self.value)


async def scopes_never_collide(env: Env) -> None:
    cache = env.make_cache()
    await seed_items(env, ["a1", "a2"], tenant="a")
    await seed_items(env, ["b1"], tenant="b")
    async with env.sessionmaker() as session:
        tenant_a = ItemRepository(
            session=session, cache=cache, scope="a", statement=select(Item).where(Item.tenant == "a")
        )
        tenant_b = ItemRepository(
            session=session, cache=cache, scope="b", statement=select(Item).where(Item.tenant == "b")
        )
        for _ in range(2):
            assert sorted(i.name for i in await tenant_a.get_many()) == ["a1", "a2"]
            assert sorted(i.name for i in await tenant_b.get_many()) == ["b1"]
            assert await tenant_a.count() == 2
            assert await tenant_b.count() == 1
        # the same base statement under two scopes: two entries
        shared_a = ItemRepository(session=session, cache=cache, scope="user-1")
        shared_b = ItemRepository(session=session, cache=cache, scope="user-2")
        await shared_a.get_many()
        misses = cache.stats["miss"]
        await shared_b.get_many()
        assert cache.stats["miss"] == misses + 1, "another scope must not hit this scope's entry"
        # bind_group and execution options are part of the key
        for options in ({"bind_group": "replica"}, {"execution_options": {"lak_marker": 1}}):
            misses = cache.stats["miss"]
            await shared_a.get_many(**options)
            assert cache.stats["miss"] == misses + 1, f"{options} must not share the plain entry"
        # custom filters never collide, whatever their repr()
        assert [i.name for i in await shared_a.get_many(NameIs("a1"))] == ["a1"]
        assert [i.name for i in await shared_a.get_many(NameIs("b1"))] == ["b1"]
        # loader options are part of the key: with books loaded vs not
        authors = AuthorRepository(session=session, cache=cache)
        await authors.get_many()
        misses = cache.stats["miss"]
        await authors.get_many(load=[selectinload(Author.books).selectinload(Book.labels)])
        assert cache.stats["miss"] >= misses + 1
        # a schema change (another deploy) never decodes old entries
        plain = ItemRepository(session=session, cache=cache)
        await plain.get_many()
        await plain.get_many()
        hits = cache.stats["hit"]
        changed = ItemRepository(session=session, cache=cache)
        changed._schema = "another-deploy"
        assert sorted(i.name for i in await changed.get_many()) == ["a1", "a2", "b1"]
        assert cache.stats["hit"] == hits


# --- 8. results behave like database results --------------------------------------------------


async def results_behave(env: Env) -> None:
    cache = env.make_cache()
    async with env.sessionmaker() as session:
        session.add(Author(name="ann", books=[Book(title="t1"), Book(title="t2")]))
        await session.commit()
    async with env.sessionmaker() as session:
        repo = AuthorRepository(session=session, cache=cache, auto_expunge=True)
        fresh = await repo.get_one(name="ann")
        hits = cache.stats["hit"]
        first = await repo.get_one(name="ann")
        second = await repo.get_one(name="ann")
        assert cache.stats["hit"] == hits + 2
    from sqlalchemy import inspect

    assert first is not second
    assert first.books[0] is not second.books[0]
    state = inspect(first)
    assert state.detached
    assert state.key == inspect(fresh).key
    assert [b.title for b in first.books] == ["t1", "t2"] == [b.title for b in second.books]
    assert all(inspect(b).detached and inspect(b).key is not None for b in first.books)
    first.name = "mutated"
    first.books.append(Book(title="local"))
    assert second.name == "ann"
    assert len(second.books) == 2
    async with env.sessionmaker() as session:
        repo = AuthorRepository(session=session, cache=cache, auto_expunge=True)
        third = await repo.get_one(name="ann")
        assert third.name == "ann"
        assert [b.title for b in third.books] == ["t1", "t2"]
        merged = await session.merge(third, load=False)
        assert merged in session
        merged.name = "renamed"
        await session.commit()
    async with env.sessionmaker() as session:
        repo = AuthorRepository(session=session, cache=cache)
        got = await repo.get(fresh.id)
        assert got.name == "renamed"
        got.name = "updated-through-repo"
        await repo.update(got, auto_commit=True)
        assert (await repo.get(fresh.id)).name == "updated-through-repo"
        # list_and_count: the same shape and values as the database path
        cached = await repo.get_many_and_count()
        cached = await repo.get_many_and_count()
        direct = await repo.get_many_and_count(use_cache=False)
        assert isinstance(cached, tuple)
        assert isinstance(cached[0], list)
        assert cached[1] == direct[1] == 1
        assert [a.id for a in cached[0]] == [a.id for a in direct[0]]
    async with env.sessionmaker() as session:
        # a hit added back to a session is a persistent row, not a new one to insert
        hit = await AuthorRepository(session=session, cache=cache).get(fresh.id)
        session.add(hit)
        await session.commit()
        assert (await session.execute(select(func.count()).select_from(Author))).scalar_one() == 1


async def _deprecated(call: Callable[[], Awaitable[Any]]) -> Any:
    with pytest.deprecated_call(match="get_many"):
        return await call()


async def reads_through_every_method(env: Env) -> None:
    """Each read method, with filters, kwargs, raw expressions, order_by and statement=, is cached."""
    cache = env.make_cache()
    items = await seed_items(env, ["a", "b", "c"])
    calls: list[Any] = [
        lambda repo: repo.get(items[0].id),
        lambda repo: repo.get_one(name="a"),
        lambda repo: repo.get_one_or_none(Item.name == "zzz"),
        lambda repo: repo.get_many(Item.quantity > 0, order_by=(Item.name, True)),
        # AA 1.12 deprecates these two aliases, but users still call them: they must be cached too.
        lambda repo: _deprecated(lambda: repo.list(NameIs("b"))),
        lambda repo: _deprecated(lambda: repo.list_and_count(Item.name.in_(["a", "c"]))),
        lambda repo: repo.get_many_and_count(statement=select(Item).where(Item.quantity < 2)),
        lambda repo: repo.count(Item.quantity >= 1),
        lambda repo: repo.exists(name="c"),
    ]
    for call in calls:
        # a session per read: under SERIALIZABLE / REPEATABLE READ only a transaction's first query populates
        async with env.sessionmaker() as session:
            first = await call(ItemRepository(session=session, cache=cache))
        async with env.sessionmaker() as session:
            hits = cache.stats["hit"]
            second = await call(ItemRepository(session=session, cache=cache))
            assert cache.stats["hit"] > hits
        assert _same_rows(first, second)
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        # use_cache=False per call and the per-repository switch
        hits, misses = cache.stats["hit"], cache.stats["miss"]
        await repo.get(items[0].id, use_cache=False)
        await repo.count(use_cache=False)
        off = ItemRepository(session=session, cache=cache, use_cache=False)
        await off.get(items[0].id)
        await off.get_many()
        assert (cache.stats["hit"], cache.stats["miss"]) == (hits, misses)


def _same_rows(first: Any, second: Any) -> bool:
    def ident(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(ident(v) for v in value)
        if isinstance(value, list):
            return [ident(v) for v in value]
        return getattr(value, "id", value)

    return bool(ident(first) == ident(second))


async def identity_map_never_installs_stale(env: Env) -> None:
    """A session holding an instance loaded before a concurrent commit must not publish that old state.

    A plain query returns the identity-mapped object without refreshing it; a populating read
    therefore refreshes (``populate_existing``) before labelling the rows with the new versions.
    """
    cache, writer_cache = env.make_cache(), env.make_cache()
    (item,) = await seed_items(env, ["before"])
    async with env.sessionmaker() as reader_session:
        # Bound before its first query: a session bound mid-transaction is untracked and never
        # populates, which would hide the refresh this scenario is about.
        reader = ItemRepository(session=reader_session, cache=cache)
        held = (await reader_session.execute(select(Item).where(Item.id == item.id))).scalar_one()
        await _commit_rename(env, writer_cache, "before", "after")
        await reader.get_many(Item.quantity >= 0)
        assert held.name in {"before", "after"}
        await reader_session.rollback()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert [i.name for i in await repo.get_many(Item.quantity >= 0)] == ["after"]


class ItemService(CachedAsyncRepositoryService[Item, ItemRepository]):
    repository_type = ItemRepository


async def services_cache_and_invalidate(env: Env) -> None:
    """The service API on a cached repository: reads hit, every write it makes is seen at once."""
    cache = env.make_cache()
    await seed_items(env, ["a", "b"])

    async def names(service: ItemService) -> list[str]:
        return sorted(i.name for i in await service.get_many())

    async with env.sessionmaker() as session:
        service = ItemService(session, cache=cache)
        assert await names(service) == ["a", "b"]
    async with env.sessionmaker() as session:
        hits = cache.stats["hit"]
        service = ItemService(session, cache=cache)
        assert await names(service) == ["a", "b"]
        assert cache.stats["hit"] == hits + 1
        created = await service.create({"name": "c", "quantity": 3, "tenant": "a"}, auto_commit=True)
    async with env.sessionmaker() as session:
        service = ItemService(session, cache=cache)
        assert await names(service) == ["a", "b", "c"]
        assert (await service.get(created.id)).quantity == 3
        await service.update({"quantity": 4}, item_id=created.id, auto_commit=True)
    async with env.sessionmaker() as session:
        service = ItemService(session, cache=cache)
        assert (await service.get(created.id)).quantity == 4
        assert (await service.get(created.id, use_cache=False)).quantity == 4
        total = await service.count()
        await service.delete(created.id, auto_commit=True)
    async with env.sessionmaker() as session:
        service = ItemService(session, cache=cache)
        assert await service.count() == total - 1
        assert await service.get_one_or_none(name="c") is None
        assert await service.exists(name="a")
        rows, count = await service.get_many_and_count()
        assert count == 2
        assert sorted(r.name for r in rows) == ["a", "b"]
    # built by code that knows nothing of caches (AA's new(), a provider) on a bound session: still cached
    async with env.bound(cache)() as session, ItemService.new(session=session) as service:
        await names(service)
        hits = cache.stats["hit"]
        assert await names(service) == ["a", "b"]
        assert cache.stats["hit"] == hits + 1


# --- 7. fail open, never fail wrong --------------------------------------------------------------


async def fail_open(env: Env, dead_cache: Any) -> None:
    """A store that cannot be reached is a miss, never an error; a corrupted entry is a miss."""
    (item,) = await seed_items(env, ["kept"])
    async with env.bound(dead_cache)() as session:
        repo = ItemRepository(session=session, cache=dead_cache)
        assert (await repo.get(item.id)).name == "kept"
        assert [i.name for i in await repo.get_many()] == ["kept"]
        await repo.update(Item(id=item.id, name="renamed"), auto_commit=True)  # the bump cannot be delivered
        assert (await repo.get(item.id)).name == "renamed"
        assert await repo.count() == 1
    assert dead_cache.stats["hit"] == 0
    cache = env.make_cache()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.get(item.id)
    base = repo._get_base
    assert isinstance(base, StatementInfo)
    assert repo._get_prefix is not None  # (the database it names, the prefix)
    key = repo._get_prefix[1].key(f"u{item.id.hex}")
    assert base.pk_lookup is not None
    row = base.pk_lookup.row(item.id)
    assert row is not None
    tags = (*base.pk_lookup.base, row)
    # where the entry is stored: the key itself, except on a cluster (its tags' slot group)
    await cache.backend.set(cache.stored_key(key, tags), b"\x00not an entry", None)
    errors = cache.stats["error"]
    async with env.sessionmaker() as session:
        assert (await ItemRepository(session=session, cache=cache).get(item.id)).name == "renamed"
    assert cache.stats["error"] == errors + 1, "the corrupted entry must have been read and refused"


async def unfingerprintable_reads_bypass(env: Env) -> None:
    """A non-deterministic statement is never cached under a guessed key: read each time, counted."""
    cache = env.make_cache()
    await seed_items(env, ["a", "b"])
    for _ in range(2):
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=cache)
            hits, bypass = cache.stats["hit"], cache.stats["bypass"]
            assert await repo.count(func.current_timestamp().is_not(None)) == 2
            assert len(await repo.get_many(func.current_timestamp().is_not(None))) == 2
            assert cache.stats["hit"] == hits
            assert cache.stats["bypass"] == bypass + 2


async def savepoint_release_is_not_a_commit(env: Env) -> None:
    """Releasing a SAVEPOINT publishes nothing: the tags are bumped when the outer transaction commits."""
    cache = env.make_cache()
    (item,) = await seed_items(env, ["before"])
    async with env.bound(cache)() as writer:
        async with writer.begin_nested():
            await writer.execute(update(Item).where(Item.id == item.id).values(name="after"))
        # Between the release and the commit, another session reads and populates (the old row).
        async with env.sessionmaker() as session:
            assert [i.name for i in await ItemRepository(session=session, cache=cache).get_many()] == ["before"]
        await writer.commit()
    async with env.sessionmaker() as session:
        assert [i.name for i in await ItemRepository(session=session, cache=cache).get_many()] == ["after"]


async def service_writes_read_the_database(env: Env) -> None:
    """A service update changes the row as stored, never a cached copy of it.

    The row is changed behind the cache's back (as another program would), so the cached copy is out of
    date; an update that started from it would write old values back.
    """
    cache = env.make_cache()
    (item,) = await seed_items(env, ["original"])
    async with env.sessionmaker() as session:
        service = ItemService(session, cache=cache)
        for _ in range(2):  # warm both the get(pk) shortcut and the statement AA's update reads with
            assert (await service.get(item.id)).name == "original"
            assert (await service.get(item.id, load=None)).name == "original"
    async with env.engine_object.connect() as conn:
        await sync_call_async(conn, _write_unseen("UPDATE lak_repo_item SET name = 'changed elsewhere'"))
    hits = cache.stats["hit"]
    async with env.sessionmaker() as session:
        await ItemService(session, cache=cache).update({"quantity": 9}, item_id=item.id, auto_commit=True)
    assert cache.stats["hit"] == hits, "the update must have read the row from the database"
    async with env.sessionmaker() as session:
        row = (await session.execute(select(Item.name, Item.quantity))).one()
        assert tuple(row) == ("changed elsewhere", 9)


def _write_unseen(sql: str) -> Any:
    """A write no listener of the kit sees, as another program's: straight on the DBAPI connection, committed."""

    def run(connection: Any) -> None:
        dbapi = connection.connection.dbapi_connection
        cursor = dbapi.cursor()
        cursor.execute(sql)
        cursor.close()
        dbapi.commit()

    return run


async def repository_update_reads_the_database(env: Env) -> None:
    """``update()`` on the repository loads the row it merges into from the database, never from the cache.

    AA's ``update`` reads the existing row with ``get()`` and merges the given object into it. Had that read
    come from the cache, the stale cached copy (changed behind the cache's back, as another program would)
    would be merged and its old ``name`` written back along with the new ``quantity``.
    """
    cache = env.make_cache()
    (item,) = await seed_items(env, ["original"])
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        for _ in range(2):  # warm both the get(pk) shortcut and the statement AA's update reads with
            assert (await repo.get(item.id)).name == "original"
            assert (await repo.get(item.id, load=None, with_for_update=None)).name == "original"
    async with env.engine_object.connect() as conn:
        await sync_call_async(conn, _write_unseen("UPDATE lak_repo_item SET name = 'changed elsewhere'"))
    hits = cache.stats["hit"]
    async with env.sessionmaker() as session:
        # a fresh session: nothing in its identity map answers the update's read
        await ItemRepository(session=session, cache=cache).update(Item(id=item.id, quantity=9), auto_commit=True)
    assert cache.stats["hit"] == hits, "the update must have read the row from the database"
    async with env.sessionmaker() as session:
        row = (await session.execute(select(Item.name, Item.quantity))).one()
        assert tuple(row) == ("changed elsewhere", 9)
