"""Every table a statement reads is among its tags: FROM, joins, subqueries, CTEs, EXISTS, eager loads."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, exists, func, select, union_all
from sqlalchemy.orm import (
    aliased,
    defaultload,
    joinedload,
    lazyload,
    selectin_polymorphic,
    selectinload,
    subqueryload,
    with_polymorphic,
)
from sqlalchemy.sql import Executable, column, table

from litestar_alchemy_kit.orm.statement import StatementInfo, analyze, table_tag
from tests.unit.orm.models import (
    Archived,
    Author,
    Book,
    Chapter,
    Employee,
    Manager,
    Shelf,
    Tag,
    author_tag,
)

AUTHOR, BOOK, CHAPTER, TAG, LINK = "t:st_author", "t:st_book", "t:st_chapter", "t:st_tag", "t:st_author_tag"


def tags(statement: Executable, dialect: Any) -> frozenset[str]:
    """The coarse tags of the tables the statement reads (each comes with exactly one fine tag)."""
    info = analyze(statement, dialect=dialect)
    assert isinstance(info, StatementInfo), info
    coarse = frozenset(tag for tag in info.tags if not tag.endswith(":any") and ":part=" not in tag)
    assert info.tags == coarse | {f"{tag}:any" for tag in coarse}, "no tenant column here: every read is 'any'"
    return coarse


def test_every_spelling_of_a_table_shares_its_tag() -> None:
    """A tag names no schema and no case: a write through one spelling reaches reads through every other (invariant 1).

    ``x``, ``public.x`` (PostgreSQL's default schema), ``X`` (SQLite matches names case-insensitively)...
    """
    assert table_tag(Author.__table__) == AUTHOR  # type: ignore[arg-type]
    assert table_tag(Archived.__table__) == "t:st_archived"  # type: ignore[arg-type]
    spellings = [table("x", schema="s"), table("X"), Table("x", MetaData(), schema="PUBLIC"), Table("x", MetaData())]
    assert {table_tag(spelling) for spelling in spellings} == {"t:x"}
    assert table_tag(table("Users:Any%")) == "t:users%3Aany%25", "':' separates a tag's parts"


@pytest.mark.parametrize("lightweight", [False, True], ids=["table", "table-clause"])
def test_the_key_tells_spellings_apart(dialect: Any, lightweight: bool) -> None:
    """Tags are shared, keys are not: two schemas' tables of one name never share an entry (invariant 6)."""

    def spelled(name: str, schema: str | None) -> Any:
        return (
            table(name, column("v"), schema=schema)
            if lightweight
            else Table(name, MetaData(), Column("v"), schema=schema)
        )

    statements = [
        select(spelled(*spelling)) for spelling in [("x", None), ("x", "a"), ("x", "b"), ("X", None), ("a.x", None)]
    ]
    found = [analyze(statement, dialect=dialect) for statement in statements]
    assert all(isinstance(info, StatementInfo) and info.tags == {"t:x", "t:x:any"} for info in found[:4]), found
    assert len({info.fingerprint for info in found if isinstance(info, StatementInfo)}) == len(statements)


def test_plain_columns_read_only_their_table(dialect: Any) -> None:
    assert tags(select(Tag.label), dialect) == {TAG}
    assert tags(select(Chapter).where(Chapter.id == 1), dialect) == {CHAPTER}


def test_default_lazy_strategies_are_followed_recursively(dialect: Any) -> None:
    # Author.books is lazy="selectin", Book.chapters lazy="joined"; Author.tags and Book.author lazy="select"
    assert tags(select(Author), dialect) == {AUTHOR, BOOK, CHAPTER}
    assert tags(select(Book), dialect) == {BOOK, CHAPTER}


def test_counts_do_not_depend_on_eager_relationships(dialect: Any) -> None:
    count = select(Author).with_only_columns(func.count(), maintain_column_froms=True)
    assert tags(count, dialect) == {AUTHOR}


def test_loader_options_add_their_tables(dialect: Any) -> None:
    assert tags(select(Tag).where(Tag.id == 1), dialect) == {TAG}
    for option in (selectinload(Author.tags), joinedload(Author.tags), subqueryload(Author.tags)):
        assert {AUTHOR, TAG, LINK} <= tags(select(Author).options(option), dialect)
    assert tags(select(Book).options(joinedload(Book.author)), dialect) == {BOOK, CHAPTER, AUTHOR}


def test_option_chains_and_wildcards(dialect: Any) -> None:
    chain = select(Book).options(defaultload(Book.author).selectinload(Author.tags))
    assert {BOOK, AUTHOR, TAG, LINK} <= tags(chain, dialect)
    wildcard = select(Author).options(selectinload("*"))
    assert {AUTHOR, BOOK, TAG, LINK} <= tags(wildcard, dialect)
    # overriding a default eager load to lazy may over-approximate, never under-approximate
    assert {AUTHOR} <= tags(select(Author).options(lazyload(Author.books)), dialect)


def test_joins_subqueries_ctes_exists_unions(dialect: Any) -> None:
    assert CHAPTER in tags(select(Tag).join(Chapter, Chapter.id == Tag.id), dialect)
    assert CHAPTER in tags(select(Tag).outerjoin(Chapter, Chapter.id == Tag.id), dialect)
    assert CHAPTER in tags(select(Tag).where(Tag.id.in_(select(Chapter.id))), dialect)
    scalar = select(Chapter.id).where(Chapter.id == Tag.id).scalar_subquery()
    assert CHAPTER in tags(select(Tag.id, scalar), dialect)
    cte = select(Chapter.id).cte("c")
    assert CHAPTER in tags(select(Tag).join(cte, cte.c.id == Tag.id), dialect)
    recursive = select(Chapter.id).cte("r", recursive=True)
    recursive = recursive.union_all(select(Chapter.id).join(recursive, recursive.c.id == Chapter.book_id))
    assert CHAPTER in tags(select(Tag).where(Tag.id.in_(select(recursive.c.id))), dialect)
    assert CHAPTER in tags(select(Tag).where(exists().where(Chapter.id == Tag.id)), dialect)
    assert {TAG, CHAPTER} <= tags(union_all(select(Tag.id), select(Chapter.id)), dialect)
    subquery = select(Chapter).subquery()
    assert CHAPTER in tags(select(Tag).join(subquery, subquery.c.id == Tag.id), dialect)


def test_relationship_comparisons_include_secondary(dialect: Any) -> None:
    assert {AUTHOR, TAG, LINK} <= tags(select(Author).where(Author.tags.any(Tag.label == "x")), dialect)
    assert {BOOK, AUTHOR} <= tags(select(Book).where(Book.author.has(Author.name == "x")), dialect)
    assert {TAG, LINK} <= tags(select(Tag).join(author_tag, author_tag.c.tag_id == Tag.id), dialect)


def test_relationship_join_targets(dialect: Any) -> None:
    assert {BOOK, AUTHOR, TAG, LINK} <= tags(select(Book).join(Book.author).join(Author.tags), dialect)


def test_aliases(dialect: Any) -> None:
    alias = aliased(Chapter)
    assert tags(select(alias).where(alias.id > 1), dialect) == {CHAPTER}
    assert CHAPTER in tags(select(Tag).join(alias, alias.id == Tag.id), dialect)


def test_inheritance(dialect: Any) -> None:
    both = {"t:st_employee", "t:st_manager"}
    assert tags(select(Employee), dialect) == both
    assert tags(select(Manager), dialect) == both
    assert tags(select(with_polymorphic(Employee, [Manager])), dialect) == both
    assert tags(select(Employee).options(selectin_polymorphic(Employee, [Manager])), dialect) == both


def test_column_property_reading_another_table(dialect: Any) -> None:
    assert tags(select(Shelf), dialect) == {"t:st_shelf", CHAPTER}


def test_lightweight_and_schema_tables(dialect: Any) -> None:
    assert tags(select(table("legacy", column("v"), schema="old")), dialect) == {"t:legacy"}
    assert tags(select(Archived), dialect) == {"t:st_archived"}


def test_relationship_joins_from_aliased_entities(dialect: Any) -> None:
    book = aliased(Book)
    assert AUTHOR in tags(select(Tag).join(book, book.id == Tag.id).join(book.author), dialect)
    assert CHAPTER in tags(select(Author).join(book, Author.books).join(book.chapters), dialect)
