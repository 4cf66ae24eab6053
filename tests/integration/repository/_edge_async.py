"""Adversarial scenarios from the review of the cached repositories (async source; sync generated).

Each one tries to make the cache serve a value the database would not return, or to lose an
invalidation, on a real engine and store.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import selectinload

from litestar_alchemy_kit.cache import AsyncCache, AsyncMemoryBackend, CacheOptions
from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository._bridge import sync_session_of
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Author, Book, Genre, Item, Label, Note, Shelf, Typed

ITEM_ANY = "t:lak_repo_item:any"
"""What a unit-of-work write of an item bumps besides the rows' tags (never the coarse tag)."""


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


class BookRepository(CachedAsyncRepository[Book]):
    model_type = Book


class TypedRepository(CachedAsyncRepository[Typed]):
    model_type = Typed


class NoteRepository(CachedAsyncRepository[Note]):
    model_type = Note


async def seed_items(env: Env, names: list[str]) -> list[Item]:
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session)
        return list(await repo.add_many([Item(name=name, quantity=0) for name in names], auto_commit=True))


TYPED_VALUES: dict[str, Any] = {
    "number": 7,
    "ratio": 0.5,
    "flag": True,
    "text": "t",
    "price": decimal.Decimal("2.50"),
    "at_naive": datetime.datetime(2021, 5, 6, 7, 8, 9),  # noqa: DTZ001 - a naive column
    "at_utc": datetime.datetime(2021, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
    "day": datetime.date(2021, 5, 6),
    "clock": datetime.time(7, 8, 9),
    "span": datetime.timedelta(days=2, seconds=5),
    "token": uuid.UUID(int=5),
    "genre": Genre.SCIENCE,
    "blob": b"\x00\x01",
    "data": {"a": [1, 2.5, True, None]},
    "doc": [1, {"b": "c"}],
}


def _same_value(column: str, cached: Any, stored: Any) -> None:
    assert cached == stored, column
    assert type(cached) is type(stored) or (isinstance(stored, uuid.UUID) and type(cached) is uuid.UUID), column
    if isinstance(stored, datetime.datetime):
        assert cached.utcoffset() == stored.utcoffset(), column
        assert cached.replace(tzinfo=None) == stored.replace(tzinfo=None), column


async def column_types_round_trip(env: Env) -> None:
    """Rows with NULL and with values in every typed column are cached, and come back exactly.

    Single-row inserts leave AA's ``sa_orm_sentinel`` NULL: such rows used to be undecodable, so
    their entries were a miss on every read.
    """
    cache = env.make_cache()
    async with env.sessionmaker() as session:
        repo = TypedRepository(session=session, cache=cache)
        await repo.add(Typed(), auto_commit=True)
        values = dict(TYPED_VALUES)
        if env.engine == "duckdb":
            values["at_utc"] = None  # duckdb reads TIMESTAMP WITH TIME ZONE only with pytz installed
        await repo.add(Typed(**values), auto_commit=True)
    async with env.sessionmaker() as session:
        stored = {row.id: row for row in await TypedRepository(session=session, cache=cache).get_many(use_cache=False)}
        assert len(stored) == 2
    # a session of its own: a read that opens the transaction may populate on every isolation level
    async with env.sessionmaker() as session:
        repo = TypedRepository(session=session, cache=cache)
        await repo.get_many()
        hits = cache.stats["hit"]
        cached = {row.id: row for row in await repo.get_many()}
        assert cache.stats["hit"] == hits + 1, "the list must be served from the cache"
    for pk, row in stored.items():
        async with env.sessionmaker() as session:
            await TypedRepository(session=session, cache=cache).get(pk)
        async with env.sessionmaker() as session:
            hits = cache.stats["hit"]
            single = await TypedRepository(session=session, cache=cache).get(pk)
            assert cache.stats["hit"] == hits + 1, "get(pk) must be served from the cache"
        for copy in (cached[pk], single):
            for attr in sa_inspect(Typed).column_attrs:
                _same_value(attr.key, getattr(copy, attr.key), getattr(row, attr.key))


async def repeated_commit_bumps_once(env: Env) -> None:
    """A second ``commit()`` with nothing pending (the errors package's commit guard, then AA's
    autocommit handler) bumps nothing and raises nothing; a write after it is still invalidated."""
    cache = env.make_cache()
    bumped: list[list[str]] = []
    deliver = cache.bump

    async def recording_bump(tags: Any, marker: str | None = None) -> bool:
        tags = sorted(tags)
        bumped.append(tags)
        return bool(await deliver(tags, marker=marker))

    cache.bump = recording_bump
    commits: list[bool] = []
    async with env.bound(cache)() as session:
        event.listen(sync_session_of(session), "after_commit", lambda _session: commits.append(True))
        repo = ItemRepository(session=session, cache=cache)
        session.add(Item(name="first"))
        await session.commit()
        await session.commit()
        assert len(commits) == 2, "both commits must have fired after_commit"
        assert [ITEM_ANY in tags for tags in bumped] == [True], "one bump, with the rows' fine tags"
        assert [i.name for i in await repo.get_many()] == ["first"]
        assert [i.name for i in await repo.get_many()] == ["first"]  # warm: a hit
        session.add(Item(name="second"))
        await session.flush()
        await session.commit()
        await session.commit()
        await session.commit()
    assert [ITEM_ANY in tags and "t:lak_repo_item" not in tags for tags in bumped] == [True, True]
    async with env.sessionmaker() as session:
        assert sorted(i.name for i in await ItemRepository(session=session, cache=cache).get_many()) == [
            "first",
            "second",
        ]


async def other_session_commits_while_reader_is_open(env: Env) -> None:
    """A writer on another session commits while a reader's transaction is open; nothing stale is
    served to anyone afterwards, whatever the reader's snapshot showed it."""
    cache, writer_cache = env.make_cache(), env.make_cache()
    (item,) = await seed_items(env, ["v0"])
    async with env.sessionmaker() as reader_session:
        reader = ItemRepository(session=reader_session, cache=cache)
        assert (await reader.get(item.id)).name == "v0"
        assert [i.name for i in await reader.get_many()] == ["v0"]
        await reader_session.execute(select(func.count()).select_from(Item))  # the transaction is open now
        async with env.bound(writer_cache)() as writer_session:
            await ItemRepository(session=writer_session, cache=writer_cache).update(
                Item(id=item.id, name="v1"), auto_commit=True
            )
        # the reader's own old snapshot may show v0 (REPEATABLE READ), but it must not publish it
        await reader.get(item.id)
        await reader.get_many(Item.quantity >= 0)
        await reader.count()
        await reader_session.commit()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        for _ in range(2):
            assert (await repo.get(item.id)).name == "v1"
            assert [i.name for i in await repo.get_many()] == ["v1"]
            assert [i.name for i in await repo.get_many(Item.quantity >= 0)] == ["v1"]


async def expire_on_commit_sessions(env: Env) -> None:
    """Sessions that expire on commit: cached results stay readable, and reads after a commit are fresh."""
    cache = env.make_cache()
    (item,) = await seed_items(env, ["v0"])
    factory = env.bound(cache)
    factory.configure(expire_on_commit=True)
    async with factory() as session:
        repo = ItemRepository(session=session, cache=cache, auto_expunge=True)
        first = await repo.get(item.id)
        listed = await repo.get_many()
        await repo.update(Item(id=item.id, name="v1"), auto_commit=True)
        assert first.name == "v0"  # detached copies are not expired by the commit
        assert listed[0].name == "v0"
        assert (await repo.get(item.id)).name == "v1"
    async with factory() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert (await repo.get(item.id)).name == "v1"
        assert [i.name for i in await repo.get_many()] == ["v1"]
        hits = cache.stats["hit"]
        assert (await repo.get(item.id)).name == "v1"
        assert cache.stats["hit"] == hits + 1


async def unflushed_identity_map_changes(env: Env) -> None:
    """With autoflush off, a modified but unflushed instance: reads return what AA returns, nothing is published."""
    cache = env.make_cache()
    (item,) = await seed_items(env, ["v0"])
    # A session per read: where only a transaction's first query may populate (SQLite), each warms.
    for warm in (
        lambda repo: repo.get(item.id),
        lambda repo: repo.get_many(),
        lambda repo: repo.count(Item.name == "v0"),
    ):
        for _ in range(2):
            async with env.sessionmaker() as session:
                await warm(ItemRepository(session=session, cache=cache))
    assert cache.stats["hit"] >= 3, "every entry is warm"
    async with env.sessionmaker(autoflush=False) as session:
        # The repository binds the session before its first query: a session bound mid-transaction
        # is untracked and bypasses everything, which would hide the unflushed-change check.
        repo = ItemRepository(session=session, cache=cache)
        loaded = (await session.execute(select(Item).where(Item.id == item.id))).scalar_one()
        loaded.name = "unflushed"
        hits = cache.stats["hit"]
        # count first: get_many returns the session's own (modified) object and AA's auto_expunge
        # then detaches it, after which the session has no unflushed change left
        assert await repo.count(Item.name == "v0") == 1  # the database row, unflushed change not visible
        assert (await repo.get_many())[0].name == "unflushed", "the session's own object, as AA returns it"
        assert cache.stats["hit"] == hits, "no cached entry may answer while the table has unflushed changes"
        await session.rollback()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert (await repo.get(item.id)).name == "v0"
        assert [i.name for i in await repo.get_many()] == ["v0"]


async def unflushed_new_and_deleted_instances(env: Env) -> None:
    """With autoflush off, an added or a deleted instance not yet flushed: no cached entry of its table answers."""
    cache = env.make_cache()
    (item,) = await seed_items(env, ["v0"])
    for _ in range(2):
        async with env.sessionmaker() as session:
            await ItemRepository(session=session, cache=cache).get(item.id)
    for change in ("add", "delete"):
        async with env.sessionmaker(autoflush=False) as session:
            repo = ItemRepository(session=session, cache=cache)
            if change == "add":
                session.add(Item(name="unflushed"))
            else:
                await session.delete(await session.get(Item, item.id))
            hits = cache.stats["hit"]
            await repo.get(item.id)
            assert cache.stats["hit"] == hits, f"an unflushed {change} must keep the table's entries from answering"
            await session.rollback()
    async with env.sessionmaker() as session:
        hits = cache.stats["hit"]
        assert (await ItemRepository(session=session, cache=cache).get(item.id)).name == "v0"
        assert cache.stats["hit"] == hits + 1, "the entry itself was never touched"


async def merged_cached_results_invalidate(env: Env) -> None:
    """A cached (detached) result merged into a session, changed and committed, invalidates."""
    cache = env.make_cache()
    (item,) = await seed_items(env, ["v0"])
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.get(item.id)
        cached = await repo.get(item.id)
    for load, name in ((True, "v1"), (False, "v2")):
        async with env.bound(cache)() as session:
            merged = await session.merge(cached, load=load)
            merged.name = name
            await session.commit()
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=cache)
            cached = await repo.get(item.id)
            assert cached.name == name
            assert [i.name for i in await repo.get_many()] == [name]


