"""Writes that triggers make, however their table is written (invariant 4), found by review 10.

A trigger's write when its table is written by another trigger, a foreign key's cascade, a function, or through an
updatable view; reflection of two schemas sharing a table name, of a trigger function calling a helper in its own
schema, of SQLite TEMP triggers, on asyncpg (``pg_proc.provolatile`` arrives as bytes); and two common triggers that
write no table must not invalidate the whole namespace (a write keyword in a string literal; contrib's C
``moddatetime``, owned by its extension).
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from sqlalchemy import Engine, text

from litestar_alchemy_kit import reflect_dependencies
from litestar_alchemy_kit.orm import cascades
from tests.integration.repository.conftest import Env
from tests.integration.repository.test_hidden_dependencies import (
    Account,
    Audit,
    Parent,
    _fresh,
    _warm,
)

pytestmark = pytest.mark.parametrize("cache_store", ["memory_store"], indirect=True)


def _create_trigger(engine: Engine) -> None:
    """lak_hid_trg (PostgreSQL): every account insert writes lak_hid_audit through lak_hid_fn()."""
    _exec(
        engine,
        *_audit_trigger("postgresql", "lak_hid_trg", "AFTER INSERT", "lak_hid_account", "NEW.name", "lak_hid_fn"),
    )


def _dialect(env: Env) -> str:
    return str(env.engine_object.dialect.name)


def _only(env: Env, *dialects: str) -> Engine:
    engine: Engine = env.engine_object
    if engine.dialect.name not in dialects:
        pytest.skip(f"{engine.dialect.name}: this scenario is for {dialects}")
    return engine


def _reflect(engine: Engine, schema: str | None = None) -> None:
    with engine.connect() as conn:
        reflect_dependencies(conn, schema)


def _exec(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _cleanup(engine: Engine, *statements: str) -> None:
    cascades.forget_dependencies()
    for statement in statements:
        with contextlib.suppress(Exception), engine.begin() as conn:
            conn.execute(text(statement))


def _audit_trigger(  # noqa: PLR0917 - the parts of one trigger, in the order CREATE TRIGGER names them
    dialect: str, name: str, event_sql: str, table: str, value: str, function: str = ""
) -> list[str]:
    """A row trigger on ``table`` inserting ``value`` into lak_hid_audit (PostgreSQL: through ``function``)."""
    insert = f"INSERT INTO lak_hid_audit (id) VALUES ({value})"
    if dialect == "postgresql":
        return [
            (
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$ BEGIN {insert}; "
                "RETURN NULL; END $$ LANGUAGE plpgsql"
            ),
            f"CREATE TRIGGER {name} {event_sql} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()",
        ]
    if dialect == "sqlite":
        return [f"CREATE TRIGGER {name} {event_sql} ON {table} BEGIN {insert}; END"]
    return [f"CREATE TRIGGER {name} {event_sql} ON {table} FOR EACH ROW BEGIN {insert}; END"]


# --- 1. a trigger's write fires another trigger ------------------------------------------------


def test_chained_triggers(hidden: Env) -> None:
    """account insert -> trigger writes lak_rv_mid -> trigger on lak_rv_mid writes lak_hid_audit."""
    engine: Engine = hidden.engine_object
    dialect = _dialect(hidden)
    _exec(engine, "CREATE TABLE lak_rv_mid (id VARCHAR(40) PRIMARY KEY)")
    first = {
        "postgresql": [
            (
                "CREATE OR REPLACE FUNCTION lak_rv_fn1() RETURNS trigger AS $$ BEGIN "
                "INSERT INTO lak_rv_mid (id) VALUES (NEW.name); RETURN NULL; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER lak_rv_t1 AFTER INSERT ON lak_hid_account FOR EACH ROW EXECUTE FUNCTION lak_rv_fn1()",
        ],
        "sqlite": [
            (
                "CREATE TRIGGER lak_rv_t1 AFTER INSERT ON lak_hid_account "
                "BEGIN INSERT INTO lak_rv_mid (id) VALUES (NEW.name); END"
            )
        ],
    }.get(
        dialect,
        [
            (
                "CREATE TRIGGER lak_rv_t1 AFTER INSERT ON lak_hid_account FOR EACH ROW "
                "BEGIN INSERT INTO lak_rv_mid (id) VALUES (NEW.name); END"
            )
        ],
    )
    _exec(engine, *first, *_audit_trigger(dialect, "lak_rv_t2", "AFTER INSERT", "lak_rv_mid", "NEW.id", "lak_rv_fn2"))
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.add(Account(id=3, name="ann"))
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the second trigger's write was not invalidated"
    finally:
        _cleanup(
            engine,
            "DROP TRIGGER IF EXISTS lak_rv_t1" + (" ON lak_hid_account" if dialect == "postgresql" else ""),
            "DROP TABLE IF EXISTS lak_rv_mid",
            "DROP FUNCTION IF EXISTS lak_rv_fn1()",
            "DROP FUNCTION IF EXISTS lak_rv_fn2()",
        )


# --- 2. a foreign key's cascade writes a table with a trigger ------------------------------------


def test_fk_cascade_into_triggered_table(hidden: Env) -> None:
    """DELETE parent cascades to lak_hid_child, whose AFTER DELETE trigger writes lak_hid_audit (MySQL: cascades
    fire no trigger, so SQLite and PostgreSQL)."""
    engine = _only(hidden, "sqlite", "postgresql")
    dialect = _dialect(hidden)
    _exec(engine, *_audit_trigger(dialect, "lak_rv_tc", "AFTER DELETE", "lak_hid_child", "'gone'", "lak_rv_fnc"))
    _exec(
        engine, "INSERT INTO lak_hid_parent (id) VALUES (1)", "INSERT INTO lak_hid_child (id, parent_id) VALUES (1, 1)"
    )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.delete(session.get_one(Parent, 1))
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the cascaded row's trigger write was not invalidated"
    finally:
        _cleanup(
            engine,
            "DROP TRIGGER IF EXISTS lak_rv_tc" + (" ON lak_hid_child" if dialect == "postgresql" else ""),
            "DROP FUNCTION IF EXISTS lak_rv_fnc()",
        )


# --- 3. a called writing function writes a table with a trigger ----------------------------------


def test_function_writes_into_triggered_table(hidden: Env) -> None:
    """SELECT lak_rv_add(3) inserts an account; the account trigger writes lak_hid_audit."""
    engine = _only(hidden, "postgresql")
    _create_trigger(engine)  # lak_hid_trg: account insert -> audit
    _exec(
        engine,
        "CREATE FUNCTION lak_rv_add(iid INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO lak_hid_account (id, name, active) VALUES (iid, 'fn', true); RETURN iid; END $$",
    )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.execute(text("SELECT lak_rv_add(3)"))
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the trigger fired by the function was missed"
    finally:
        _cleanup(
            engine,
            "DROP TRIGGER IF EXISTS lak_hid_trg ON lak_hid_account",
            "DROP FUNCTION IF EXISTS lak_rv_add(INTEGER)",
        )


# --- 4. reflecting a second schema replaces the first one's triggers ------------------------------


@pytest.mark.parametrize("second", [False, True], ids=["control_one_schema", "two_schemas"])
def test_reflecting_another_schema_keeps_the_trigger(hidden: Env, second: bool) -> None:
    """public.lak_hid_account has the audit trigger; lak_rv_s.lak_hid_account (a serial id) has none. Reflecting
    public then lak_rv_s keeps the trigger (what tables of one name run adds up)."""
    engine = _only(hidden, "postgresql")
    _create_trigger(engine)
    _exec(
        engine,
        "CREATE SCHEMA IF NOT EXISTS lak_rv_s",
        "CREATE TABLE lak_rv_s.lak_hid_account (id SERIAL PRIMARY KEY, name VARCHAR(20))",
    )
    try:
        _reflect(engine)
        if second:
            _reflect(engine, "lak_rv_s")
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.add(Account(id=3, name="ann"))
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the second schema's reflection dropped the trigger"
    finally:
        _cleanup(
            engine, "DROP TRIGGER IF EXISTS lak_hid_trg ON lak_hid_account", "DROP SCHEMA IF EXISTS lak_rv_s CASCADE"
        )


# --- 5. a trigger function of another schema calls a helper there ---------------------------------


def test_trigger_function_of_another_schema_calling_a_helper(hidden: Env) -> None:
    """lak_rv_o.lak_rv_trg() (another schema) PERFORMs lak_rv_o.lak_rv_log(), which writes public.lak_hid_audit:
    the trigger function's schema is reflected too."""
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "CREATE SCHEMA IF NOT EXISTS lak_rv_o",
        "CREATE OR REPLACE FUNCTION lak_rv_o.lak_rv_log(v TEXT) RETURNS void AS $$ BEGIN "
        "INSERT INTO public.lak_hid_audit (id) VALUES (v); END $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION lak_rv_o.lak_rv_trg() RETURNS trigger AS $$ BEGIN "
        "PERFORM lak_rv_o.lak_rv_log(NEW.name); RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER lak_hid_trg AFTER INSERT ON lak_hid_account FOR EACH ROW EXECUTE FUNCTION lak_rv_o.lak_rv_trg()",
    )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.add(Account(id=3, name="ann"))
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the helper's write was not invalidated"
    finally:
        _cleanup(
            engine, "DROP TRIGGER IF EXISTS lak_hid_trg ON lak_hid_account", "DROP SCHEMA IF EXISTS lak_rv_o CASCADE"
        )


