"""Cache-safety holes found by adversarial review, as scenarios (async source; unasyncd generates sync).

- execution options at every level (``schema_translate_map`` for schema/database-per-tenant set-ups);
- sessions joined to a connection whose transaction already read (REPEATABLE READ snapshots);
- isolation levels that read uncommitted rows;
- writes no session event sees (``text()``, connection and engine statements, legacy ``bulk_*``,
  data-modifying CTEs, autocommit, SQL that cannot be attributed), also when a mapper event runs
  them in the middle of a flush.

Each scenario proves the cache is in use (a hit is counted) before showing the hole is closed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

from sqlalchemy import DDL, event, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import object_session

from litestar_alchemy_kit.repository import CachedAsyncRepository, bind_cache
from tests.integration.repository._bridge import run_inline, sync_call_async, sync_engine_of
from tests.integration.repository.conftest import Env
from tests.integration.repository.models import Item, ItemSnapshot, Label, RepoBase

ITEM = Item.__table__.name
SNAPSHOT = ItemSnapshot.__table__.name
TENANTS = ("a", "b")
# SQLite's driver emits no BEGIN (SQLAlchemy's outer conn.begin() emits none either): a joined session's SAVEPOINT
# begins the database's transaction, and its commit's RELEASE commits it; the outer rollback then undoes nothing
SQLITE_DRIVERS = frozenset({"aiosqlite", "sqlite"})


class ItemRepository(CachedAsyncRepository[Item]):
    model_type = Item


class LabelRepository(CachedAsyncRepository[Label]):
    model_type = Label


class SnapshotRepository(CachedAsyncRepository[ItemSnapshot]):
    model_type = ItemSnapshot


async def _names(repo: ItemRepository) -> list[str]:
    return sorted(item.name for item in await repo.get_many())


async def _warm(repo: ItemRepository, cache: Any) -> list[str]:
    """Names through the cache; the second identical read must hit."""
    first = await _names(repo)
    hits = cache.stats["hit"]
    again = await _names(repo)
    assert cache.stats["hit"] == hits + 1, f"the second identical read must be a cache hit: {dict(cache.stats)}"
    assert again == first
    return first


async def _seed(env: Env, names: list[str]) -> list[Item]:
    async with env.sessionmaker() as session:
        items = [Item(name=name) for name in names]
        session.add_all(items)
        await session.commit()
        return items


async def _fresh_names(env: Env, cache: Any) -> list[str]:
    async with env.sessionmaker() as session:
        return await _names(ItemRepository(session=session, cache=cache))


# --- execution options at every level: schema_translate_map ---------------------------------


def tenant_schemas(env: Env) -> dict[str, str]:
    """Schema (PostgreSQL) or database (MariaDB) names of the two tenants, next to the test database."""
    base = env.engine_object.url.database
    if env.engine_object.dialect.name == "postgresql":
        return {tenant: f"lak_tenant_{tenant}" for tenant in TENANTS}
    return {tenant: f"{base}_t{tenant}" for tenant in TENANTS}


async def create_tenant_schemas(env: Env) -> dict[str, str]:
    """Create each tenant's schema with the test tables; tenant ``a`` and ``b`` share an item id."""
    schemas = tenant_schemas(env)
    shared_id = uuid.uuid4()
    kind = "SCHEMA" if env.engine_object.dialect.name == "postgresql" else "DATABASE"
    async with env.engine_object.connect() as conn:
        await conn.commit()
        for tenant, schema in schemas.items():
            await conn.execute(text(f"DROP {kind} IF EXISTS {schema}" + (" CASCADE" if kind == "SCHEMA" else "")))
            await conn.execute(text(f"CREATE {kind} {schema}"))
            await conn.commit()
            translated = await conn.execution_options(schema_translate_map={None: schema})
            await sync_call_async(translated, RepoBase.metadata.create_all)
            await translated.execute(
                Item.__table__.insert(),
                [
                    {"id": shared_id, "name": f"{tenant}-shared", "quantity": 0, "tenant": tenant},
                    {"id": uuid.uuid4(), "name": f"{tenant}-own", "quantity": 1, "tenant": tenant},
                ],
            )
            await conn.commit()
    schemas["shared_id"] = str(shared_id)
    return schemas