async def bulk_updates_every_synchronize_mode(env: Env) -> None:
    """ORM bulk UPDATE / DELETE / INSERT through the session invalidate with every ``synchronize_session``."""
    cache = env.make_cache()
    await seed_items(env, ["s0"])
    modes: list[Any] = ["auto", "evaluate", "fetch", False]
    for index, mode in enumerate(modes):
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=cache)
            await repo.get_many()
            assert await repo.exists(name=f"s{index}")
        async with env.bound(cache)() as session:
            await session.execute(
                update(Item).where(Item.name == f"s{index}").values(name=f"s{index + 1}"),
                execution_options={"synchronize_session": mode},
            )
            await session.commit()
        async with env.sessionmaker() as session:
            repo = ItemRepository(session=session, cache=cache)
            assert [i.name for i in await repo.get_many()] == [f"s{index + 1}"], mode
            assert not await repo.exists(name=f"s{index}")
    # Core statements on the table, through the session
    async with env.bound(cache)() as session:
        await session.execute(insert(Item.__table__).values(id=uuid.uuid4(), name="core", quantity=0, tenant="a"))
        await session.commit()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert await repo.count() == 2
        assert await repo.exists(name="core")
    async with env.bound(cache)() as session:
        await session.execute(
            delete(Item).where(Item.name == "core"), execution_options={"synchronize_session": "fetch"}
        )
        await session.commit()
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert await repo.count() == 1
        assert not await repo.exists(name="core")


