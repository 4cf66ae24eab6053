"""Raw SQL AND-ed bare beside a tenant or pk equality, and binds sharing a name: no proof from either."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from sqlalchemy import Boolean, ColumnElement, String, bindparam, func, literal_column, or_, select, text
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import Executable, quoted_name

from litestar_alchemy_kit.orm import tenant_column
from litestar_alchemy_kit.orm.grouping import enclose_where, parenthesized, renders_bare, sealed
from litestar_alchemy_kit.orm.statement import StatementInfo, analyze


class Base(DeclarativeBase):
    pass


class Memo(Base):
    __tablename__ = "bc_memo"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[int] = tenant_column()
    title: Mapped[str] = mapped_column(String(20))


class _Raw(ColumnElement[bool]):
    """A construct of one's own, rendered by a ``@compiles`` function: it may render anything."""

    inherit_cache = True
    _traverse_internals: ClassVar[Any] = []
    type = Boolean()


@compiles(_Raw)
def _render_raw(element: _Raw, compiler: Any, **kw: Any) -> str:
    return "title = 'x' OR title = 'y'"


SQLITE = sqlite.dialect()
MEMO = "t:bc_memo"
PART = {MEMO, f"{MEMO}:part=i7"}
ANY = {MEMO, f"{MEMO}:any"}


def info(statement: Executable, dialect: Any = SQLITE) -> StatementInfo:
    found = analyze(statement, dialect=dialect)
    assert isinstance(found, StatementInfo), found
    return found


@pytest.mark.parametrize(
    ("criterion", "proves"),
    [
        (text("title = 'x' OR title = 'y'"), False),
        (literal_column("title = 'x' OR title = 'y'"), False),
        (literal_column("title = 'x' OR title = 'y'", Boolean), False),
        (Memo.title == literal_column("'x' OR title = 'y'"), False),  # == adds no parentheses
        (~literal_column("title = 'x' OR title = 'y'", Boolean), False),  # nor does NOT
        (_Raw(), False),
        (literal_column("title") == "x", False),  # raw, if harmless: not parsed, not trusted
        (text("(title = 'x' OR title = 'y')"), True),  # one parenthesized expression
        (text("(title = 'x') OR (title = 'y')"), False),  # two
        (text("(title = ')' OR title = 'y')"), True),  # a parenthesis in a string is not one
        (text("(title = 'x' -- )\n) OR title = 'y'"), False),  # a comment may hide one
        (or_(Memo.title == "x", text("title = 'y'")), True),  # SQLAlchemy groups an OR inside an AND
        (func.lower(literal_column("title || 'x' OR 'y'")) == "x", True),  # function arguments are grouped
        (Memo.title == "x", True),
    ],
    ids=[
        "text-or",
        "literal-column-or",
        "boolean-literal-column-or",
        "compared-literal",
        "negated-literal",
        "compiles",
        "harmless-literal",
        "parenthesized-text",
        "two-groups",
        "paren-in-string",
        "comment",
        "or-of-text",
        "function-argument",
        "plain",
    ],
)
def test_a_bare_raw_criterion_voids_the_partition_and_row_proofs(criterion: Any, proves: bool) -> None:
    for statement in (
        select(Memo).where(Memo.tenant == 7, criterion),
        select(Memo).where(criterion).where(Memo.tenant == 7),
    ):
        found = info(statement)
        assert set(found.tags) == (PART if proves else ANY), statement
        assert (found.pk_lookup is not None) is proves, "get(pk) AND-s its key beside the same criterion"


def test_a_bare_term_inside_a_parenthesized_and_voids_the_proof_too() -> None:
    # (tenant = 7 AND a OR b) AND title = 'z': the tenant equality restricts only part of the group
    inner = (Memo.tenant == 7) & literal_column("title = 'x' OR title = 'y'", Boolean)
    assert set(info(select(Memo).where(or_(inner, Memo.id == 1) & (Memo.title == "z"))).tags) == ANY
    assert set(info(select(Memo).where(inner.self_group(), Memo.title == "z")).tags) == ANY