async def drop_tenant_schemas(env: Env) -> None:
    kind = "SCHEMA" if env.engine_object.dialect.name == "postgresql" else "DATABASE"
    async with env.engine_object.connect() as conn:
        for schema in tenant_schemas(env).values():
            await conn.execute(text(f"DROP {kind} IF EXISTS {schema}" + (" CASCADE" if kind == "SCHEMA" else "")))
        await conn.commit()


async def _reads(env: Env, level: str, schema: str, cache: Any, shared_id: uuid.UUID) -> tuple[list[str], str]:
    """List and get(pk) of one tenant, each in a fresh transaction that populates, then a hit."""
    option = {"schema_translate_map": {None: schema}}
    seen: list[Any] = []
    for read in ("list", "get"):
        async with contextlib.AsyncExitStack() as stack:
            if level == "engine":
                engine = env.engine_object.execution_options(**option)
                session = await stack.enter_async_context(type(env.sessionmaker)(engine, expire_on_commit=False)())
                repo = ItemRepository(session=session, cache=cache)
            elif level == "connection":
                conn = await stack.enter_async_context(env.engine_object.connect())
                await conn.execution_options(**option)
                session = await stack.enter_async_context(env.sessionmaker.class_(bind=conn, expire_on_commit=False))
                repo = ItemRepository(session=session, cache=cache)
            elif level == "session":
                session = await stack.enter_async_context(env.sessionmaker())
                # the session's transaction is open before the read: at READ COMMITTED it may still populate
                await session.connection(execution_options={**option, "isolation_level": "READ COMMITTED"})
                repo = ItemRepository(session=session, cache=cache)
            else:
                session = await stack.enter_async_context(env.sessionmaker())
                statement = select(Item).execution_options(**option)
                repo = ItemRepository(session=session, cache=cache, statement=statement)
            if read == "list":
                seen.append(await _warm(repo, cache))
            else:
                got = (await repo.get(shared_id)).name
                hits = cache.stats["hit"]
                assert (await repo.get(shared_id)).name == got
                assert cache.stats["hit"] == hits + 1, "get(pk) must be cached too"
                seen.append(got)
    return seen[0], seen[1]


async def schema_translate_at_every_level(env: Env, level: str) -> None:
    """Tenant B never sees tenant A's cached rows, whichever level sets ``schema_translate_map``."""
    schemas = await create_tenant_schemas(env)
    shared_id = uuid.UUID(schemas["shared_id"])
    cache = env.make_cache()
    try:
        seen = {tenant: await _reads(env, level, schemas[tenant], cache, shared_id) for tenant in TENANTS}
        for tenant in TENANTS:
            assert seen[tenant] == ([f"{tenant}-own", f"{tenant}-shared"], f"{tenant}-shared"), (level, seen)
    finally:
        await drop_tenant_schemas(env)


async def unencodable_option_bypasses(env: Env) -> None:
    """An engine option with no canonical form makes reads bypass the cache, never share a guessed key."""
    cache = env.make_cache()
    await _seed(env, ["x"])
    factory = type(env.sessionmaker)(env.engine_object.execution_options(tenant_hook=object()), expire_on_commit=False)
    async with factory() as session:
        repo = ItemRepository(session=session, cache=cache)
        bypasses = cache.stats["bypass"]
        assert await _names(repo) == ["x"]
        assert await _names(repo) == ["x"]
        assert cache.stats["bypass"] >= bypasses + 2
        assert cache.stats["hit"] == 0


# --- the populate rule follows the connection's real transaction ------------------------------