# --- 6. a write through an auto-updatable view fires the base table's trigger ---------------------


def test_write_through_updatable_view_fires_base_trigger(hidden: Env) -> None:
    """UPDATE lak_hid_active_r (a simple view over the account table) fires the account's UPDATE trigger."""
    engine = _only(hidden, "postgresql", "mysql", "mariadb")
    dialect = _dialect(hidden)
    _exec(engine, "INSERT INTO lak_hid_account (id, name, active) VALUES (1, 'ann', true)")
    _exec(engine, *_audit_trigger(dialect, "lak_hid_trg", "AFTER UPDATE", "lak_hid_account", "NEW.name", "lak_hid_fn"))
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.execute(text("UPDATE lak_hid_active_r SET name = 'bob' WHERE id = 1"))
            session.commit()
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: the base table's trigger write was missed"
    finally:
        _cleanup(
            engine, "DROP TRIGGER IF EXISTS lak_hid_trg" + (" ON lak_hid_account" if dialect == "postgresql" else "")
        )


def test_write_through_updatable_view_base_table(hidden: Env) -> None:
    """The same UPDATE through the view, no trigger: the base table is invalidated."""
    engine = _only(hidden, "postgresql", "mysql", "mariadb")
    _exec(engine, "INSERT INTO lak_hid_account (id, name, active) VALUES (1, 'ann', true)")
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Account) == ["ann"]
        with hidden.bound(cache)() as session:
            session.execute(text("UPDATE lak_hid_active_r SET name = 'bob' WHERE id = 1"))
            session.commit()
        assert _fresh(hidden, cache, Account) == ["bob"], "stale: a write through a view left its base table cached"
    finally:
        _cleanup(engine)


