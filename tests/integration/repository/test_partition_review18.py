"""Review 18: the partition proof and the partition values a flush bumps.

Each scenario populates the cache through a read, commits a write through the public API, reads again through the
cache and compares with a fresh uncached read of the database. Each failed before its fix:

1. PostgreSQL VARCHAR(n) cuts a value's excess trailing spaces: the flush tagged the session's value ("acme  "), the
   row is stored and read as "acme" (tenant inserted, tenant moved, a string primary key inserted). Fixed: a string
   longer than its column has no fine token (``finetags.value_token``): the write bumps the table's coarse tag.
2. A second mapping of a tenant-owned table without ``tenant_column``: its unit-of-work writes bumped ``any`` and
   rows, never the partitions the other mapping's reads depend on. Fixed: a table some mapping declares the tenant of
   (``partition.note_partitioned``) gets its coarse tag bumped by a write through one that does not.
3. Raw SQL rendered right after the WHERE (``suffix_with``, ``with_statement_hint``): not seen by ``renders_bare``;
   the proof held a partition the database does not restrict to, and a tenant-bound repository's filter was OR-ed
   away. Fixed: raw SQL around the clauses voids the proof (``grouping.raw_clauses``), and a tenant-bound repository
   refuses such a statement.

Controls (passed before): a tenant set by a composite foreign key relationship; ORM bulk UPDATE by key,
``bulk_update_mappings``, ``update_many``, a key set to a SQL expression.
"""

from __future__ import annotations

from typing import Any

import pytest
from advanced_alchemy.base import CommonTableAttributes, create_registry
from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import ForeignKeyConstraint, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.repository import CachedAsyncRepository
from tests.integration.repository.conftest import Env

pytestmark = pytest.mark.parametrize("cache_store", ["memory_store", "redis_store"], indirect=True)


class R18Base(CommonTableAttributes, DeclarativeBase):
    """Tables only these scenarios create (and drop)."""

    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class R18Note(R18Base):
    """A string tenant of a bounded length."""

    __tablename__ = "r18_note"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[str] = tenant_column(String(4))
    name: Mapped[str] = mapped_column(String(20))


class R18Key(R18Base):
    """A string primary key of a bounded length."""

    __tablename__ = "r18_key"
    id: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class R18Item(R18Base):
    __tablename__ = "r18_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(20))