async def joined_old_snapshot_never_installs(env: Env, mode: str, isolation: str | None) -> None:
    """``Session(bind=connection, join_transaction_mode=mode)`` on a connection whose snapshot is old.

    The connection's REPEATABLE READ transaction reads first; another session commits a change; the
    joined session's repository reads (its snapshot shows the old row): that result must never become
    the cached value that fresh readers get.
    """
    cache, writer_cache = env.make_cache(), env.make_cache()
    (item,) = await _seed(env, ["before"])
    engine = env.engine_object
    own_engine = None
    if isolation == "engine":  # create_engine(isolation_level=...): applied on connect, kept on the dialect
        own_engine = create_async_engine(engine.url, isolation_level="REPEATABLE READ")
        engine = own_engine
    elif isolation == "option":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(select(Item.name))).scalars().all() == ["before"]
            async with env.bound(writer_cache)() as writer:
                await writer.execute(update(Item).values(name="after"))
                await writer.commit()
            async with env.sessionmaker.class_(
                bind=conn, join_transaction_mode=mode, expire_on_commit=False
            ) as session:
                repo = ItemRepository(session=session, cache=cache)
                assert await _names(repo) == ["before"]  # its snapshot: fine to return, not to publish
                assert (await repo.get(item.id)).name == "before"
            await conn.rollback()
        assert await _fresh_names(env, cache) == ["after"]
        async with env.sessionmaker() as session:
            assert (await ItemRepository(session=session, cache=cache).get(item.id)).name == "after"
    finally:
        if own_engine is not None:
            await own_engine.dispose()


async def dirty_reads_never_populate(env: Env, writer_engine: Any, reader_engine: Any) -> None:
    """A reader at READ UNCOMMITTED sees another transaction's uncommitted row: it must not be published."""
    cache = env.make_cache()
    await _seed(env, ["committed"])
    async with writer_engine.connect() as writer:
        await writer.execute(update(Item.__table__).values(name="uncommitted"))
        factory = type(env.sessionmaker)(reader_engine, expire_on_commit=False)
        async with factory() as session:
            repo = ItemRepository(session=session, cache=cache)
            assert await _names(repo) == ["uncommitted"]  # the dirty read really happened
        await writer.rollback()
    assert await _fresh_names(env, cache) == ["committed"]


# --- writes no session event sees -------------------------------------------------------------