def test_write_to_a_joined_table_leaves_the_other_cached(hidden: Env) -> None:
    """A reflected view joining accounts and parents: an account write changes the view, not the parents' entries."""
    engine = hidden.engine_object
    _exec(
        engine,
        "CREATE VIEW lak_rv_join AS SELECT a.id, a.name FROM lak_hid_account a JOIN lak_hid_parent p ON p.id = a.id",
    )
    try:
        _reflect(engine)
        _parent_still_cached(hidden, lambda session: session.add(Account(id=3, name="ann")))
    finally:
        _cleanup(engine, "DROP VIEW IF EXISTS lak_rv_join")


# --- 7. SQLite TEMP triggers live in sqlite_temp_master ------------------------------------------


def test_sqlite_temp_trigger(hidden: Env) -> None:
    engine = _only(hidden, "sqlite")
    try:
        with engine.connect() as conn:  # a TEMP trigger is the connection's: the pool hands the same one back
            conn.execute(
                text(
                    "CREATE TEMP TRIGGER lak_rv_tmp AFTER INSERT ON lak_hid_account "
                    "BEGIN INSERT INTO lak_hid_audit (id) VALUES (NEW.name); END"
                )
            )
            conn.commit()
            reflect_dependencies(conn)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        with hidden.bound(cache)() as session:
            session.add(Account(id=3, name="ann"))
            session.commit()
        with engine.connect() as conn:
            real = conn.execute(text("SELECT count(*) FROM lak_hid_audit")).scalar_one()
        assert real == 1, "setup: the TEMP trigger did not run on the session's connection"
        assert _fresh(hidden, cache, Audit, "count") == 1, "stale: a TEMP trigger's write was not invalidated"
    finally:
        _cleanup(engine)


# --- 8. over-invalidation: common PostgreSQL triggers that write nothing invalidate the namespace ---


def _parent_still_cached(env: Env, write: Any) -> None:
    cache = env.make_cache()
    assert _warm(env, cache, Parent, "count") == 0
    with env.bound(cache)() as session:
        write(session)
        session.commit()
    hits = cache.stats["hit"]
    assert _fresh(env, cache, Parent, "count") == 0
    assert cache.stats["hit"] == hits + 1, "an account write invalidated an unrelated table (the whole namespace)"


