"""What the raw-write listener attributes, on constructs of every dialect (compiled, not executed).

The integration scenarios (``tests/integration/repository/_safety_async.py``) run each of these
against real databases; here the dialects a server is needed for are covered too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    DDL,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    lambda_stmt,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.postgresql import DOMAIN, ENUM
from sqlalchemy.dialects.postgresql.named_types import CreateDomainType, CreateEnumType
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.schema import CreateIndex, CreateTable, DropSchema

from litestar_alchemy_kit.orm.cascades import graph_state
from litestar_alchemy_kit.orm.databases import database_key
from litestar_alchemy_kit.orm.rawdml import EVERYTHING, _compiled, _lambda_read, raw_sql_writes

metadata = MetaData()
item = Table("rd_item", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)))
other = Table("rd_other", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)))


class Base(DeclarativeBase):
    metadata = metadata


class RdItem(Base):
    __table__ = item


DIALECTS = {"postgresql": postgresql.dialect(), "mysql": mysql.dialect(), "sqlite": sqlite.dialect()}


def _writes(statement: Any, dialect: str) -> Any:
    graph_state()  # the memo's state
    return _compiled(statement.compile(dialect=DIALECTS[dialect]))


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_columns_set_on_other_tables_count_as_written(dialect: str) -> None:
    if dialect == "mysql":  # UPDATE rd_item, rd_other SET rd_other.name = ...
        statement = update(item).where(item.c.id == other.c.id).values({other.c.name: "x"})
    else:  # the others refuse other tables' columns in SET: ordered values name them all the same
        statement = update(item).ordered_values((item.c.name, "x"))
    writes = _writes(statement, dialect)
    assert "t:rd_item" in writes
    if dialect == "mysql":
        assert "t:rd_other" in writes


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_dml_inside_select_shaped_constructs_is_seen(dialect: str) -> None:
    statements = [
        select(RdItem).from_statement(update(RdItem).values(name="x").returning(RdItem)),
        select(RdItem).from_statement(text("UPDATE rd_item SET name = 'x' RETURNING *")),
        select(RdItem).from_statement(item.delete().returning(*item.c)),
        text("UPDATE rd_item SET name = :new RETURNING id").columns(item.c.id),
        lambda_stmt(lambda: update(item).values(name="x")),
    ]
    for statement in statements:
        assert "t:rd_item" in _writes(statement, dialect), statement


def test_plain_reads_write_nothing() -> None:
    assert _writes(select(RdItem).from_statement(select(RdItem).where(RdItem.id == 1)), "sqlite") is None
    assert _writes(text("SELECT * FROM rd_item").columns(item.c.id), "sqlite") is None


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_ddl_that_may_change_rows_is_parsed(dialect: str) -> None:
    assert "t:rd_item" in _writes(DDL("TRUNCATE TABLE rd_item"), dialect)
    assert "t:rd_item" in _writes(DDL("UPDATE %(table)s SET name = 'x'", context={"table": "rd_item"}), dialect)
    assert _writes(DropSchema("rd_schema", cascade=True), dialect) is EVERYTHING
    assert _writes(CreateTable(item), dialect) is None
    assert _writes(CreateIndex(Index("rd_index", item.c.name)), dialect) is None


def test_create_all_of_postgresql_types_writes_nothing() -> None:
    assert _writes(CreateDomainType(DOMAIN("rd_domain", Integer())), "postgresql") is None
    assert _writes(CreateEnumType(ENUM("a", "b", name="rd_enum")), "postgresql") is None


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("REFRESH MATERIALIZED VIEW rd_view", "postgresql"),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY public.rd_view", "postgresql"),
        ("IMPORT DATABASE 'backup'", "duckdb"),
        ("REPAIR TABLE rd_item", "mysql"),
    ],
)
def test_statements_that_change_rows_pass_the_keyword_filter(sql: str, dialect: str) -> None:
    assert raw_sql_writes(sql, dialect) is EVERYTHING


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("postgresql+psycopg://u@localhost/app", "postgresql+asyncpg://u@127.0.0.1:5432/app"),
        ("postgresql+psycopg://u@db.internal:6432/app", "postgresql+psycopg://u@10.0.0.5/app"),
        ("mysql+pymysql://root@localhost/app", "mariadb+pymysql://root@127.0.0.1:3306/app"),
        ("sqlite:///rd dir/rd file.db", "sqlite:///file:rd%20dir/rd%20file.db?uri=true"),
        ("sqlite:///rd_relative.db", "sqlite:///{cwd}/rd_relative.db"),
        ("sqlite:///rd_relative.db", "sqlite+pysqlite:///file:rd_relative.db?uri=true&cache=shared"),
        ("duckdb:///rd_relative.duckdb", "duckdb:///{cwd}/./rd_relative.duckdb"),
    ],
)
def test_engines_that_may_reach_one_database_share_a_key(first: str, second: str) -> None:
    second = second.format(cwd=Path.cwd())
    assert database_key(create_engine(first)) == database_key(create_engine(second))


def test_a_postgresql_url_without_database_matches_every_database() -> None:
    assert database_key(create_engine("postgresql+psycopg://u@localhost")) == ("postgresql", None)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("mysql+pymysql://root@localhost/app", "mysql+pymysql://root@localhost/other"),
        ("postgresql+psycopg://u@localhost/app", "postgresql+psycopg://u@localhost/other"),
    ],
)
def test_two_named_databases_of_one_server_do_not_share_a_key(first: str, second: str) -> None:
    """A commit on one must not reach the caches of the other: their markers, refusals and outbox rows."""
    assert database_key(create_engine(first)) != database_key(create_engine(second))


def test_lambda_statements_are_told_by_what_they_resolve_to() -> None:
    assert _lambda_read(lambda_stmt(lambda: select(item)))
    assert not _lambda_read(lambda_stmt(lambda: update(item).values(name="x")))
    assert not _lambda_read(select(item))


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("UPDATE app.rd_item SET name = 'x'", "mysql", {"app"}),
        ("UPDATE rd_item SET name = 'x'", "mysql", {None}),
        ("INSERT INTO rd_item SELECT * FROM other.rd_other", "mysql", {None, "other"}),
        ("UPDATE cat.main.rd_item SET name = 'x'", "duckdb", {"cat.main"}),
        ("SELECT 1", "mysql", set()),
    ],
)
def test_write_qualifiers_name_the_databases_written(sql: str, dialect: str, expected: set[str | None]) -> None:
    from litestar_alchemy_kit.orm._sqlparse import write_qualifiers

    assert write_qualifiers(sql, dialect) == expected


@pytest.mark.parametrize(
    ("sql", "switches"),
    [
        ("USE other", True),
        ("/* c */ use `other`", True),
        ("SELECT 1; USE other", True),
        ("SELECT * FROM rd_item USE INDEX (ix)", False),  # an index hint switches nothing
        ("UPDATE rd_item SET name = 'use'", False),
    ],
)
def test_only_a_use_statement_switches_a_mysql_connection(sql: str, switches: bool) -> None:
    from litestar_alchemy_kit.orm import routing

    first, later = routing._SWITCHES["mysql"]
    assert bool(first.match(sql) or (";" in sql and later.search(sql))) is switches