async def _raw_write(env: Env, form: str, cache: Any) -> None:
    """Rename every item to ``after`` through one of the write paths no session event sees."""
    bound = env.bound(cache)
    dialect = env.engine_object.dialect.name
    if form == "text":
        async with bound() as session:
            await session.execute(text(f"UPDATE {ITEM} SET name = :new"), {"new": "after"})
            await session.commit()
    elif form == "session_connection":
        async with bound() as session:
            conn = await session.connection()
            await conn.execute(update(Item.__table__).values(name="after"))
            await session.commit()
    elif form == "engine_construct":
        async with env.engine_object.begin() as conn:
            await conn.execute(update(Item.__table__).values(name="after"))
    elif form == "engine_driver_sql":
        async with env.engine_object.connect() as conn:
            await conn.exec_driver_sql(f"UPDATE {ITEM} SET name = 'after'")
            await conn.commit()
    elif form == "autocommit":
        async with env.engine_object.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            await conn.execute(text(f"UPDATE {ITEM} SET name = 'after'"))
            # no commit(): each statement committed as it ran, the cache must already know
            assert await _fresh_names(env, cache) == ["after"]
    elif form == "bulk_update":
        async with bound() as session:
            rows = (await session.execute(select(Item.id))).scalars().all()
            await sync_call_async(
                session, lambda sync: sync.bulk_update_mappings(Item, [{"id": row, "name": "after"} for row in rows])
            )
            await session.commit()
    elif form == "bulk_insert":  # the only write of its transaction: nothing else invalidates the table
        async with bound() as session:
            await sync_call_async(
                session, lambda sync: sync.bulk_insert_mappings(Item, [{"name": "after", "quantity": 0}])
            )
            await session.commit()
    elif form == "bulk_save":
        async with bound() as session:
            await sync_call_async(session, lambda sync: sync.bulk_save_objects([Item(name="after", quantity=0)]))
            await session.commit()
    elif form == "cte":  # PostgreSQL: a data-modifying CTE inside a SELECT
        async with bound() as session:
            changed = update(Item).values(name="after").returning(Item.id).cte("changed")
            await session.execute(select(changed.c.id).add_cte(changed))
            await session.commit()
    elif form == "truncate":  # every row gone (SQLite has no TRUNCATE: its DELETE without WHERE)
        async with env.engine_object.begin() as conn:
            await conn.execute(text(f"DELETE FROM {ITEM}" if dialect == "sqlite" else f"TRUNCATE TABLE {ITEM}"))
    elif form == "replace":  # MariaDB and SQLite: REPLACE INTO
        async with env.engine_object.begin() as conn:
            await conn.execute(
                text(
                    f"REPLACE INTO {ITEM} (id, name, quantity, tenant) SELECT id, 'after', quantity, tenant FROM {ITEM}"
                )
            )
    elif form == "merge":  # PostgreSQL 15+
        async with env.engine_object.begin() as conn:
            await conn.execute(
                text(
                    f"MERGE INTO {ITEM} AS t USING (SELECT 1 AS one) AS s ON true "
                    "WHEN MATCHED THEN UPDATE SET name = 'after'"
                )
            )
    elif form == "from_statement_update":  # DML inside SELECT-shaped constructs (PostgreSQL, SQLite: RETURNING)
        async with bound() as session:
            statement = update(Item).values(name="after").returning(Item)
            (await session.execute(select(Item).from_statement(statement))).all()
            await session.commit()
    elif form == "from_statement_text":
        async with bound() as session:
            statement = text(f"UPDATE {ITEM} SET name = 'after' RETURNING *")
            (await session.execute(select(Item).from_statement(statement))).all()
            await session.commit()
    elif form == "textual_select":
        async with bound() as session:
            (
                await session.execute(
                    text(f"UPDATE {ITEM} SET name = :new RETURNING id").columns(Item.id), {"new": "after"}
                )
            ).all()
            await session.commit()
    elif form == "from_statement_delete":  # every row gone (MariaDB has DELETE ... RETURNING too)
        async with env.engine_object.begin() as conn:
            table = Item.__table__
            (await conn.execute(select(Item).from_statement(table.delete().returning(*table.c)))).all()
    elif form == "ddl_update":  # DML through a free-form DDL construct
        async with env.engine_object.begin() as conn:
            await conn.execute(DDL(f"UPDATE {ITEM} SET name = 'after'"))
    elif form == "ddl_truncate":
        async with env.engine_object.begin() as conn:
            await conn.execute(DDL(f"DELETE FROM {ITEM}" if dialect == "sqlite" else f"TRUNCATE TABLE {ITEM}"))
    elif form == "multi_table_update":  # MariaDB: UPDATE label, item SET item.name = ... (the target is label)
        async with env.engine_object.begin() as conn:
            await conn.execute(Label.__table__.insert().values(id=uuid.uuid4(), name="any"))
            await conn.execute(update(Label).where(Label.name != Item.name).values({Item.name: "after"}))
    elif form == "unattributable":  # a procedure: no parser can tell which tables it writes
        async with env.engine_object.begin() as conn:
            if dialect == "postgresql":
                await conn.execute(text(f"DO $$ BEGIN UPDATE {ITEM} SET name = 'after'; END $$"))
            else:
                await conn.execute(text("DROP PROCEDURE IF EXISTS lak_rename"))
                await conn.execute(text(f"CREATE PROCEDURE lak_rename() UPDATE {ITEM} SET name = 'after'"))
                await conn.execute(text("CALL lak_rename()"))
    else:
        msg = f"unknown form {form}"
        raise AssertionError(msg)


async def raw_write_invalidates(env: Env, form: str) -> None:
    """After a write no session event sees, the next read anywhere returns the committed rows."""
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    await _seed(env, ["before"])
    async with env.sessionmaker() as session:
        assert await _warm(ItemRepository(session=session, cache=reader_cache), reader_cache) == ["before"]
    await _raw_write(env, form, writer_cache)
    gone: list[str] = []
    expected = {
        "truncate": gone,
        "ddl_truncate": gone,
        "from_statement_delete": gone,
        "bulk_insert": ["after", "before"],
        "bulk_save": ["after", "before"],
    }
    assert await _fresh_names(env, reader_cache) == expected.get(form, ["after"])