async def relationship_side_effects_invalidate(env: Env) -> None:
    """Writes the unit of work derives from relationships change rows of other tables: moving a
    child between parents (no back reference), orphan deletion, and m2m appends (secondary only)."""
    cache = env.make_cache()
    writes = env.bound(cache)
    async with writes() as session:
        left, right = Shelf(name="left"), Shelf(name="right")
        left.notes = [Note(text="n1"), Note(text="n2")]
        session.add_all([left, right])
        await session.commit()
        left_id, right_id = left.id, right.id

    async def notes_on(shelf_id: Any) -> list[str]:
        async with env.sessionmaker() as session:
            repo = NoteRepository(session=session, cache=cache)
            await repo.get_many(Note.shelf_id == shelf_id)
            return sorted(n.text for n in await repo.get_many(Note.shelf_id == shelf_id))

    assert await notes_on(left_id) == ["n1", "n2"]
    assert await notes_on(right_id) == []
    async with writes() as session:
        shelves = {
            s.name: s for s in (await session.execute(select(Shelf).options(selectinload(Shelf.notes)))).scalars()
        }
        moved = next(n for n in shelves["left"].notes if n.text == "n1")
        shelves["left"].notes.remove(moved)
        shelves["right"].notes.append(moved)  # only the note's row changes, through the parent's collection
        await session.commit()
    assert await notes_on(left_id) == ["n2"]
    assert await notes_on(right_id) == ["n1"]
    async with writes() as session:
        shelf = (
            await session.execute(select(Shelf).where(Shelf.id == left_id).options(selectinload(Shelf.notes)))
        ).scalar_one()
        shelf.notes.clear()  # delete-orphan: the unit of work deletes the note rows
        await session.commit()
    assert await notes_on(left_id) == []
    async with env.sessionmaker() as session:
        assert await NoteRepository(session=session, cache=cache).count() == 1
    # many-to-many: appending an existing label to an existing book writes the secondary table only
    async with writes() as session:
        author = Author(name="a", books=[Book(title="b")])
        session.add_all([author, Label(name="red")])
        await session.commit()
    async with env.sessionmaker() as session:
        books = BookRepository(session=session, cache=cache)
        for _ in range(2):
            (book,) = await books.get_many(load=[selectinload(Book.labels)])
            assert book.labels == []
    async with writes() as session:
        book = (await session.execute(select(Book).options(selectinload(Book.labels)))).scalar_one()
        book.labels.append((await session.execute(select(Label))).scalar_one())
        await session.commit()
    async with env.sessionmaker() as session:
        (book,) = await BookRepository(session=session, cache=cache).get_many(load=[selectinload(Book.labels)])
        assert [label.name for label in book.labels] == ["red"]


