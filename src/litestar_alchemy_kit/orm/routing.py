"""Which databases besides its connection's own a write may change: where its invalidation is routed.

:func:`~litestar_alchemy_kit.orm.databases.engine_caches` finds the caches registered for a connection's
database, the one its URL names (invariant 1 for raw writes, invariant 4). A connection can write others:

- MySQL / MariaDB: a database is a schema of the server. A table qualified by a name (``UPDATE a.t``, a
  ``Table(..., schema="a")``, a ``schema_translate_map`` to ``a``) is in database ``a``, whichever database the
  URL names; after ``USE b`` unqualified names go to ``b``;
- SQLite: an ``ATTACH``-ed database is another file, known by an alias only: a table qualified by anything but
  ``main`` / ``temp`` may be in any SQLite database of the process, and after ``ATTACH`` an unqualified name too
  (SQLite looks it up in attached databases);
- DuckDB: a qualifier other than ``main`` / ``temp`` may be an attached catalog (or a schema of the file: an
  extra invalidation), and after ``USE`` or ``SET search_path`` unqualified names may go anywhere;
- PostgreSQL: a connection writes its own database only (a schema is not a database): nothing is routed;
- other backends: a three-part (catalog-qualified) name may be another database.

:func:`note_writes` remembers, for a connection's transaction, the databases its writes may change besides its
own, and :func:`note_switch` the connection (its DBAPI connection, across transactions) whose unqualified names
may no longer go to its URL's database; ``engine_caches`` adds their caches. Where the database cannot be told
(an attached alias, a switch, SQL that cannot be attributed) every database of the backend is routed to: an
extra invalidation at most, never a missed one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy.sql import TableClause, ddl, visitors
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause

from litestar_alchemy_kit.orm.databases import route, switched

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Connection, ExecutionContext
    from sqlalchemy.sql.compiler import Compiled

__all__ = ("note_switch", "note_writes", "set_tables")

Qualifiers = frozenset[str | None]
"""The names written tables are qualified with (``None``: unqualified); ``None`` when they cannot be told."""

_UNQUALIFIED: Final[Qualifiers] = frozenset({None})
_OWN_DATABASE_ONLY: Final = frozenset({"postgresql"})  # a connection cannot write another database there
_FILE_FAMILIES: Final = frozenset({"sqlite", "duckdb"})
_OWN_FILE: Final = frozenset({"main", "temp"})
_MEMO_LIMIT: Final = 4096
_SKIP: Final = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"  # whitespace and comments
# Statements after which unqualified names may no longer go to the URL's database (first, or after a ';')
_SWITCH_WORDS: Final = {
    "mysql": r"use\b",
    "mariadb": r"use\b",
    "sqlite": r"attach\b",
    "duckdb": r"(?:use\b|set\s+(?:(?:global|session|local)\s+)?search_path\b)",
}
_SWITCHES: Final = {
    dialect: (re.compile(_SKIP + word, re.IGNORECASE | re.DOTALL), re.compile(";" + _SKIP + word, re.IGNORECASE))
    for dialect, word in _SWITCH_WORDS.items()
}

_compiled_memo: dict[int, tuple[Compiled, Qualifiers, Qualifiers | None]] = {}
_raw_memo: dict[tuple[str, str], Qualifiers | None] = {}


def set_tables(element: UpdateBase) -> list[Any]:
    """The tables of the columns a DML statement assigns: ``values()``, ``ordered_values()``, multi-values.

    ``UPDATE item, other SET other.name = ...`` (MySQL) writes ``other``, which is no target; keys
    given as strings are the target's columns.
    """
    keys: list[Any] = list(getattr(element, "_values", None) or ())
    keys.extend(key for key, _ in getattr(element, "_ordered_values", None) or ())
    multi_values: Iterable[Iterable[Any]] = getattr(element, "_multi_values", None) or ()
    for rows in multi_values:
        keys.extend(key for row in rows if isinstance(row, dict) for key in cast("Iterable[Any]", row))
    return [table for table in (getattr(key, "table", None) for key in keys) if table is not None]


def note_switch(connection: Connection, sql: str) -> None:
    """Raw ``sql`` that may send unqualified names elsewhere (``USE``, ``ATTACH``): route this connection widely.

    Kept with the DBAPI connection (``USE`` outlives the transaction and the checkout). A switch made behind
    SQLAlchemy (a driver's ``select_db()``, an ``ATTACH`` in a ``connect`` listener) is not seen.
    """
    patterns = _SWITCHES.get(connection.dialect.name)
    if patterns is not None and (patterns[0].match(sql) or (";" in sql and patterns[1].search(sql))):
        switched(connection)


def note_writes(
    connection: Connection, statement: str, context: ExecutionContext | None, writes: frozenset[str]
) -> None:
    """Route the writes of the statement about to run to every database they may change (until the next transaction).

    Args:
        connection: where it runs.
        statement: the SQL sent to the driver.
        context: SQLAlchemy's execution context (the compiled construct, the ``schema_translate_map``).
        writes: its tags, non-empty (``"*"`` among them: tables unknown).
    """
    dialect = connection.dialect.name
    if dialect in _OWN_DATABASE_ONLY:
        return
    family = "mysql" if dialect == "mariadb" else dialect
    if "*" in writes:  # unknown tables (a procedure, SQL not parsed): anywhere on the server
        route(connection, (None,))
        return
    compiled = context.compiled if context is not None else None
    if context is None or compiled is None or isinstance(compiled.statement, TextClause):
        qualifiers = _raw_qualifiers(statement, dialect)
    else:
        schemas, fixed = _construct_qualifiers(compiled)
        if fixed is None:
            route(connection, (None,))
            return
        translate: dict[str | None, str | None] | None = context.execution_options.get("schema_translate_map")
        if translate:  # SQLAlchemy renders each table's schema through the map as the statement runs
            schemas = frozenset(translate.get(schema, schema) if schema in translate else schema for schema in schemas)
        qualifiers = schemas | fixed
    if qualifiers is None:
        route(connection, (None,))
    elif qualifiers != _UNQUALIFIED:
        own = (connection.engine.url.database or "").casefold()
        routes = {_route(family, qualifier) for qualifier in qualifiers if qualifier is not None} - {own, ""}
        if routes:
            route(connection, routes)


def _route(family: str, qualifier: str) -> str | None:
    """The database a table qualified by ``qualifier`` is in: a name (case-folded), or ``None`` for any."""
    name = qualifier.casefold()
    if family in _FILE_FAMILIES:
        return "" if name in _OWN_FILE else None  # "": the connection's own (its URL names no alias)
    if family == "mysql" and "." not in name:
        return name
    return "" if "." not in name else None  # a schema of the connection's database; a catalog may be another


def _construct_qualifiers(compiled: Compiled) -> tuple[Qualifiers, Qualifiers | None]:
    """The schemas of the tables a construct writes (translatable), and qualifiers its raw SQL names (memoized)."""
    memo = _compiled_memo.get(id(compiled))
    if memo is not None and memo[0] is compiled:
        return memo[1], memo[2]
    schemas: set[str | None] = set()
    fixed: frozenset[str | None] | None = frozenset()
    dialect = compiled.dialect.name
    if isinstance(compiled, DDLCompiler):
        if isinstance(compiled.statement, ddl.DropTable):
            schemas.add(compiled.statement.element.schema)
        else:
            fixed = _raw_qualifiers(compiled.string, dialect)
    else:
        for element in visitors.iterate(compiled.statement):
            if isinstance(element, TextClause):
                found = _raw_qualifiers(element.text, dialect)
                fixed = None if found is None or fixed is None else fixed | found
            elif isinstance(element, UpdateBase):
                for target in (element.table, *set_tables(element)):
                    if isinstance(target, TableClause):
                        schemas.add(target.schema)
                    else:  # rawdml attributes it to every table ("*"); never reached with a table here
                        fixed = None
    result = frozenset(schemas), fixed
    if len(_compiled_memo) >= _MEMO_LIMIT:
        _compiled_memo.clear()
    _compiled_memo[id(compiled)] = (compiled, *result)  # holds the compiled object: its id is not reused meanwhile
    return result


def _raw_qualifiers(sql: str, dialect: str) -> Qualifiers | None:
    """The qualifiers of the tables raw SQL writes (or reads beside); ``None`` when it cannot be parsed."""
    if "." not in sql:  # a qualified name has a dot
        return _UNQUALIFIED
    key = (dialect, sql)
    if key in _raw_memo:
        return _raw_memo[key]
    try:
        from litestar_alchemy_kit.orm._sqlparse import write_qualifiers  # noqa: PLC0415 - optional extra
    except ImportError:
        found = None
    else:
        found = write_qualifiers(sql, dialect)
    if len(_raw_memo) >= _MEMO_LIMIT:
        _raw_memo.clear()
    _raw_memo[key] = found
    return found