async def refresh_materialized_view_invalidates(env: Env) -> None:
    """PostgreSQL's ``REFRESH MATERIALIZED VIEW`` changes the rows cached reads of the view return."""
    reader_cache = env.make_cache()
    await _seed(env, ["before"])
    async with env.engine_object.begin() as conn:
        await conn.execute(text(f"DROP MATERIALIZED VIEW IF EXISTS {SNAPSHOT}"))
        await conn.execute(
            text(
                f"CREATE MATERIALIZED VIEW {SNAPSHOT} AS SELECT id, name, NULL::integer AS sa_orm_sentinel FROM {ITEM}"
            )
        )
        await conn.execute(text(f"UPDATE {ITEM} SET name = 'after'"))  # not in the view until it is refreshed
    try:
        async with env.sessionmaker() as session:
            repo = SnapshotRepository(session=session, cache=reader_cache)
            assert sorted(row.name for row in await repo.get_many()) == ["before"]
            hits = reader_cache.stats["hit"]
            assert sorted(row.name for row in await repo.get_many()) == ["before"]
            assert reader_cache.stats["hit"] == hits + 1
        async with env.engine_object.begin() as conn:
            await conn.execute(text(f"REFRESH MATERIALIZED VIEW {SNAPSHOT}"))
        async with env.sessionmaker() as session:
            repo = SnapshotRepository(session=session, cache=reader_cache)
            assert sorted(row.name for row in await repo.get_many()) == ["after"]
    finally:
        async with env.engine_object.begin() as conn:
            await conn.execute(text(f"DROP MATERIALIZED VIEW IF EXISTS {SNAPSHOT}"))


def respelled(url: Any) -> Any:
    """``url`` spelled otherwise: a relative SQLite / DuckDB path, the other loopback name, the port toggled."""
    if url.get_backend_name() in {"sqlite", "duckdb"}:
        return url.set(database=os.path.relpath(url.database))
    default = {"postgresql": 5432}.get(url.get_backend_name(), 3306)
    host = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(url.host, url.host)
    return url.set(host=host, port=None if url.port in {None, default} and url.port else default)


async def respelled_engine_invalidates(env: Env) -> None:
    """A write through an engine whose URL spells the database otherwise invalidates this engine's reads."""
    reader_cache = env.make_cache()
    await _seed(env, ["before"])
    async with env.sessionmaker() as session:
        assert await _warm(ItemRepository(session=session, cache=reader_cache), reader_cache) == ["before"]
    other = create_async_engine(respelled(env.engine_object.url))
    try:
        async with other.begin() as conn:
            await conn.execute(update(Item.__table__).values(name="after"))
    finally:
        await other.dispose()
    assert await _fresh_names(env, reader_cache) == ["after"]


EVENT_WRITE_FORMS = ("orm_bulk_update", "legacy_bulk_update", "orm_update", "text", "connection")
FLUSH_EVENTS = ("after_insert", "before_update", "after_update", "after_delete")


def _event_write(form: str, name: str, rows: list[Any]) -> Any:
    """A mapper event listener that renames every item to ``name`` through ``form``, inside the flush."""

    def write(mapper: Any, connection: Any, target: Any) -> None:
        del mapper
        session: Any = object_session(target)
        if form == "orm_bulk_update":  # run with the mapper's compiled_cache, as the flush's own UPDATEs are
            session.execute(update(Item), [{"id": row, "name": name} for row in rows])
        elif form == "legacy_bulk_update":
            session.bulk_update_mappings(Item, [{"id": row, "name": name} for row in rows])
        elif form == "orm_update":
            session.execute(update(Item).values(name=name))
        elif form == "text":  # a literal: sqlglot attributes it on every dialect (MySQL's %(new)s it does not parse)
            session.execute(text(f"UPDATE {ITEM} SET name = '{name}'"))
        else:
            connection.execute(update(Item.__table__).values(name=name))

    return write


