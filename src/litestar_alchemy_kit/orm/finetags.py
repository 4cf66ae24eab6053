"""Fine invalidation tags: a row of a table, a partition of a table, "any other read" of a table.

Every table has a coarse tag, :func:`~litestar_alchemy_kit.orm.dependencies.table_tag` (``t:name``),
bumped by writes whose row set is unknown (bulk ``UPDATE`` / ``DELETE``, raw DML, cascades). A
cached entry depends on the coarse tag of every table it reads plus one fine tag per table:

- ``t:name:row=<value>`` for a primary-key lookup;
- ``t:name:part=<value>`` for a statement proven restricted to one value of the table's
  :func:`~litestar_alchemy_kit.orm.partition.tenant_column`;
- ``t:name:any`` for every other read.

A unit-of-work write knows its rows: it bumps ``any``, the rows' ``row`` tags and the ``part``
tags they left and entered. A fine tag can only make a read invalidate more than it must, never
less, as long as both sides render a value alike: the database must consider two values equal
only when their tokens are equal. :func:`column_kind` admits the column types where that holds
(integers, UUIDs, strings under byte-wise collations); a value of any other type, or on any other
column, gets no token, and the read falls back to ``any`` (the write to the coarse tag).
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import TYPE_CHECKING, Any, Final, cast

from advanced_alchemy.types import GUID
from sqlalchemy import CHAR, Enum, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.schema import Column
    from sqlalchemy.types import TypeEngine

__all__ = ("any_tag", "column_kind", "exact_on", "part_tag", "read_tags", "row_tag", "type_kind", "value_token")

# Dialects whose default string equality is byte-wise (MySQL/MariaDB collations ignore case and
# trailing spaces, SQL Server's usually case): elsewhere string values get no fine tag on reads.
_BINARY_STRING_DIALECTS: Final = frozenset({"postgresql", "sqlite", "duckdb"})


def any_tag(coarse: str) -> str:
    """The tag of a read of ``coarse``'s table that is neither a row lookup nor a proven partition."""
    return f"{coarse}:any"


def row_tag(coarse: str, token: str) -> str:
    """The tag of the row of ``coarse``'s table whose single-column primary key renders as ``token``."""
    return f"{coarse}:row={token}"


def part_tag(coarse: str, token: str) -> str:
    """The tag of the partition of ``coarse``'s table whose tenant column renders as ``token``."""
    return f"{coarse}:part={token}"


def read_tags(coarse: str) -> tuple[str, str]:
    """What a read of a whole table depends on: its coarse tag and its ``any`` tag.

    Use these (not the coarse tag alone) when caching something of your own that reads a table:
    a unit-of-work write bumps ``any`` but not the coarse tag.
    """
    return coarse, any_tag(coarse)


@cache
def column_kind(column: Column[Any]) -> str | None:
    """``"i"``, ``"u"`` or ``"s"`` when equal column values always have equal Python values of one type, else None.

    See :func:`type_kind`, applied to the column's type.
    """
    return type_kind(column.type)


def type_kind(type_: TypeEngine[Any]) -> str | None:
    """``"i"``, ``"u"`` or ``"s"`` when values of ``type_`` reach the database as they are in Python, else None.

    Type decorators (which may rewrite values on the way in), types defined outside SQLAlchemy (a
    subclass may do the same through ``bind_processor`` or ``bind_expression``), variants (another type on
    some dialect), enums, fixed-width ``CHAR`` (blank-padded comparison), explicit collations and
    PostgreSQL's ``CITEXT`` (case-insensitive) are refused: their database equality may differ from
    Python's. A collation given only in the database's DDL is not seen: declare it on the column.
    """
    kind = None
    cls = type(type_)
    if type_._variant_mapping:  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        kind = None
    elif cls is GUID:  # Advanced Alchemy's UUID type: stores the UUID itself, in every dialect's form
        kind = "u"
    elif isinstance(type_, TypeDecorator) or not cls.__module__.startswith("sqlalchemy."):
        kind = None
    elif isinstance(type_, Uuid):
        kind = "u" if type_.as_uuid else None
    elif isinstance(type_, Integer):
        kind = "i"
    elif isinstance(type_, String) and not isinstance(type_, (Enum, CHAR, CITEXT)) and type_.collation is None:
        kind = "s"
    return kind


def exact_on(column: Column[Any], dialect: Dialect) -> bool:
    """Whether an equality on ``column`` compares values exactly on ``dialect`` (see :func:`column_kind`)."""
    kind = column_kind(column)
    return kind is not None and (kind != "s" or dialect.name in _BINARY_STRING_DIALECTS)


def value_token(column: Column[Any], value: object) -> str | None:
    """``value`` rendered for a fine tag of ``column``, or None when it is not of the column's exact type.

    ``1`` and ``"1"`` never share a token; ``True`` is not an integer here. A string longer than its column's
    length has none: the database may store it shorter (PostgreSQL cuts excess trailing spaces).
    """
    kind = column_kind(column)
    if kind == "i":
        return f"i{value}" if type(value) is int else None
    if kind == "u":
        return f"u{value.hex}" if isinstance(value, uuid.UUID) else None
    if kind == "s":
        if type(value) is not str:
            return None
        # PostgreSQL stores a value whose excess characters are spaces cut to the column's length (the SQL standard;
        # others refuse it, or store it whole): its stored value is not the one sent
        length = cast("String", column.type).length
        return f"s{value}" if length is None or len(value) <= length else None
    return None