@pytest.mark.parametrize(
    "body",
    [
        "NEW.name := lower(NEW.name);",
        "IF TG_OP = 'UPDATE' THEN NEW.name := lower(NEW.name); END IF;",
    ],
    ids=["control_plain", "tg_op"],
)
def test_trigger_writing_no_table_leaves_the_namespace(hidden: Env, body: str) -> None:
    """``IF TG_OP = 'UPDATE' THEN NEW.x := ...`` writes no table: the word in a string literal is no write."""
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "CREATE OR REPLACE FUNCTION lak_hid_fn() RETURNS trigger AS $$ BEGIN "
        f"{body} RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER lak_hid_trg BEFORE INSERT OR UPDATE ON lak_hid_account FOR EACH ROW EXECUTE FUNCTION lak_hid_fn()",
    )
    try:
        _reflect(engine)
        _parent_still_cached(hidden, lambda session: session.add(Account(id=3, name="ann")))
    finally:
        _cleanup(
            engine, "DROP TRIGGER IF EXISTS lak_hid_trg ON lak_hid_account", "DROP FUNCTION IF EXISTS lak_hid_fn()"
        )


@pytest.mark.parametrize("trigger", [False, True], ids=["control_no_trigger", "moddatetime"])
def test_extension_trigger_leaves_the_namespace(hidden: Env, trigger: bool) -> None:
    """contrib's moddatetime (C, installed in public by its extension) for an updated_at column: trusted to write no
    table, so an update of the table leaves the others' entries."""
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "CREATE EXTENSION IF NOT EXISTS moddatetime",
        "INSERT INTO lak_hid_account (id, name, active) VALUES (3, 'ann', true)",
        "ALTER TABLE lak_hid_account ADD COLUMN modified TIMESTAMP",
    )
    if trigger:
        _exec(
            engine,
            "CREATE TRIGGER lak_hid_trg BEFORE UPDATE ON lak_hid_account FOR EACH ROW "
            "EXECUTE FUNCTION moddatetime(modified)",
        )
    try:
        _reflect(engine)

        def write(session: Any) -> None:
            session.execute(text("UPDATE lak_hid_account SET name = 'bob' WHERE id = 3"))

        _parent_still_cached(hidden, write)
    finally:
        _cleanup(
            engine, "DROP TRIGGER IF EXISTS lak_hid_trg ON lak_hid_account", "DROP EXTENSION IF EXISTS moddatetime"
        )


@pytest.mark.parametrize(
    "async_engine", [pytest.param(name, id=name) for name in ("aiosqlite", "psycopg_async", "asyncpg")], indirect=True
)
async def test_async_engine_reflected_trigger(async_env: Env) -> None:
    """asyncpg returns pg_proc.provolatile (type "char") as bytes: read as text, a VOLATILE function may write."""
    from litestar_alchemy_kit import reflect_dependencies
    from litestar_alchemy_kit.orm import cascades
    from litestar_alchemy_kit.repository import CachedAsyncRepository

    engine = async_env.engine_object
    dialect = engine.dialect.name
    repo = type("AuditRepo", (CachedAsyncRepository,), {"model_type": Audit})
    async with engine.begin() as conn:
        for table in ("lak_hid_audit", "lak_hid_account"):
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        for model in (Account, Audit):
            await conn.run_sync(model.__table__.create)  # type: ignore[attr-defined]
        for statement in _audit_trigger(
            dialect, "lak_rv_as", "AFTER INSERT", "lak_hid_account", "NEW.name", "lak_rv_as"
        ):
            await conn.execute(text(statement))
    try:
        async with engine.connect() as conn:
            await conn.run_sync(reflect_dependencies)
        cache = async_env.make_cache()
        async with async_env.sessionmaker() as session:
            assert await repo(session=session, cache=cache).count() == 0
            assert await repo(session=session, cache=cache).count() == 0
        async with async_env.bound(cache)() as session:
            session.add(Account(id=3, name="ann"))
            await session.commit()
        async with async_env.sessionmaker() as session:
            real = (await session.execute(text("SELECT count(*) FROM lak_hid_audit"))).scalar_one()
            assert await repo(session=session, cache=cache).count() == 1, f"stale (database: {real})"
    finally:
        cascades.forget_dependencies()
        async with engine.begin() as conn:
            for table in ("lak_hid_audit", "lak_hid_account"):
                await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
            if dialect == "postgresql":
                await conn.execute(text("DROP FUNCTION IF EXISTS lak_rv_as()"))