async def _flush_firing(env: Env, cache: Any, step: str, label_id: Any) -> Any:
    """Commit a change to a label that fires the mapper event ``step``; the id of the label written."""
    async with env.bound(cache)() as session:
        if step == "after_insert":
            label = Label(name="new")
            session.add(label)
        else:
            label = await session.get_one(Label, label_id)
            if step == "after_delete":
                await session.delete(label)
            else:
                label.name = step
        await session.commit()
        return label.id


async def writes_in_flush_events_invalidate(env: Env, form: str) -> None:
    """DML a mapper event runs during a flush is not the flush's own: it invalidates what it writes.

    An ORM bulk UPDATE by primary key (or ``bulk_update_mappings``) runs with the mapper's
    ``compiled_cache`` while the session flushes, as the flush's own statements do, yet writes rows the
    flush never registered. The flush's own statements stay fine: a cached ``get`` of a label they do
    not touch keeps hitting.
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    rows = [item.id for item in await _seed(env, ["before"])]
    async with env.sessionmaker() as session:
        bystander = Label(name="bystander")
        session.add(bystander)
        await session.commit()
    label_id = None
    for step in FLUSH_EVENTS:
        async with env.sessionmaker() as session:
            await _warm(ItemRepository(session=session, cache=reader_cache), reader_cache)
        async with env.sessionmaker() as session:  # a session per read: SQLite populates from a first query only
            assert (await LabelRepository(session=session, cache=reader_cache).get(bystander.id)).name == "bystander"
        listener = _event_write(form, step, rows)
        event.listen(Label, step, listener)
        try:
            label_id = await _flush_firing(env, writer_cache, step, label_id)
        finally:
            event.remove(Label, step, listener)
        assert await _fresh_names(env, reader_cache) == [step], f"{step}: the event's write was not invalidated"
        async with env.sessionmaker() as session:
            hits = reader_cache.stats["hit"]
            await LabelRepository(session=session, cache=reader_cache).get(bystander.id)
            assert reader_cache.stats["hit"] == hits + 1, f"{step}: the flush's own write was taken for a raw one"


async def uncommitted_raw_write_bypasses(env: Env) -> None:
    """Raw DML in a session: its own reads go to the database; its rollback leaves the cache as it was."""
    cache = env.make_cache()
    await _seed(env, ["before"])
    async with env.sessionmaker() as session:
        assert await _warm(ItemRepository(session=session, cache=cache), cache) == ["before"]
    async with env.bound(cache)() as session:
        await session.execute(text(f"UPDATE {ITEM} SET name = 'mine'"))
        repo = ItemRepository(session=session, cache=cache)
        bypasses = cache.stats["bypass"]
        assert await _names(repo) == ["mine"]  # its own write, never the cached "before"
        assert cache.stats["bypass"] == bypasses + 1
        await session.rollback()
    hits = cache.stats["hit"]
    assert await _fresh_names(env, cache) == ["before"]
    assert cache.stats["hit"] == hits + 1  # the rollback left the entry in place


async def engine_commit_window_closed(env: Env) -> None:
    """A reader between the engine commit's first phase and the commit itself installs nothing stale.

    The reader runs inside the connection's ``commit`` event, after the raw-DML listener marked the
    written tags (or, without a commit policy, bumped them) and before the database commits: it reads
    the old row, and must not cache it under versions the commit leaves current.
    """
    reader_cache = env.make_cache()
    await _seed(env, ["before"])
    async with env.sessionmaker() as session:
        assert await _warm(ItemRepository(session=session, cache=reader_cache), reader_cache) == ["before"]
    seen: list[list[str]] = []

    def read_during_commit(conn: Any) -> None:
        del conn
        seen.append(run_inline(_fresh_names(env, reader_cache)))

    engine = sync_engine_of(env.engine_object)
    event.listen(engine, "commit", read_during_commit)
    try:
        async with env.engine_object.begin() as conn:
            await conn.execute(update(Item.__table__).values(name="after"))
    finally:
        event.remove(engine, "commit", read_during_commit)
    assert seen == [["before"]]  # the interleaving really happened
    assert await _fresh_names(env, reader_cache) == ["after"]


async def joined_session_writes_count_at_the_real_commit(env: Env) -> None:
    """A session joined to an outer transaction commits nothing: the outer commit is what invalidates.

    Its ``commit()`` returns while the outer transaction is still open; a reader then caches the old
    row. When the outer transaction commits, that entry must be invalidated.
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    await _seed(env, ["before"])
    async with env.sessionmaker() as session:
        assert await _warm(ItemRepository(session=session, cache=reader_cache), reader_cache) == ["before"]
    async with env.engine_object.connect() as conn:
        await conn.begin()
        session = env.sessionmaker.class_(bind=conn, join_transaction_mode="rollback_only", expire_on_commit=False)
        bind_cache(session, writer_cache)
        await session.execute(update(Item).values(name="after"))
        await session.commit()
        await session.close()
        assert await _fresh_names(env, reader_cache) == ["before"]  # not committed yet
        await conn.commit()
    assert await _fresh_names(env, reader_cache) == ["after"]


