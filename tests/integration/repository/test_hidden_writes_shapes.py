"""Trigger and view writes in other shapes (review 10): INSTEAD OF and statement-level triggers, UPDATE OF, quoted,
qualified and CTE spellings, a table whose name extends a triggered one's, views over views, SERIAL / UUID defaults,
a MariaDB trigger with an IF block."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.integration.repository.conftest import Env
from tests.integration.repository.test_hidden_dependencies import (
    Account,
    Audit,
    Parent,
    _fresh,
    _warm,
)
from tests.integration.repository.test_hidden_writes import _audit_trigger, _cleanup, _dialect, _exec, _only, _reflect

pytestmark = pytest.mark.parametrize("cache_store", ["memory_store"], indirect=True)


def _audit_after(env: Env, write: Any, expected: int = 1) -> None:
    cache = env.make_cache()
    assert _warm(env, cache, Audit, "count") == 0
    with env.bound(cache)() as session:
        write(session)
        session.commit()
    assert _fresh(env, cache, Audit, "count") == expected, "stale"


def _raw(sql: str) -> Any:
    return lambda session: session.execute(text(sql))


def _drop_trg(dialect: str, name: str, table: str) -> str:
    return f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else "")


def test_instead_of_trigger_on_view(hidden: Env) -> None:
    engine = _only(hidden, "sqlite", "postgresql")
    dialect = _dialect(hidden)
    _exec(
        engine, *_audit_trigger(dialect, "lak_rv_io", "INSTEAD OF INSERT", "lak_hid_active_r", "NEW.name", "lak_rv_io")
    )
    try:
        _reflect(engine)
        _audit_after(hidden, _raw("INSERT INTO lak_hid_active_r (id, name) VALUES (5, 'x')"))
    finally:
        _cleanup(engine, _drop_trg(dialect, "lak_rv_io", "lak_hid_active_r"), "DROP FUNCTION IF EXISTS lak_rv_io()")


def test_statement_level_trigger(hidden: Env) -> None:
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "CREATE OR REPLACE FUNCTION lak_rv_st() RETURNS trigger AS $$ BEGIN "
        "INSERT INTO lak_hid_audit (id) VALUES ('st'); RETURN NULL; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER lak_rv_st AFTER INSERT ON lak_hid_account FOR EACH STATEMENT EXECUTE FUNCTION lak_rv_st()",
    )
    try:
        _reflect(engine)
        _audit_after(hidden, lambda session: session.add(Account(id=3, name="ann")))
    finally:
        _cleanup(engine, "DROP TRIGGER IF EXISTS lak_rv_st ON lak_hid_account", "DROP FUNCTION IF EXISTS lak_rv_st()")


def test_update_of_column_trigger(hidden: Env) -> None:
    engine: Engine = hidden.engine_object
    dialect = _dialect(hidden)
    true = "true" if dialect == "postgresql" else "1"
    _exec(engine, f"INSERT INTO lak_hid_account (id, name, active) VALUES (3, 'ann', {true})")
    event = "AFTER UPDATE OF name" if dialect != "mysql" else "AFTER UPDATE"
    _exec(engine, *_audit_trigger(dialect, "lak_rv_uo", event, "lak_hid_account", "NEW.name", "lak_rv_uo"))

    def write(session: Any) -> None:
        session.get_one(Account, 3).name = "bob"

    try:
        _reflect(engine)
        _audit_after(hidden, write)
    finally:
        _cleanup(engine, _drop_trg(dialect, "lak_rv_uo", "lak_hid_account"), "DROP FUNCTION IF EXISTS lak_rv_uo()")


@pytest.mark.parametrize(
    "sql",
    [
        'INSERT INTO "LakRvMixed" (id) VALUES (1)',
        'INSERT INTO public."LakRvMixed" (id) VALUES (1)',
        'WITH x AS (INSERT INTO "LakRvMixed" (id) VALUES (1) RETURNING id) SELECT id FROM x',
    ],
    ids=["quoted", "schema_qualified", "cte"],
)
def test_quoted_mixed_case_qualified_cte(hidden: Env, sql: str) -> None:
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        'CREATE TABLE "LakRvMixed" (id INTEGER PRIMARY KEY)',
        *_audit_trigger("postgresql", "lak_rv_mx", "AFTER INSERT", '"LakRvMixed"', "'m'", "lak_rv_mx"),
    )
    try:
        _reflect(engine)
        _audit_after(hidden, _raw(sql))
    finally:
        _cleanup(engine, 'DROP TABLE IF EXISTS "LakRvMixed"', "DROP FUNCTION IF EXISTS lak_rv_mx()")


def test_prefix_named_table_leaves_audit_cached(hidden: Env) -> None:
    """Trigger on lak_hid_account; a write to lak_hid_account_x (no trigger) leaves the audit entries."""
    engine: Engine = hidden.engine_object
    dialect = _dialect(hidden)
    _exec(
        engine,
        "CREATE TABLE lak_hid_account_x (id INTEGER PRIMARY KEY)",
        *_audit_trigger(dialect, "lak_rv_px", "AFTER INSERT", "lak_hid_account", "NEW.name", "lak_rv_px"),
    )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        _warm(hidden, cache, Audit, "count")
        with hidden.bound(cache)() as session:
            session.execute(text("INSERT INTO lak_hid_account_x (id) VALUES (1)"))
            session.commit()
        hits = cache.stats["hit"]
        assert _fresh(hidden, cache, Audit, "count") == 0
        assert cache.stats["hit"] == hits + 1
    finally:
        _cleanup(
            engine,
            _drop_trg(dialect, "lak_rv_px", "lak_hid_account"),
            "DROP TABLE IF EXISTS lak_hid_account_x",
            "DROP FUNCTION IF EXISTS lak_rv_px()",
        )


def test_view_over_view_calling_a_writer(hidden: Env) -> None:
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "INSERT INTO lak_hid_account (id, name, active) VALUES (1, 'ann', true)",
        "CREATE FUNCTION lak_rv_w(i INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO lak_hid_audit (id) VALUES (md5(random()::text)); RETURN i; END $$",
        "CREATE VIEW lak_rv_v1 AS SELECT id, name, lak_rv_w(id) AS b FROM lak_hid_account",
        "CREATE VIEW lak_rv_v2 AS SELECT id, name, b FROM lak_rv_v1",
    )
    try:
        _reflect(engine)
        _audit_after(hidden, _raw("SELECT id, name, b FROM lak_rv_v2"))
    finally:
        _cleanup(
            engine,
            "DROP VIEW IF EXISTS lak_rv_v2",
            "DROP VIEW IF EXISTS lak_rv_v1",
            "DROP FUNCTION IF EXISTS lak_rv_w(INTEGER)",
        )


def test_serial_and_uuid_defaults_leave_other_tables_cached(hidden: Env) -> None:
    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "CREATE TABLE lak_rv_ser (id SERIAL PRIMARY KEY, u UUID DEFAULT gen_random_uuid(), t TIMESTAMP DEFAULT now())",
        *_audit_trigger("postgresql", "lak_rv_au", "AFTER INSERT", "lak_hid_account", "NEW.name", "lak_rv_au"),
    )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        _warm(hidden, cache, Parent, "count")
        with hidden.bound(cache)() as session:
            session.execute(text("INSERT INTO lak_rv_ser DEFAULT VALUES"))
            session.commit()
        hits = cache.stats["hit"]
        _fresh(hidden, cache, Parent, "count")
        assert cache.stats["hit"] == hits + 1
    finally:
        _cleanup(engine, "DROP TABLE IF EXISTS lak_rv_ser", "DROP FUNCTION IF EXISTS lak_rv_au() CASCADE")


def test_mysql_trigger_with_if_block(hidden: Env) -> None:
    engine = _only(hidden, "mysql", "mariadb")
    _exec(
        engine,
        "CREATE TRIGGER lak_rv_if AFTER INSERT ON lak_hid_account FOR EACH ROW BEGIN "
        "DECLARE n INT DEFAULT 0; IF NEW.active THEN SET n = 1; INSERT INTO lak_hid_audit (id) VALUES (NEW.name); "
        "END IF; END",
    )
    try:
        _reflect(engine)
        _audit_after(hidden, lambda session: session.add(Account(id=3, name=uuid.uuid4().hex[:8])))
    finally:
        _cleanup(engine, "DROP TRIGGER IF EXISTS lak_rv_if")


from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402


class _ViewBase(DeclarativeBase):
    pass


class OuterView(_ViewBase):
    __tablename__ = "lak_rv_v2"
    id: Mapped[int] = mapped_column(primary_key=True)
    b: Mapped[int]


def test_orm_read_of_view_over_view_calling_a_writer_is_not_cached(hidden: Env) -> None:
    from tests.integration.repository.test_hidden_dependencies import _repo

    engine = _only(hidden, "postgresql")
    _exec(
        engine,
        "INSERT INTO lak_hid_account (id, name, active) VALUES (1, 'ann', true)",
        "CREATE FUNCTION lak_rv_w(i INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO lak_hid_audit (id) VALUES (md5(random()::text)); RETURN i; END $$",
        "CREATE VIEW lak_rv_v1 AS SELECT id, name, lak_rv_w(id) AS b FROM lak_hid_account",
        "CREATE VIEW lak_rv_v2 AS SELECT id, b FROM lak_rv_v1",
    )
    try:
        _reflect(engine)
        cache = hidden.make_cache()
        assert _warm(hidden, cache, Audit, "count") == 0
        for _ in range(2):
            with hidden.bound(cache)() as session:
                _repo(OuterView)(session=session, cache=cache).get_many()
                session.commit()
        assert cache.stats["hit"] == 1, "the view read was served from the cache"
        assert _fresh(hidden, cache, Audit, "count") == 2, "stale"
    finally:
        _cleanup(
            engine,
            "DROP VIEW IF EXISTS lak_rv_v2",
            "DROP VIEW IF EXISTS lak_rv_v1",
            "DROP FUNCTION IF EXISTS lak_rv_w(INTEGER)",
        )
