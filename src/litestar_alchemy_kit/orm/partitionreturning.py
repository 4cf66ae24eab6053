"""The tenant of a written row whose UPDATE keeps it, returned by that UPDATE instead of read after it.

:mod:`~litestar_alchemy_kit.orm.partitionread` learns, right after a flush's UPDATE, the tenant of each written
row whose UPDATE leaves the tenant column alone: the partition the row is really in (another transaction may have
moved it since the session loaded it). On PostgreSQL and SQLite the UPDATE itself returns it, with ``RETURNING``: the
same value (the row as its UPDATE left it, in the same transaction) without a statement of its own, one round trip
fewer per written row. Elsewhere the row is read after its UPDATE: MySQL and MariaDB have no ``UPDATE ... RETURNING``,
and DuckDB refuses one on a row another table's foreign key references (its RETURNING rewrites the row).

Only an UPDATE the flush runs for one row is extended (a batch that SQLAlchemy runs as one ``executemany`` is read
after it, one statement per chunk), and only where adding to its RETURNING changes nothing else SQLAlchemy does:

- a statement without a RETURNING of SQLAlchemy's own (a server-side version counter, ``eager_defaults``);
- a table without a server-side or SQL-expression ``onupdate`` (``return_defaults()`` returns those too, and the
  flush would then set them on the instance instead of expiring them);
- a table whose ``implicit_returning`` is on, and that the database says is a plain table: PostgreSQL refuses
  ``UPDATE ... RETURNING`` on a relation with rewrite rules (a view updated through ``DO INSTEAD``) and SQLite on a
  virtual table (FTS5), where the same UPDATE without RETURNING works. Asked once per engine and table, from the
  catalog, on the flush's connection;
- an UPDATE setting no column to a SQL expression (``return_defaults()`` would return that column too, and the
  flush would set it on the instance instead of expiring it).

The tenant comes back under a label, which the flush maps to no attribute: the instance is left exactly as the flush
leaves it. The expectation lives on the connection (``Connection.info``, where ``before_execute`` can see it) for one
flush, and :func:`forget` drops it when the flush ends, raised or not.
"""

from __future__ import annotations

import weakref
from functools import cache
from typing import TYPE_CHECKING, Any, Final, final

from sqlalchemy import Column, Engine, Table, event, text
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.sql.dml import Update

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.sql.elements import Label

__all__ = ("RETURNING_DIALECTS", "expect", "forget", "install", "returned")

_KEY: Final = "litestar_alchemy_kit.partition_returning"
"""``Connection.info`` key of the current flush's :class:`_Expected` on that connection."""

_INFOS_KEY: Final = "litestar_alchemy_kit.partition_returning_infos"
"""``Session.info`` key of the ``Connection.info`` dicts holding the current flush's expectations."""

_ABSENT: Final = object()

RETURNING_DIALECTS: Final = frozenset({"postgresql", "sqlite"})
"""The dialects whose UPDATE returns the tenant (tested; DuckDB's RETURNING trips its foreign key checks)."""


@final
class _Expected:
    """One flush's rows on one connection whose UPDATE is to return their tenant, and the tenants returned."""

    __slots__ = ("found", "pending", "rows", "shapes")

    def __init__(self) -> None:
        self.shapes: dict[Table, tuple[Label[Any], tuple[Column[Any], ...]]] = {}
        self.rows: dict[tuple[Table, tuple[object, ...]], InstanceState[Any]] = {}
        self.found: dict[InstanceState[Any], object] = {}
        self.pending: tuple[Update, InstanceState[Any]] | None = None


@cache
def _returnable(table: Table) -> bool:
    """Whether adding the tenant to an UPDATE's RETURNING leaves what SQLAlchemy returns and sets unchanged."""
    return bool(table.implicit_returning) and all(
        column.server_onupdate is None and (column.onupdate is None or not column.onupdate.is_clause_element)
        for column in table.columns
    )


_plain: weakref.WeakKeyDictionary[Engine, dict[tuple[str | None, str], bool]] = weakref.WeakKeyDictionary()
"""Per engine, whether each (schema, table) is a plain table of its database (see the module docstring)."""

_PG_PLAIN: Final = text(
    "SELECT c.relkind IN ('r', 'p') AND NOT c.relhasrules FROM pg_catalog.pg_class c WHERE c.oid = to_regclass(:name)"
)
_SQLITE_KIND: Final = (
    "SELECT type, sql FROM {schema}.sqlite_master WHERE name = :name"
    " UNION ALL SELECT type, sql FROM sqlite_temp_master WHERE name = :name"
)