async def raw_set_transaction_never_installs_stale(env: Env) -> None:
    """``SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`` in raw SQL on a READ COMMITTED engine.

    MariaDB shows the one-shot level in no variable; the raw-SQL listener notices the statement.
    """
    cache, writer_cache = env.make_cache(), env.make_cache()
    await _seed(env, ["before"])
    engine = env.engine_object.execution_options(isolation_level="READ COMMITTED")
    factory = type(env.sessionmaker)(engine, expire_on_commit=False)
    # bound as an application binds at startup, so the listeners see the session's first statement (a session
    # already running when they install is distrusted whole, which would hide what this test is about)
    bind_cache(factory, cache)
    async with factory() as session:
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        assert (await session.execute(select(Item.name))).scalars().all() == ["before"]  # the snapshot
        async with env.bound(writer_cache)() as writer:
            await writer.execute(update(Item).values(name="after"))
            await writer.commit()
        assert await _names(ItemRepository(session=session, cache=cache)) == ["before"]
        await session.rollback()
    assert await _fresh_names(env, cache) == ["after"]


JOINS = ("bind", "binds", "binds_savepoint")
"""How a session joins an outer transaction: ``bind=connection``, ``binds={Item: connection}``, and ``binds=``
under ``join_transaction_mode="create_savepoint"`` (the session's commit releases a savepoint)."""


async def _stored_names(env: Env) -> list[str]:
    """Every name the database holds, read past any cache."""
    async with env.engine_object.connect() as conn:
        return sorted((await conn.execute(select(Item.name))).scalars())


async def _fresh_reads(env: Env, cache: Any, item_id: Any) -> tuple[str, list[str]]:
    """``get(item_id)``'s name and every name, through ``cache`` in a new session."""
    async with env.sessionmaker() as session:
        repo = ItemRepository(session=session, cache=cache)
        return (await repo.get(item_id)).name, await _names(repo)


async def _warm_reads(env: Env, cache: Any, item_id: Any) -> None:
    """Read ``get(item_id)`` and the list until both are cache hits (a list populates on its second miss)."""
    for _ in range(3):
        hits = cache.stats["hit"]
        assert await _fresh_reads(env, cache, item_id) == ("before", ["before"])
        if cache.stats["hit"] == hits + 2:
            return
    raise AssertionError(f"both reads must be cache hits before the write: {dict(cache.stats)}")