async def rolled_back_savepoint_in_committed_transaction(env: Env) -> None:
    """Tags recorded inside a SAVEPOINT that rolls back, in an outer transaction that commits: a
    write the outer transaction keeps is invalidated (over-invalidation of the rest is harmless)."""
    cache = env.make_cache()
    (item,) = await seed_items(env, ["v0"])
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.get_many()
    async with env.bound(cache)() as session:
        nested = await session.begin_nested()
        await session.execute(update(Item).where(Item.id == item.id).values(name="rolled-back"))
        await nested.rollback()
        await session.execute(update(Item).where(Item.id == item.id).values(quantity=5))
        await session.commit()
    async with env.sessionmaker() as session:
        rows = await ItemRepository(session=session, cache=cache).get_many()
        assert [(i.name, i.quantity) for i in rows] == [("v0", 5)]


async def undelivered_bump_blocks_reads(env: Env, cache: Any, store: Any) -> None:
    """While a bump cannot be delivered, this process serves no cached read of its tags (the stale
    entry is still in the store); once delivered, entries are served again."""
    (item,) = await seed_items(env, ["v0"])
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        await repo.get(item.id)
        assert (await repo.get(item.id)).name == "v0"
    store.fail_writes = True
    async with env.bound(cache)() as session:
        await ItemRepository(session=session, cache=cache).update(Item(id=item.id, name="v1"), auto_commit=True)
    assert f"t:lak_repo_item:row=u{item.id.hex}" in cache.pending_tags
    hits = cache.stats["hit"]
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        assert (await repo.get(item.id)).name == "v1"
        assert [i.name for i in await repo.get_many()] == ["v1"]
    assert cache.stats["hit"] == hits
    store.fail_writes = False


class FlakyBackend(AsyncMemoryBackend):
    """An in-process backend whose writes can be made to fail (a store that rejects writes)."""

    fail_writes = False

    async def set_many(self, items: Any) -> None:
        if self.fail_writes:
            msg = "store unavailable for writes"
            raise ConnectionError(msg)
        await super().set_many(items)


def flaky_cache() -> tuple[AsyncCache, FlakyBackend]:
    backend = FlakyBackend()
    return AsyncCache(backend, namespace="flaky", options=CacheOptions(retry_initial=0.05, retry_max=0.1)), backend


async def tenants_never_share_a_primary_key_read(env: Env) -> None:
    """Two tenants' repositories (scope + tenant-filtered base statement) reading the same pk."""
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session)
        own, other = await repo.add_many(
            [Item(name="a-row", tenant="a"), Item(name="b-row", tenant="b")], auto_commit=True
        )
    cache = env.make_cache()

    def tenant_repo(session: Any, tenant: str) -> ItemRepository:
        return ItemRepository(
            session=session, cache=cache, scope=tenant, statement=select(Item).where(Item.tenant == tenant)
        )

    for _ in range(2):  # the second round reads warm entries
        async with env.sessionmaker() as session:
            assert (await tenant_repo(session, "a").get(own.id)).name == "a-row"
            assert (await tenant_repo(session, "b").get(other.id)).name == "b-row"
            for tenant, foreign in (("a", other.id), ("b", own.id)):
                try:
                    found = await tenant_repo(session, tenant).get(foreign)
                except NotFoundError:
                    pass
                else:
                    raise AssertionError(f"tenant {tenant} read another tenant's row {found.name}")
                assert await tenant_repo(session, tenant).get_one_or_none(id=foreign) is None
                assert not await tenant_repo(session, tenant).exists(id=foreign)