class R18Org(R18Base):
    __tablename__ = "r18_org"
    __table_args__ = (UniqueConstraint("id", "tenant"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[int] = mapped_column(Integer)


class R18Doc(R18Base):
    """Its tenant is part of a composite foreign key to its org: assigning the org sets the tenant."""

    __tablename__ = "r18_doc"
    __table_args__ = (ForeignKeyConstraint(["org_id", "tenant"], ["r18_org.id", "r18_org.tenant"]),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[int] = tenant_column()
    org_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(20))
    org: Mapped[R18Org] = relationship(foreign_keys=[org_id, tenant], lazy="noload")


# a second mapping of r18_item, as another module (or another process) of the application maps it: no tenant declared
class R18OtherBase(CommonTableAttributes, DeclarativeBase):
    registry = create_registry()
    metadata = registry.metadata
    __abstract__ = True


class R18ItemPlain(R18OtherBase):
    __tablename__ = "r18_item"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(20))


class NoteRepository(CachedAsyncRepository[R18Note]):
    model_type = R18Note


class KeyRepository(CachedAsyncRepository[R18Key]):
    model_type = R18Key


class ItemRepository(CachedAsyncRepository[R18Item]):
    model_type = R18Item


class DocRepository(CachedAsyncRepository[R18Doc]):
    model_type = R18Doc


async def _tables(env: Env, *, create: bool) -> None:
    async with env.engine_object.begin() as conn:
        await conn.run_sync(R18Base.metadata.create_all if create else R18Base.metadata.drop_all)


@pytest.fixture
async def r18(async_env: Env) -> Any:
    await _tables(async_env, create=False)
    await _tables(async_env, create=True)
    try:
        yield async_env
    finally:
        await _tables(async_env, create=False)


async def _cached_names(
    env: Env, cache: Any, repository: type[Any], tenant: Any, *, hit: bool | None = None
) -> list[str]:
    async with env.sessionmaker() as session:
        before = cache.stats["hit"]
        rows = await repository(session=session, cache=cache, tenant=tenant).get_many()
        if hit is not None:
            assert (cache.stats["hit"] == before + 1) is hit
        return sorted(row.name for row in rows)


async def _db_names(env: Env, model: type[Any], tenant: Any) -> list[str]:
    async with env.sessionmaker() as session:
        return sorted((await session.scalars(select(model.name).where(model.tenant == tenant))).all())


# ================================================================================================================
# 1. PostgreSQL stores a VARCHAR(n) value whose excess characters are spaces cut to n: the flush's token is not the
#    stored value
# ================================================================================================================


def _only_postgres(env: Env) -> None:
    if env.engine not in {"asyncpg", "psycopg_async"}:
        pytest.skip("PostgreSQL cuts excess trailing spaces of a VARCHAR(n) value (elsewhere: stored, or refused)")


async def test_varchar_tenant_inserted_with_trailing_spaces(r18: Env) -> None:
    env = r18
    _only_postgres(env)
    reader, writer = env.make_cache(), env.make_cache()
    async with env.sessionmaker() as session:
        session.add(R18Note(id=1, tenant="acme", name="a"))
        await session.commit()
    for _ in range(2):
        await _cached_names(env, reader, NoteRepository, "acme")
    assert await _cached_names(env, reader, NoteRepository, "acme", hit=True) == ["a"]
    # the write: a tenant value with trailing spaces (say, read from a fixed-width file), stored as "acme"
    async with env.bound(writer)() as session:
        session.add(R18Note(id=2, tenant="acme  ", name="b"))
        await session.commit()
    assert await _db_names(env, R18Note, "acme") == ["a", "b"]
    assert await _cached_names(env, reader, NoteRepository, "acme") == await _db_names(env, R18Note, "acme")


async def test_varchar_tenant_moved_with_trailing_spaces(r18: Env) -> None:
    env = r18
    _only_postgres(env)
    reader, writer = env.make_cache(), env.make_cache()
    async with env.sessionmaker() as session:
        session.add_all([R18Note(id=1, tenant="acme", name="a"), R18Note(id=2, tenant="beta", name="b")])
        await session.commit()
    for _ in range(2):
        await _cached_names(env, reader, NoteRepository, "acme")
    async with env.bound(writer)() as session:
        row = await session.get(R18Note, 2)
        assert row is not None
        row.tenant = "acme  "
        await session.commit()
    assert await _db_names(env, R18Note, "acme") == ["a", "b"]
    assert await _cached_names(env, reader, NoteRepository, "acme") == await _db_names(env, R18Note, "acme")


async def test_varchar_primary_key_inserted_with_trailing_spaces(r18: Env) -> None:
    env = r18
    _only_postgres(env)
    reader, writer = env.make_cache(), env.make_cache()

    async def get(cache: Any) -> str | None:
        async with env.sessionmaker() as session:
            try:
                return (await KeyRepository(session=session, cache=cache).get("abcd")).name
            except NotFoundError:
                return None

    assert await get(reader) is None
    assert await get(reader) is None
    async with env.bound(writer)() as session:
        session.add(R18Key(id="abcd  ", name="one"))  # stored as "abcd"
        await session.commit()
    async with env.sessionmaker() as session:
        assert (await session.scalars(select(R18Key.name).where(R18Key.id == "abcd"))).all() == ["one"]
    assert await get(reader) == "one"


# ================================================================================================================
# 2. A second mapping of a tenant-owned table without the declaration: its unit-of-work writes bump no partition
# ================================================================================================================


async def test_write_through_a_mapping_without_the_tenant_declaration(r18: Env) -> None:
    env = r18
    reader, writer = env.make_cache(), env.make_cache()
    async with env.sessionmaker() as session:
        session.add_all([R18Item(id=1, tenant=1, name="a"), R18Item(id=2, tenant=2, name="b")])
        await session.commit()
    for _ in range(2):
        await _cached_names(env, reader, ItemRepository, 1)
    assert await _cached_names(env, reader, ItemRepository, 1, hit=True) == ["a"]
    async with env.bound(writer)() as session:
        row = await session.get(R18ItemPlain, 1)
        assert row is not None
        row.name = "renamed"
        session.add(R18ItemPlain(id=3, tenant=1, name="c"))
        await session.commit()
    assert await _cached_names(env, reader, ItemRepository, 1) == await _db_names(env, R18Item, 1)


# ================================================================================================================
# 3. A tenant set by a relationship (composite foreign key holding the tenant)
# ================================================================================================================


async def test_tenant_set_through_a_composite_foreign_key_relationship(r18: Env) -> None:
    env = r18
    reader, writer = env.make_cache(), env.make_cache()
    async with env.sessionmaker() as session:
        session.add_all([R18Org(id=1, tenant=1), R18Org(id=2, tenant=2)])
        await session.flush()
        session.add(R18Doc(id=1, tenant=1, org_id=1, name="d"))
        await session.commit()
    for tenant in (1, 2, 1, 2):
        await _cached_names(env, reader, DocRepository, tenant)
    async with env.bound(writer)() as session:
        doc = await session.get(R18Doc, 1)
        org = await session.get(R18Org, 2)
        assert doc is not None
        doc.org = org  # the flush copies org 2's (id, tenant) into the doc: it moves to tenant 2
        await session.commit()
    for tenant in (1, 2):
        assert await _cached_names(env, reader, DocRepository, tenant) == await _db_names(env, R18Doc, tenant)


# ================================================================================================================
# 5. Controls: other ways a flush or a bulk statement moves a row between tenants or changes its key
# ================================================================================================================


async def _seed_items(env: Env) -> None:
    async with env.sessionmaker() as session:
        session.add_all([R18Item(id=1, tenant=1, name="a"), R18Item(id=2, tenant=2, name="b")])
        await session.commit()


async def _warm_items(env: Env, cache: Any) -> None:
    for tenant in (1, 2, 1, 2):
        await _cached_names(env, cache, ItemRepository, tenant)


async def _get_item(env: Env, cache: Any, item_id: int) -> tuple[str, int] | None:
    async with env.sessionmaker() as session:
        try:
            found = await ItemRepository(session=session, cache=cache).get(item_id)
        except NotFoundError:
            return None
        return (found.name, found.tenant)


@pytest.mark.parametrize("how", ["orm_bulk_update_by_pk", "bulk_update_mappings", "update_many", "pk_expression"])
async def test_moves_and_key_changes(r18: Env, how: str) -> None:
    from sqlalchemy import update

    env = r18
    if how == "pk_expression" and env.engine == "asyncmy":
        pytest.skip("SQLAlchemy itself cannot refresh a row whose key it set to a SQL expression on MariaDB")
    reader, writer = env.make_cache(), env.make_cache()
    await _seed_items(env)
    await _warm_items(env, reader)
    for _ in range(2):
        assert await _get_item(env, reader, 101) is None
        assert await _get_item(env, reader, 1) == ("a", 1)
    async with env.bound(writer)() as session:
        if how == "orm_bulk_update_by_pk":
            await session.execute(update(R18Item), [{"id": 1, "tenant": 2}])
        elif how == "bulk_update_mappings":
            await session.run_sync(lambda s: s.bulk_update_mappings(R18Item, [{"id": 1, "tenant": 2}]))
        elif how == "update_many":
            await ItemRepository(session=session, cache=writer).update_many([{"id": 1, "tenant": 2, "name": "a"}])
        else:
            row = await session.get(R18Item, 1)
            assert row is not None
            row.id = R18Item.id + 100
        await session.commit()
    async with env.sessionmaker() as session:
        fresh = {r.id: (r.name, r.tenant) for r in (await session.scalars(select(R18Item))).all()}
    for tenant in (1, 2):
        assert await _cached_names(env, reader, ItemRepository, tenant) == await _db_names(env, R18Item, tenant)
    assert await _get_item(env, reader, 1) == fresh.get(1)
    assert await _get_item(env, reader, 101) == fresh.get(101)


# ================================================================================================================
# 6. Raw SQL after the WHERE: a statement suffix renders right after the last WHERE term
# ================================================================================================================


def _raw_after_where(statement: Any, how: str) -> Any:
    raw = "OR r18_item.tenant = 2"  # no keyword rawtext flags (select, from, join, union...)
    return statement.suffix_with(raw) if how == "suffix_with" else statement.with_statement_hint(raw)


@pytest.mark.parametrize("how", ["suffix_with", "with_statement_hint"])
async def test_suffix_extending_the_where(r18: Env, how: str) -> None:
    env = r18
    reader, writer = env.make_cache(), env.make_cache()
    await _seed_items(env)
    statement = _raw_after_where(select(R18Item).where(R18Item.tenant == 1), how)

    async def names(cache: Any) -> list[str]:
        async with env.sessionmaker() as session:
            return sorted(
                r.name for r in await ItemRepository(session=session, cache=cache).get_many(statement=statement)
            )

    async def fresh() -> list[str]:
        async with env.sessionmaker() as session:
            return sorted(r.name for r in (await session.scalars(statement)).all())

    assert await names(reader) == await names(reader) == ["a", "b"]
    async with env.bound(writer)() as session:
        session.add(R18Item(id=3, tenant=2, name="c"))  # tenant 2's partition
        await session.commit()
    assert await names(reader) == await fresh()


_RAW_CLAUSES = {
    "suffix_with": lambda statement: statement.suffix_with("OR r18_item.tenant = 2"),
    "with_statement_hint": lambda statement: statement.with_statement_hint("OR r18_item.tenant = 2"),
    "prefix_with": lambda statement: statement.prefix_with("/* a prefix */"),
    "with_hint": lambda statement: statement.with_hint(R18Item, "/* a hint */"),
}


@pytest.mark.parametrize("how", list(_RAW_CLAUSES))
async def test_a_tenant_bound_repository_refuses_raw_sql_around_the_clauses(r18: Env, how: str) -> None:
    """A suffix renders after the WHERE the tenant condition is AND-ed to: bound, ``WHERE name <> '' AND tenant = 1
    OR tenant = 2`` returned tenant 2's rows, cache or not. No parentheses can hold it: refused, at construction
    and per call, naming the method; the caller's statement is left as it was, and the repository still works."""
    env = r18
    reader = env.make_cache()
    await _seed_items(env)
    statement = _RAW_CLAUSES[how](select(R18Item).where(R18Item.name != ""))
    before = str(statement)
    async with env.sessionmaker() as session:
        with pytest.raises(ValueError, match=rf"tenant of R18Item refuses .*raw SQL.*{how}"):
            ItemRepository(session=session, cache=reader, tenant=1, statement=statement)
        repository = ItemRepository(session=session, cache=reader, tenant=1)
        with pytest.raises(ValueError, match=rf"raw SQL.*{how}"):
            await repository.get_many(statement=statement)
        assert sorted((r.name, r.tenant) for r in await repository.get_many()) == [("a", 1)]
    assert str(statement) == before
