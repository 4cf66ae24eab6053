"""Database functions whose bodies write: what a call writes, and that a statement calling one is not cached.

Analysis only (compile-only dialects); the stale reads these prevent are shown against real databases
in ``tests/integration/repository/test_function_writes.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, select, text, update
from sqlalchemy.dialects import postgresql

from litestar_alchemy_kit import declare_function
from litestar_alchemy_kit.orm import cascades, functions
from litestar_alchemy_kit.orm.functionreflect import analyse_body
from litestar_alchemy_kit.orm.rawdml import EVERYTHING, _compiled, raw_sql_writes
from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo, analyze

metadata = MetaData()
item = Table("lak_fnwu_item", metadata, Column("id", Integer, primary_key=True), Column("stock", Integer))
log = Table("lak_fnwu_log", metadata, Column("id", Integer, primary_key=True), Column("n", Integer))
ITEM, LOG = "t:lak_fnwu_item", "t:lak_fnwu_log"
KNOWN = ["lak_fnwu_item", "lak_fnwu_log", "lak_fnwu_other"]


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    cascades.forget_dependencies()
    yield
    cascades.forget_dependencies()


@pytest.mark.parametrize(
    ("body", "language", "dialect", "written", "unknown"),
    [
        (
            "UPDATE lak_fnwu_item SET stock = stock + 1 WHERE id = $1 RETURNING stock",
            "sql",
            "postgresql",
            {"lak_fnwu_item"},
            False,
        ),
        (
            "BEGIN UPDATE lak_fnwu_item SET stock = stock + 1 WHERE id = iid; RETURN 1; END",
            "plpgsql",
            "postgresql",
            {"lak_fnwu_item"},
            False,
        ),
        # MySQL / MariaDB: a BEGIN ... END block sqlglot does not parse; the known names it mentions count
        (
            "BEGIN INSERT INTO lak_fnwu_log (n) SELECT stock FROM lak_fnwu_item; RETURN 1; END",
            "sql",
            "mysql",
            {"lak_fnwu_log", "lak_fnwu_item"},
            False,
        ),
        # a target no known table names (created after the reflection): named after its keyword
        (
            'BEGIN DELETE FROM "billing"."lak_fnwu_new" WHERE id = 1; RETURN 1; END',
            "plpgsql",
            "postgresql",
            {"lak_fnwu_new"},
            False,
        ),
        ("BEGIN TRUNCATE TABLE lak_fnwu_log; RETURN 1; END", "plpgsql", "postgresql", {"lak_fnwu_log"}, False),
        # a procedure call: whatever it writes, no name in the body tells
        ("BEGIN CALL lak_fnwu_proc(); RETURN 1; END", "plpgsql", "postgresql", set(), True),
        # reads only
        ("SELECT stock FROM lak_fnwu_item WHERE id = $1", "sql", "postgresql", set(), False),
        ("BEGIN RETURN (SELECT count(*) FROM lak_fnwu_item); END", "plpgsql", "postgresql", set(), False),
        # dynamic SQL, another language: not analysable, VOLATILE: may write anything
        ("BEGIN EXECUTE 'UPDATE ' || t || ' SET n = 1'; RETURN 1; END", "plpgsql", "postgresql", set(), True),
        ("lak_fnwu_c_impl", "c", "postgresql", set(), True),
    ],
)
def test_function_bodies_that_write(body: str, language: str, dialect: str, written: set[str], unknown: bool) -> None:
    learnt = analyse_body(body, language, KNOWN, dialect)
    assert {name for _, name in learnt.writes} == written
    assert learnt.writes_unknown is unknown


@pytest.mark.parametrize(
    ("body", "language"),
    [
        ("BEGIN UPDATE lak_fnwu_item SET stock = 1; RETURN 1; END", "plpgsql"),
        ("BEGIN EXECUTE 'UPDATE lak_fnwu_item SET stock = 1'; RETURN 1; END", "plpgsql"),
        ("lak_fnwu_c_impl", "c"),
    ],
)
def test_a_function_the_database_keeps_from_writing_writes_nothing(body: str, language: str) -> None:
    """PostgreSQL refuses writes in a STABLE / IMMUTABLE sql or plpgsql function; a C one is trusted to its volatility."""
    learnt = analyse_body(body, language, KNOWN, "postgresql", volatile=False)
    assert not learnt.writes
    assert not learnt.writes_unknown


def test_a_statement_calling_a_writing_function_bypasses_the_cache(dialect: Any) -> None:
    reading = select(item.c.id, func.lak_fnwu_bump(item.c.id))
    assert isinstance(analyze(reading, dialect=dialect), StatementInfo)  # not known to write: cached
    declare_function("lak_fnwu_bump", writes=[item])
    for statement in (
        reading,
        select(item.c.id).where(func.lak_fnwu_bump(item.c.id) > 0),
        select(item.c.id).where(text("lak_fnwu_bump(lak_fnwu_item.id) > 0")),
    ):
        info = analyze(statement, dialect=dialect)
        assert isinstance(info, Bypass), statement
        assert info.reason == "function lak_fnwu_bump() writes tables"


def test_a_function_calling_a_writing_function_writes_what_it_writes(dialect: Any) -> None:
    declare_function("lak_fnwu_reader", log)
    declare_function("lak_fnwu_outer", calls=["lak_fnwu_bump"])
    assert isinstance(analyze(select(func.lak_fnwu_outer(1), item.c.id), dialect=dialect), StatementInfo)
    declare_function("lak_fnwu_bump", "lak_fnwu_item", writes=["lak_fnwu_item"])
    assert isinstance(analyze(select(func.lak_fnwu_outer(1), item.c.id), dialect=dialect), Bypass)
    assert isinstance(analyze(select(func.lak_fnwu_reader(1), item.c.id), dialect=dialect), StatementInfo)
    assert ITEM in raw_sql_writes("SELECT lak_fnwu_outer(1)", dialect.name)  # type: ignore[operator]


def test_calls_of_writing_functions_are_writes() -> None:
    assert raw_sql_writes("SELECT lak_fnwu_bump(1)", "postgresql") is None
    assert not functions.writers_known()
    declare_function("lak_fnwu_bump", writes=[item])
    assert functions.writers_known()
    assert ITEM in (raw_sql_writes("SELECT lak_fnwu_bump(1)", "postgresql") or ())
    assert LOG not in (raw_sql_writes("SELECT lak_fnwu_bump(1)", "postgresql") or ())
    # raw DML calling one writes its own target and the function's
    assert {ITEM, LOG} <= (raw_sql_writes("UPDATE lak_fnwu_log SET n = lak_fnwu_bump(id)", "postgresql") or set())
    dml = update(log).values(n=func.lak_fnwu_bump(log.c.id))
    assert {ITEM, LOG} <= (_compiled(dml.compile(dialect=postgresql.dialect())) or set())
    assert raw_sql_writes("SELECT lak_fnwu_other(1)", "postgresql") is None


def test_a_function_that_may_write_anything_is_an_unattributable_write() -> None:
    functions.learn({"lak_fnwu_c": analyse_body("lak_fnwu_c_impl", "c", [], "postgresql")})  # VOLATILE
    assert raw_sql_writes("SELECT lak_fnwu_c(1)", "postgresql") is EVERYTHING
    assert raw_sql_writes("UPDATE lak_fnwu_log SET n = lak_fnwu_c(1)", "postgresql") is EVERYTHING
    # a declaration wins over reflection: declared to write nothing, the function is trusted
    declare_function("lak_fnwu_c")
    assert raw_sql_writes("SELECT lak_fnwu_c(1)", "postgresql") is None
    assert not functions.writers_known()


def test_declared_writes_add_up() -> None:
    declare_function("lak_fnwu_bump", writes=[item])
    declare_function("lak_fnwu_bump", writes=["lak_fnwu_log"])
    assert {ITEM, LOG} <= (raw_sql_writes("SELECT lak_fnwu_bump(1)", "mysql") or set())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"writes": "lak_fnwu_item"}, TypeError),
        ({"writes": item}, TypeError),
        ({"writes": 3}, TypeError),
        ({"writes": [3]}, TypeError),
        ({"writes": [""]}, ValueError),
        ({"writes": [select(item).subquery()]}, TypeError),
        ({"writes": [item], "calls": 3}, TypeError),
    ],
)
def test_bad_writes_raise_and_register_nothing(kwargs: dict[str, Any], error: type) -> None:
    before = functions.generation()
    with pytest.raises(error, match="declare_function"):
        declare_function("lak_fnwu_x", **kwargs)
    assert functions.generation() == before
    assert functions.function_reads(frozenset({"lak_fnwu_x"})) is None
    assert not functions.writers_known()


# --- calls a statement makes without naming them: through a view, a written table's DEFAULT or trigger -----------


def _view_calling_bump() -> None:
    declare_function("lak_fnwu_bump", writes=[item])
    functions.note_view_calls("lak_fnwu_v", "SELECT id, lak_fnwu_bump(id) AS b FROM lak_fnwu_log", ["lak_fnwu_log"])


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM lak_fnwu_v",
        'SELECT b FROM "lak_fnwu_v" WHERE id = 1',
        "SELECT b FROM public.LAK_FNWU_V",
        "SELECT * FROM lak_fnwu_w",  # a view reading the view
    ],
)
def test_reading_a_view_that_calls_a_writer_is_a_write(sql: str) -> None:
    _view_calling_bump()
    functions.note_view_calls("lak_fnwu_w", "SELECT * FROM lak_fnwu_v", ["lak_fnwu_v"])
    assert ITEM in (raw_sql_writes(sql, "postgresql") or set())


@pytest.mark.parametrize("sql", ["SELECT * FROM lak_fnwu_v2", "SELECT * FROM lak_fnwu_log", "SELECT 'lak_fnwu_vx'"])
def test_a_name_sharing_a_view_prefix_is_no_read_of_it(sql: str) -> None:
    _view_calling_bump()
    assert raw_sql_writes(sql, "postgresql") is None


def test_a_view_calling_a_writer_bypasses_the_cache(dialect: Any) -> None:
    view = Table("lak_fnwu_v", MetaData(), Column("id", Integer, primary_key=True), Column("b", Integer))
    assert isinstance(analyze(select(view), dialect=dialect), StatementInfo)
    _view_calling_bump()
    bypass = analyze(select(view), dialect=dialect)
    assert isinstance(bypass, Bypass)
    assert "lak_fnwu_bump" in bypass.reason


def test_a_view_calling_a_reader_is_cached_and_follows_its_tables(dialect: Any) -> None:
    """A view calling a function that only reads: the read is cached, and a write to the function's table reaches it."""
    declare_function("lak_fnwu_total", item)
    functions.note_view_calls("lak_fnwu_v", "SELECT id, lak_fnwu_total(id) AS b FROM lak_fnwu_log", ["lak_fnwu_log"])
    view = Table("lak_fnwu_v", MetaData(), Column("id", Integer, primary_key=True), Column("b", Integer))
    assert isinstance(analyze(select(view), dialect=dialect), StatementInfo)
    assert "t:lak_fnwu_v" in cascades.written_tags(item)


