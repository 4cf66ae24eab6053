"""What a call to a declared database function reads, wherever the statement calls it (invariant 5).

Analysis only (compile-only dialects); the stale reads these tags prevent are shown against real
databases in ``tests/integration/repository/test_function_dependencies.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, func, literal_column, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship, selectinload

from litestar_alchemy_kit import declare_function
from litestar_alchemy_kit.orm import cascades, functions
from litestar_alchemy_kit.orm.functionreflect import analyse_body
from litestar_alchemy_kit.orm.statement import Bypass, StatementInfo, analyze

ORDERS = "t:lak_fnu_order"


class FnuBase(DeclarativeBase):
    pass


class FnuOrder(FnuBase):
    __tablename__ = "lak_fnu_order"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("lak_fnu_customer.id"))
    total: Mapped[int]


class FnuCustomer(FnuBase):
    __tablename__ = "lak_fnu_customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    order_count = column_property(func.lak_fnu_count(id))  # noqa: A003 - the mapped column above


class FnuInvoice(FnuBase):
    """Loads its customer eagerly: the customer's column property calls the function."""

    __tablename__ = "lak_fnu_invoice"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("lak_fnu_customer.id"))
    customer: Mapped[FnuCustomer] = relationship(lazy="selectin")


class FnuNote(FnuBase):
    """Its customer loads only when a loader option asks."""

    __tablename__ = "lak_fnu_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("lak_fnu_customer.id"))
    customer: Mapped[FnuCustomer] = relationship(lazy="select")
    # its order_by calls a function: loading it (a loader option) reads what the function reads
    ranked: Mapped[list[FnuCustomer]] = relationship(
        lazy="select",
        viewonly=True,
        primaryjoin="foreign(FnuNote.customer_id) == FnuCustomer.id",
        order_by=func.lak_fnu_rank(FnuCustomer.id),
    )


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    cascades.forget_dependencies()
    yield
    cascades.forget_dependencies()


def _tags(statement: Any, dialect: Any) -> frozenset[str]:
    info = analyze(statement, dialect=dialect)
    assert isinstance(info, StatementInfo), info
    return info.tags


def test_a_declared_function_in_a_column_or_where_or_fragment_reads_its_tables(dialect: Any) -> None:
    declare_function("lak_fnu_total", FnuOrder.__table__)  # type: ignore[arg-type]
    customer = FnuCustomer.__table__
    for statement in (
        select(customer.c.id, func.lak_fnu_total(customer.c.id)),
        select(customer.c.id).where(func.lak_fnu_total(customer.c.id) > 1),
        select(customer.c.id).where(text("lak_fnu_total(lak_fnu_customer.id) > 1")),
        select(customer.c.id, literal_column("LAK_FNU_TOTAL(lak_fnu_customer.id)")),
        select(customer.c.id).where(customer.c.id.in_(select(func.lak_fnu_total(1)).scalar_subquery())),
    ):
        assert {ORDERS, f"{ORDERS}:any"} <= _tags(statement, dialect), statement


def test_a_column_property_and_an_eager_load_read_the_functions_tables(dialect: Any) -> None:
    declare_function("lak_fnu_count", "lak_fnu_order")
    assert ORDERS in _tags(select(FnuCustomer), dialect)
    assert ORDERS in _tags(select(FnuInvoice), dialect)  # the customer loads with it (selectin)
    assert ORDERS not in _tags(select(FnuNote), dialect)
    assert ORDERS in _tags(select(FnuNote).options(selectinload(FnuNote.customer)), dialect)  # a loader path


def test_a_loader_option_loads_what_the_relationships_functions_read(dialect: Any) -> None:
    declare_function("lak_fnu_rank", "lak_fnu_order")
    assert ORDERS not in _tags(select(FnuNote), dialect)
    assert ORDERS in _tags(select(FnuNote).options(selectinload(FnuNote.ranked)), dialect)


def test_a_function_reading_the_entity_table_proves_no_row(dialect: Any) -> None:
    """Its body reads every order: neither a primary-key lookup nor the WHERE restricts what it reads."""
    statement = select(FnuOrder).where(func.lak_fnu_total(FnuOrder.customer_id) > 0)
    info = analyze(statement, dialect=dialect)
    assert isinstance(info, StatementInfo)
    assert info.row is not None  # before the declaration: a plain entity read, narrowed by get(pk)
    declare_function("lak_fnu_total", "lak_fnu_order")
    info = analyze(statement, dialect=dialect)
    assert isinstance(info, StatementInfo)
    assert info.row is None