def test_a_tenant_bind_sharing_its_name_proves_no_partition() -> None:
    # one parameter "t", sent with one of the two values: the partition read is not the tenant bind's value
    different = select(Memo).where(Memo.tenant == bindparam("t", 7), Memo.id == bindparam("t", 8))
    assert set(info(different).tags) == ANY
    # equal values would be safe, but values are per call and the proof is per structure
    equal = select(Memo).where(Memo.tenant == bindparam("t", 7), Memo.id == bindparam("t", 7))
    assert set(info(equal).tags) == ANY
    # a name of its own, or anonymous binds (unique: SQLAlchemy renames them apart), prove it
    assert set(info(select(Memo).where(Memo.tenant == bindparam("t", 7), Memo.id == bindparam("i", 8))).tags) == PART
    unique = select(Memo).where(
        Memo.tenant == bindparam("t", 7, unique=True), Memo.id == bindparam("t", 8, unique=True)
    )
    assert set(info(unique).tags) == PART
    assert set(info(select(Memo).where(Memo.tenant == 7, Memo.id == 7)).tags) == PART


def test_binds_sharing_a_name_never_share_a_key_with_other_values() -> None:
    def keyed(tenant: int, other: int) -> str:
        return info(
            select(Memo).where(Memo.tenant == bindparam("t", tenant), Memo.id == bindparam("t", other))
        ).fingerprint

    # each sends the second value; every value is in the key, in its place
    assert len({keyed(7, 8), keyed(8, 7), keyed(7, 7), keyed(8, 8)}) == 4


def test_proofs_hold_on_mysql_for_an_integer_tenant_beside_grouped_raw_sql() -> None:
    grouped = select(Memo).where(Memo.tenant == 7, text("(title = 'x' OR title = 'y')"))
    assert set(info(grouped, mysql.dialect()).tags) == PART
    bare = select(Memo).where(Memo.tenant == 7, text("title = 'x' OR title = 'y'"))
    assert set(info(bare, mysql.dialect()).tags) == ANY


def test_renders_bare_looks_through_operators_and_stops_at_parentheses() -> None:
    raw = literal_column("a OR b")
    assert renders_bare(raw)
    assert renders_bare(Memo.title == raw)
    assert not renders_bare((Memo.title == raw).self_group())
    assert not renders_bare(Memo.id.in_(select(Memo.id).where(text("a OR b"))))  # a subquery's WHERE is its own
    assert not renders_bare(Memo.title == "x")
    assert renders_bare(literal_column(quoted_name("a OR b", quote=False)))
    assert not renders_bare(Memo.__table__.c.title == "x")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("(a OR b)", True),
        ("  (a OR b)\n", True),
        ("((a) OR (b))", True),
        ("(a) OR (b)", False),
        ("(a OR b", False),
        ("a OR b", False),
        ("(a = ')' OR b)", True),
        ('("x)" OR b)', True),
        ("(a = '(' ) OR (b)", False),
        ("(a /* ) */ OR b)", False),
        ("(a = 'x\\' OR b)", False),
        ("(a = $$)$$ OR b)", False),
    ],
)
def test_parenthesized_text_is_one_group_exactly(sql: str, expected: bool) -> None:
    assert parenthesized(sql) is expected


def test_sealing_copies_only_when_a_criterion_is_bare() -> None:
    plain = select(Memo).where(Memo.tenant == 7)
    assert sealed(plain) is plain
    assert enclose_where(plain) is plain
    raw = select(Memo).where(Memo.title == "z", literal_column("title = 'x' OR title = 'y'"))
    before = str(raw)
    assert str(raw) == before, "the caller's statement never changes"
    whole = str(enclose_where(raw).where(Memo.tenant == 7))
    assert "WHERE (bc_memo.title = :title_1 AND title = 'x' OR title = 'y') AND bc_memo.tenant = :tenant_1" in whole
    each = str(sealed(raw.where(literal_column("a OR b")), 2))
    assert "WHERE bc_memo.title = :title_1 AND title = 'x' OR title = 'y' AND (a OR b)" in each
    assert str(raw) == before


@pytest.mark.parametrize(
    "raw",
    [
        lambda statement: statement.suffix_with("OR title = 'y'"),  # renders right after the WHERE
        lambda statement: statement.with_statement_hint("OR title = 'y'"),  # so does a statement hint
        lambda statement: statement.prefix_with("/* before the columns */"),
        lambda statement: statement.with_hint(Memo, "/* beside the table */"),
    ],
    ids=["suffix_with", "with_statement_hint", "prefix_with", "with_hint"],
)
def test_raw_sql_around_the_clauses_voids_the_partition_and_row_proofs(raw: Any) -> None:
    statement = raw(select(Memo).where(Memo.tenant == 7))
    found = info(statement)
    assert set(found.tags) == ANY, statement
    assert found.pk_lookup is None, "get(pk) would AND its key before the raw SQL"
    assert set(info(select(Memo).where(Memo.tenant == 7)).tags) == PART  # the control