@pytest.mark.parametrize(
    ("sql", "written"),
    [
        ("INSERT INTO lak_fnwu_log (id) VALUES (1)", True),
        ('insert into "LAK_FNWU_LOG" (id) values (1)', True),
        ("UPDATE lak_fnwu_log SET n = 2", True),
        ("DELETE FROM lak_fnwu_log", True),
        ("SELECT * FROM lak_fnwu_log", False),  # a read runs no DEFAULT nor trigger
        ("INSERT INTO lak_fnwu_logs (id) VALUES (1)", False),  # another table
    ],
)
def test_writing_a_table_whose_default_or_trigger_writes(sql: str, written: bool) -> None:
    declare_function("lak_fnwu_bump", writes=[item])
    functions.note_write_calls("lak_fnwu_log", ["lak_fnwu_bump", "nextval"])
    found = raw_sql_writes(sql, "postgresql") or set()
    assert (ITEM in found) is written


def test_a_trigger_that_may_write_anything_is_an_unattributable_write() -> None:
    functions.learn(
        {"<trigger t on lak_fnwu_log>": analyse_body("BEGIN EXECUTE 'x'; END", "plpgsql", KNOWN, "postgresql")}
    )
    functions.note_write_calls("lak_fnwu_log", ["<trigger t on lak_fnwu_log>"])
    assert raw_sql_writes("INSERT INTO lak_fnwu_log (id) VALUES (1)", "postgresql") is EVERYTHING