def test_a_statement_analysed_before_the_declaration_follows_it() -> None:
    """The structure memo is per generation of declarations: an earlier analysis does not hide a later one."""
    dialect = pytest.importorskip("sqlalchemy.dialects.sqlite").dialect()
    statement = select(FnuCustomer.__table__.c.id, func.lak_fnu_later(1))
    assert ORDERS not in _tags(statement, dialect)
    declare_function("lak_fnu_later", "lak_fnu_order")
    assert ORDERS in _tags(statement, dialect)


def test_nested_calls_and_schemas_are_followed(dialect: Any) -> None:
    declare_function("billing.lak_fnu_inner", "billing.lak_fnu_order")
    declare_function("lak_fnu_outer", calls=["BILLING.LAK_FNU_INNER"])
    tags = _tags(select(FnuCustomer.__table__.c.id, func.billing.lak_fnu_outer(1)), dialect)
    assert {ORDERS, "t:billing.lak_fnu_order", f"{ORDERS}:any"} <= tags


def test_an_unanalysable_function_depends_on_what_every_write_changes(dialect: Any) -> None:
    other = Table("lak_fnu_other", MetaData(), Column("id", Integer, primary_key=True))
    assert "t:*()" not in cascades.written_tags(other)  # memoized: learning a function must renew it
    # a STABLE C function: it may read any table, and writes none (a VOLATILE one may write: see test_function_writes)
    functions.learn({"lak_fnu_c": analyse_body("lak_fnu_c_impl", "c", [], "postgresql", volatile=False)})
    opaque = "t:*()"
    assert opaque in _tags(select(FnuCustomer.__table__.c.id, func.lak_fnu_c(1)), dialect)
    # every write's closure carries the tag: an unrelated table's write changes it
    assert opaque in cascades.written_tags(other)
    assert opaque in cascades.name_tags("lak_fnu_other")
    # a declaration wins: known to read nothing, the function is trusted
    declare_function("lak_fnu_c")
    assert opaque not in _tags(select(FnuCustomer.__table__.c.id, func.lak_fnu_c(1)), dialect)


@pytest.mark.parametrize(
    ("body", "language", "expected"),
    [
        ("SELECT sum(total) FROM lak_fnu_order WHERE customer_id = $1", "sql", {"lak_fnu_order"}),
        ("BEGIN RETURN (SELECT count(*) FROM lak_fnu_order); END", "plpgsql", {"lak_fnu_order"}),
        ("BEGIN EXECUTE 'SELECT 1 FROM ' || t; END", "plpgsql", None),
        ("lak_fnu_c_impl", "c", None),
        ("", "sql", None),
        ("SELECT 1 FROM lak_fnu_order_archive", "plpgsql", {"lak_fnu_order_archive"}),
        # sqlglot keeps the DECLARE as an opaque command: the known names it mentions count
        ("DECLARE n INT DEFAULT (SELECT 1 FROM lak_fnu_order); RETURN n", "sql", {"lak_fnu_order"}),
    ],
)
def test_function_bodies(body: str, language: str, expected: set[str] | None) -> None:
    learnt = analyse_body(body, language, ["lak_fnu_order", "lak_fnu_order_archive"], "postgresql")
    assert learnt.opaque is (expected is None)
    if expected is not None:
        assert {name for _, name in learnt.reads} == expected


def test_a_body_calling_now_makes_the_read_bypass(dialect: Any) -> None:
    functions.learn({"lak_fnu_clock": analyse_body("SELECT now()", "sql", [], "postgresql")})
    info = analyze(select(FnuCustomer.__table__.c.id, func.lak_fnu_clock()), dialect=dialect)
    assert isinstance(info, Bypass)
    assert "lak_fnu_clock" in info.reason


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((None,), {}, TypeError),
        (("",), {}, ValueError),
        (("billing.",), {}, ValueError),
        (("lak_fnu_x()",), {}, ValueError),
        (("lak_fnu_x", 3), {}, TypeError),
        (("lak_fnu_x", ""), {}, ValueError),
        (("lak_fnu_x", FnuCustomer), {}, TypeError),
        (("lak_fnu_x",), {"calls": "lak_fnu_y"}, TypeError),
        (("lak_fnu_x",), {"calls": [None]}, TypeError),
        (("lak_fnu_x", "lak_fnu_order"), {"calls": ["bad()"]}, ValueError),
    ],
)
def test_bad_declarations_raise_and_register_nothing(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type
) -> None:
    before = functions.generation()
    with pytest.raises(error, match="declare_function"):
        declare_function(*args, **kwargs)
    assert functions.generation() == before
    assert functions.function_reads(frozenset({"lak_fnu_x"})) is None