async def joined_session_counts_at_the_outer_commit(env: Env, join: str) -> None:
    """However a session joins an outer transaction, its commit is not the write's commit; the outer one is.

    Between the session's commit and the outer commit other sessions read the old row and cache it; once the
    outer transaction commits, neither ``get(pk)`` nor the list may serve those entries.
    """
    reader_cache, writer_cache = env.make_cache(), env.make_cache()
    [seeded] = await _seed(env, ["before"])
    await _warm_reads(env, reader_cache, seeded.id)
    async with env.engine_object.connect() as conn:
        outer = await conn.begin()
        if join == "bind":
            session = env.sessionmaker.class_(bind=conn, expire_on_commit=False)
        else:
            mode = "create_savepoint" if join == "binds_savepoint" else "conditional_savepoint"
            session = env.sessionmaker.class_(binds={Item: conn}, join_transaction_mode=mode, expire_on_commit=False)
        bind_cache(session, writer_cache)
        item = await session.get(Item, seeded.id)
        assert item is not None
        item.name = "after"
        await session.commit()
        await session.close()
        # not committed yet (but on SQLite, where the savepoint's release committed): other sessions read the old
        # row, and may cache it
        durable = "after" if env.engine in SQLITE_DRIVERS and join == "binds_savepoint" else "before"
        assert await _stored_names(env) == [durable]
        assert await _fresh_reads(env, reader_cache, seeded.id) == (durable, [durable])
        assert await _fresh_reads(env, reader_cache, seeded.id) == (durable, [durable])
        await outer.commit()
    after = await _fresh_reads(env, reader_cache, seeded.id)
    assert after == ("after", ["after"]), f"stale after the outer commit: (get, list) = {after}"


JOINED_READERS = ("same_session", "second_session", "connection_write")
"""Who reads on a connection whose transaction holds a write not committed yet: the joined session that wrote
(its commit committed nothing there), a second session joined to the same connection, or a session reading
after a statement on the connection itself."""


async def joined_reads_see_uncommitted_writes(env: Env, reader: str) -> None:
    """SQLAlchemy's "join a session into an external transaction" recipe, as test suites use it.

    A cached read on the connection must return what the transaction holds, not an entry from before the write,
    and must not publish it: once the outer transaction rolls back, nobody may be served the rolled-back row.
    """
    cache = env.make_cache()
    [seeded] = await _seed(env, ["before"])
    await _warm_reads(env, cache, seeded.id)
    async with env.engine_object.connect() as conn:
        outer = await conn.begin()
        session = env.sessionmaker.class_(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        bind_cache(session, cache)
        if reader == "connection_write":
            await conn.execute(update(Item).values(name="after"))
        else:
            repo = ItemRepository(session=session, cache=cache)
            item = await repo.get(seeded.id)
            item.name = "after"
            await repo.update(item)
            await session.commit()
            session.expunge_all()
        if reader == "second_session":
            await session.close()
            session = env.sessionmaker.class_(bind=conn, join_transaction_mode="create_savepoint")
            bind_cache(session, cache)
        for _ in range(2):  # a read that populated would hit the second time
            repo = ItemRepository(session=session, cache=cache)
            seen = ((await repo.get(seeded.id)).name, await _names(repo))
            assert seen == ("after", ["after"]), f"the transaction's own write read stale: (get, list) = {seen}"
            session.expunge_all()
        await session.close()
        await outer.rollback()
    durable = "after" if env.engine in SQLITE_DRIVERS and reader != "connection_write" else "before"
    assert await _stored_names(env) == [durable]
    after = await _fresh_reads(env, cache, seeded.id)
    assert after == (durable, [durable]), f"the database holds {durable!r}, the cache serves (get, list) = {after}"


UNCACHED_WRITES = ("flush", "orm_update", "text")


async def uncached_session_writes_count(env: Env, form: str) -> None:
    """A session bound to no cache (a script, a worker) writes on a database whose engine has caches registered.

    Its commit is the write's commit: the registered caches must be invalidated as an ``engine.begin()`` write
    invalidates them, for its flushes as for ORM bulk and ``text()`` statements.
    """
    reader_cache = env.make_cache()
    [seeded] = await _seed(env, ["before"])
    await _warm_reads(env, reader_cache, seeded.id)  # also registers the cache for the engine, as bind_cache does
    async with env.sessionmaker() as session:  # no cache bound
        if form == "flush":
            item = await session.get(Item, seeded.id)
            assert item is not None
            item.name = "after"
        elif form == "orm_update":
            await session.execute(update(Item).values(name="after"))
        else:
            await session.execute(text(f"UPDATE {ITEM} SET name = 'after'"))
        await session.commit()
    after = await _fresh_reads(env, reader_cache, seeded.id)
    assert after == ("after", ["after"]), f"stale after the commit: (get, list) = {after}"
