"""Raw SQL analysis with sqlglot (the ``sql`` extra); importing this module imports sqlglot.

Callers import it lazily and fall back to conservative answers (the whole namespace, every table)
when the extra is missing.
"""

from __future__ import annotations

import logging
import re
from typing import Final

try:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
except ImportError as exc:  # pragma: no cover - exercised where the extra is not installed
    msg = "raw sql analysis needs sqlglot: install litestar-alchemy-kit[sql]"
    raise ImportError(msg) from exc

__all__ = ("body_tables", "code_words", "referenced_tables", "statement_writes", "write_qualifiers")

# sqlglot logs every statement it falls back to parsing as an opaque command; we handle those.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_WRITES: Final = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.TruncateTable,
    exp.Drop,
    exp.Alter,
    exp.Copy,
    exp.Into,
)
_READ_ONLY_COMMANDS: Final = frozenset({"SET", "SHOW", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "USE"})
# SQLAlchemy's dialect names where sqlglot spells them otherwise
_DIALECTS: Final = {"postgresql": "postgres", "mariadb": "mysql"}
_REPLACE: Final = re.compile(r"^\s*replace\b", re.IGNORECASE)

TableName = tuple[str | None, str]


def _tables(node: exp.Expr) -> list[TableName]:
    return [(table.db or None, table.name) for table in node.find_all(exp.Table) if table.name]


def code_words(sql: str, dialect: str) -> str | None:
    r"""``sql`` without its string literals and comments, as the dialect tokenizes it (tokens joined by spaces).

    ``None`` when it does not tokenize. Every spelling of a literal the dialect knows is dropped
    (``E'it\\'s'``, ``$tag$...$tag$``, MySQL's ``"it's"``), and comments of every kind (``#`` on MySQL).
    """
    try:
        tokens = sqlglot.Dialect.get_or_raise(_DIALECTS.get(dialect, dialect)).tokenize(sql)
    except (SqlglotError, ValueError):
        return None
    return " ".join(token.text for token in tokens if not token.token_type.name.endswith("STRING"))


def _parse(sql: str, dialect: str) -> list[exp.Expr] | None:
    try:
        parsed = sqlglot.parse(sql, read=_DIALECTS.get(dialect, dialect))
        return [statement for statement in parsed if statement is not None]
    except (SqlglotError, ValueError):  # ValueError: a dialect sqlglot does not know
        return None


def statement_writes(sql: str, dialect: str) -> list[TableName] | bool | None:
    """The tables ``sql`` writes.

    Args:
        sql: one or more statements, as sent to the driver.
        dialect: SQLAlchemy's dialect name.

    Returns:
        ``None`` when it writes nothing; ``True`` when it may write but the tables cannot be told
        (procedures, anonymous blocks, unparsable SQL); else every table a writing statement names
        (targets, and for safety the tables it reads too).
    """
    found = _written(sql, dialect)
    if found is None or isinstance(found, bool):
        return found
    return [(table.db or None, table.name) for table in found]


def write_qualifiers(sql: str, dialect: str) -> frozenset[str | None] | None:
    """What the tables :func:`statement_writes` finds are qualified with: ``db``, ``catalog.db``, or ``None``.

    Returns:
        The qualifiers (``None`` for an unqualified table); ``None`` when the tables cannot be told.
    """
    found = _written(sql, dialect)
    if found is True:
        return None
    return frozenset(".".join(part for part in (table.catalog, table.db) if part) or None for table in found or ())


def _written(sql: str, dialect: str) -> list[exp.Table] | bool | None:
    if _REPLACE.match(sql):  # MySQL's REPLACE is an INSERT that deletes first: same target
        sql = _REPLACE.sub("INSERT", sql, count=1)
    statements = _parse(sql, dialect)
    if statements is None:
        return True
    written: list[exp.Table] = []
    for statement in statements:
        if isinstance(statement, exp.Command):
            if str(statement.this).upper() not in _READ_ONLY_COMMANDS:
                return True
            continue
        # CREATE makes a new object (no cached entry reads it), except a view it replaces
        replaced_view = isinstance(statement, exp.Create) and str(statement.args.get("kind", "")).upper() == "VIEW"
        if replaced_view or any(True for _ in statement.find_all(*_WRITES)):
            tables = [table for table in statement.find_all(exp.Table) if table.name]
            if not tables:
                return True
            written.extend(tables)
    return written or None


def referenced_tables(sql: str, dialect: str) -> list[TableName] | None:
    """Every table ``sql`` names (a view definition's sources); ``None`` when it cannot be parsed."""
    statements = _parse(sql, dialect)
    if statements is None:
        return None
    return [name for statement in statements for name in _tables(statement)]


def body_tables(sql: str, dialect: str) -> list[TableName] | None:
    """Every table a function body names; ``None`` when any part of it is not parsed as SQL.

    Unlike :func:`referenced_tables`, a statement sqlglot keeps as an opaque command (a procedural
    ``BEGIN ... END`` block) makes the answer unknown: it may read tables no parse shows.
    """
    statements = _parse(sql, dialect)
    if statements is None or any(isinstance(statement, exp.Command) for statement in statements):
        return None
    return [name for statement in statements for name in _tables(statement)]