def test_write_calls_add_up_until_forgotten() -> None:
    """Tables of one name in two schemas share what they run (a second schema's reflection adds, never replaces)."""
    declare_function("lak_fnwu_bump", writes=[item])
    functions.note_write_calls("lak_fnwu_log", ["lak_fnwu_bump"])
    functions.note_write_calls("lak_fnwu_log", ["nextval"])
    functions.note_write_calls("lak_fnwu_log", [])
    assert ITEM in (raw_sql_writes("INSERT INTO lak_fnwu_log (id) VALUES (1)", "postgresql") or set())
    cascades.forget_dependencies()
    declare_function("lak_fnwu_bump", writes=[item])
    assert ITEM not in (raw_sql_writes("INSERT INTO lak_fnwu_log (id) VALUES (1)", "postgresql") or set())


# --- a write to a view writes the tables it reads; a write to one of them does not write the others --------------


def test_a_write_to_a_view_writes_its_tables_and_no_further() -> None:
    """A view over two tables (``view_of``): writing it writes both; writing one changes the view, not the other."""
    meta = MetaData()
    left = Table("lak_fnwu_left", meta, Column("id", Integer, primary_key=True))
    right = Table("lak_fnwu_right", meta, Column("id", Integer, primary_key=True))
    view = Table(
        "lak_fnwu_both",
        meta,
        Column("id", Integer, primary_key=True),
        info=cascades.view_of(left, right),
    )
    assert {"t:lak_fnwu_left", "t:lak_fnwu_right"} <= cascades.written_tags(view)
    written = cascades.written_tags(left)
    assert "t:lak_fnwu_both" in written
    assert "t:lak_fnwu_right" not in written, "a write to one table of a view wrote the view's other table"
    assert {"t:lak_fnwu_left", "t:lak_fnwu_right"} <= cascades.changed_tags(view)