def _plain_table(connection: Connection, table: Table) -> bool:
    """Whether the database holds ``table`` as a plain table (memoized per engine; ``False`` when not found)."""
    translate: dict[str | None, str | None] | None = connection.get_execution_options().get("schema_translate_map")
    schema = translate.get(table.schema, table.schema) if translate else table.schema
    known = _plain.setdefault(connection.engine, {})
    found = known.get((schema, table.name))
    if found is None:
        preparer = connection.dialect.identifier_preparer
        if connection.dialect.name == "postgresql":
            name = (
                preparer.quote(table.name)
                if schema is None
                else f"{preparer.quote_schema(schema)}.{preparer.quote(table.name)}"
            )
            found = bool(connection.execute(_PG_PLAIN, {"name": name}).scalar())
        else:
            sql = _SQLITE_KIND.format(schema="main" if schema is None else preparer.quote_schema(schema))
            row = connection.execute(text(sql), {"name": table.name}).first()
            found = (
                row is not None
                and row[0] == "table"
                and not str(row[1] or "").lstrip().upper().startswith("CREATE VIRTUAL")
            )
        known[schema, table.name] = found
    return found


@cache
def _label(tenant: Column[Any]) -> Label[Any]:
    return tenant.label("lak_partition")


def expect(
    connection: Connection,
    state: InstanceState[Any],
    *,
    tenant: Column[Any],
    key: tuple[Column[Any], ...],
    where: tuple[object, ...],
) -> None:
    """Have the flush's UPDATE of ``state``'s row (found by ``where``, its ``key`` as loaded) return its ``tenant``.

    Nothing when the database or the table cannot: the row is read after its UPDATE (:func:`returned` answers
    ``NO_VALUE``).
    """
    session: Session | None = state.session
    table = tenant.table
    dialect = connection.dialect
    if session is None or dialect.name not in RETURNING_DIALECTS:
        return
    if not dialect.update_returning or not _returnable(table) or not _plain_table(connection, table):
        return
    info = connection.info
    expected: _Expected | None = info.get(_KEY)
    infos: list[dict[Any, Any]] = session.info.setdefault(_INFOS_KEY, [])
    if expected is None or not any(held is info for held in infos):
        expected = info[_KEY] = _Expected()  # a previous flush's, or none
        infos.append(info)
    expected.shapes[table] = (_label(tenant), key)
    expected.rows[table, where] = state


def returned(connection: Connection, state: InstanceState[Any]) -> object:
    """The tenant ``state``'s UPDATE returned on ``connection`` (``NO_VALUE``: none, read it)."""
    expected: _Expected | None = connection.info.get(_KEY)
    return NO_VALUE if expected is None else expected.found.pop(state, NO_VALUE)


def forget(session: Session) -> None:
    """Drop the expectations of the flush of ``session`` that ends (a later statement on the connection is left alone)."""
    for info in session.info.pop(_INFOS_KEY, ()):
        info.pop(_KEY, None)


def _has_own_returning_or_expressions(statement: Update) -> bool:
    """Whether the flush's UPDATE returns columns of SQLAlchemy's own, or sets a column to a SQL expression."""
    return bool(
        statement._return_defaults  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        or statement._values  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        or statement._ordered_values  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    )


def _before_execute(
    connection: Connection,
    statement: object,
    multiparams: list[dict[str, Any]],
    params: dict[str, Any],
    execution_options: object,
) -> tuple[object, list[dict[str, Any]], dict[str, Any]]:
    del execution_options
    if not isinstance(statement, Update) or multiparams:
        return statement, multiparams, params
    expected: _Expected | None = connection.info.get(_KEY)
    if expected is None or _has_own_returning_or_expressions(statement):
        return statement, multiparams, params
    table = statement.table
    if not isinstance(table, Table) or table not in expected.shapes:
        return statement, multiparams, params
    label, key = expected.shapes[table]
    # the flush binds the row's key as loaded under each key column's label (SQLAlchemy's persistence)
    where = tuple(params.get(str(column._label), _ABSENT) for column in key)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    state = expected.rows.get((table, where))
    if state is None:
        return statement, multiparams, params
    extended = statement.return_defaults(supplemental_cols=[label])
    expected.pending = (extended, state)
    return extended, multiparams, params


def _after_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
    connection: Connection,
    statement: object,
    multiparams: object,
    params: object,
    execution_options: object,
    result: CursorResult[Any],
) -> None:
    del multiparams, params, execution_options
    if not isinstance(statement, Update):
        return
    expected: _Expected | None = connection.info.get(_KEY)
    if expected is None or expected.pending is None or expected.pending[0] is not statement:
        return
    state = expected.pending[1]
    expected.pending = None
    row = result.returned_defaults
    if row is not None:  # no row: the UPDATE matched none (the flush raises), nothing to keep
        expected.found[state] = row[-1]  # supplemental columns come after any returned defaults


def install() -> None:
    """Listen to every engine's statements (idempotent)."""
    if not event.contains(Engine, "before_execute", _before_execute):
        event.listen(Engine, "before_execute", _before_execute, retval=True)
        event.listen(Engine, "after_execute", _after_execute)
