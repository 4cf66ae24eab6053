"""Statements that cannot be fingerprinted safely are bypassed, never cached under a guessed key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from advanced_alchemy.types import GUID
from sqlalchemy import (
    Sequence,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo, analyze
from tests.unit.orm.models import Author, Book, Token


class NoCacheOk(TypeDecorator[str]):
    impl = String


class CacheOkFalse(TypeDecorator[str]):
    impl = String
    cache_ok = False


NON_DETERMINISTIC = {
    "now": select(Author).where(Author.name != func.now()),
    "current_timestamp": select(Author.id, func.current_timestamp()),
    "random_order": select(Author).order_by(func.random()),
    "rand": select(Author).where(func.rand() > 0.5),
    "gen_random_uuid": select(Author.id, func.gen_random_uuid()),
    "uuid": select(Author.id, func.uuid()),
    "sequence": select(Author.id, Sequence("st_seq").next_value()),
    "literal_now": select(Author.id, literal_column("now()")),
    "text_random": select(Author).where(text("random() < 0.5")),
    "text_current_date": select(Author).where(text("st_author.id > 0 AND current_date > '2020-01-01'")),
    "loader_criteria_now": select(Author).options(with_loader_criteria(Book, Book.published < func.now())),
}


@pytest.mark.parametrize("name", sorted(NON_DETERMINISTIC))
def test_non_deterministic_functions_bypass(name: str, dialect: Any) -> None:
    result = analyze(NON_DETERMINISTIC[name], dialect=dialect)
    assert isinstance(result, Bypass), result
    assert "non-deterministic" in result.reason


def test_locking_reads_bypass(dialect: Any) -> None:
    for statement in (
        select(Author).with_for_update(),
        select(Author).with_for_update(read=True),
        select(Author).with_for_update(skip_locked=True),
        select(Author).where(Author.id.in_(select(Book.author_id).with_for_update())),
    ):
        result = analyze(statement, dialect=dialect)
        assert isinstance(result, Bypass)
        assert "locking" in result.reason


WRITES: dict[str, Executable] = {
    "insert": insert(Author).values(name="x"),
    "update": update(Author).values(name="x"),
    "delete": delete(Author),
    "insert_returning": insert(Author).values(name="x").returning(Author.id),
    "text": text("SELECT * FROM st_author"),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_non_selects_bypass(name: str, dialect: Any) -> None:
    result = analyze(WRITES[name], dialect=dialect)
    assert isinstance(result, Bypass)
    assert "not a select" in result.reason


def test_raw_sql_that_may_read_tables_bypasses(dialect: Any) -> None:
    for statement in (
        select(Author).where(text("st_author.id IN (SELECT author_id FROM st_book)")),
        text("SELECT id FROM st_author").columns(Author.id),
        select(Author.id, literal_column("(select count(*) from st_book)")),
    ):
        result = analyze(statement, dialect=dialect)
        assert isinstance(result, Bypass), statement
        assert "may read tables" in result.reason
    assert isinstance(analyze(select(Author).from_statement(text("SELECT * FROM st_author")), dialect=dialect), Bypass)


def test_types_without_cache_ok_bypass(dialect: Any) -> None:
    with pytest.warns(Warning, match="cache_ok"):
        result = analyze(select(Author).where(Author.name == cast("x", NoCacheOk())), dialect=dialect)
    assert isinstance(result, Bypass)
    assert "no sqlalchemy cache key" in result.reason
    result = analyze(select(Author).where(Author.name == cast("x", CacheOkFalse())), dialect=dialect)
    assert isinstance(result, Bypass)


def test_guid_bound_through_its_column_is_cached(dialect: Any) -> None:
    one = analyze(select(Token).where(Token.id == uuid.UUID(int=1)), dialect=dialect)
    many = analyze(select(Token).where(Token.id.in_([uuid.UUID(int=1), uuid.UUID(int=2)])), dialect=dialect)
    assert isinstance(one, StatementInfo)
    assert isinstance(many, StatementInfo)


def test_free_standing_guid_bypasses(dialect: Any) -> None:
    """GUID(binary=...) is not in its cache key: a GUID not tied to a table column is ambiguous."""
    for statement in (
        select(Token).where(Token.label == bindparam("v", uuid.UUID(int=1), type_=GUID(binary=True))),
        select(Token).where(Token.label == cast(literal("x"), GUID(binary=False))),
        select(Token).where(Token.label == type_coerce(literal("x"), GUID(binary=True))),
        select(Token.id, literal(uuid.UUID(int=3), GUID(binary=False))),
    ):
        result = analyze(statement, dialect=dialect)
        assert isinstance(result, Bypass), statement
        assert "binary" in result.reason


def test_guid_bind_swapped_under_an_equal_cache_key_bypasses(dialect: Any) -> None:
    """Same SQLAlchemy cache key as a column-bound query, but an explicit GUID(binary=True) bind."""
    anchored = select(Token).where(Token.id == uuid.UUID(int=9))
    swapped = select(Token).where(Token.id == literal(uuid.UUID(int=9), GUID(binary=True)))
    key_a, key_b = anchored._generate_cache_key(), swapped._generate_cache_key()
    assert key_a is not None
    assert key_b is not None
    assert key_a.key == key_b.key  # SQLAlchemy itself cannot tell them apart
    assert isinstance(analyze(anchored, dialect=dialect), StatementInfo)
    result = analyze(swapped, dialect=dialect)
    assert isinstance(result, Bypass)
    assert "binary" in result.reason


def test_lambda_statements_are_not_guessed(dialect: Any) -> None:
    from sqlalchemy import lambda_stmt

    statement = lambda_stmt(lambda: select(Author))
    result = analyze(statement, dialect=dialect)
    assert isinstance(result, (Bypass, StatementInfo))
    if isinstance(result, StatementInfo):
        assert "t:st_author" in result.tags


def test_statement_with_no_table_bypasses(dialect: Any) -> None:
    result = analyze(select(literal(1)), dialect=dialect)
    assert isinstance(result, Bypass)
    assert "no table" in result.reason


def test_guid_anchoring_does_not_depend_on_which_statement_came_first(dialect: Any) -> None:
    """The ambiguous statement analysed first must not poison the column-bound one sharing its key."""
    value = uuid.UUID(int=77)
    swapped = select(Token.label).where(Token.id == literal(value, GUID(binary=True)))
    anchored = select(Token.label).where(Token.id == value)
    assert isinstance(analyze(swapped, dialect=dialect), Bypass)
    assert isinstance(analyze(anchored, dialect=dialect), StatementInfo)
    assert isinstance(analyze(swapped, dialect=dialect), Bypass)


def test_selects_that_write_bypass(dialect: Any) -> None:
    """A data-modifying CTE (PostgreSQL's ``WITH ... UPDATE ... RETURNING``) in a SELECT: caching it would skip the write."""
    moved = update(Book).values(title="x").returning(Book.author_id).cte("moved")
    added = insert(Author).values(name="x").returning(Author.id).cte("added")
    for statement in (select(Author).where(Author.id.in_(select(moved.c.author_id))), select(added.c.id)):
        result = analyze(statement, dialect=dialect)
        assert isinstance(result, Bypass), statement
        assert "writes" in result.reason
    gone = delete(Book).where(Book.title == "y").returning(Book.id).cte("gone")
    assert isinstance(analyze(select(Author).add_cte(gone), dialect=dialect), Bypass)
