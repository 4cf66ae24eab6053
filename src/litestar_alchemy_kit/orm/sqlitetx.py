"""SQLite statements that run with no transaction open, which the database commits as they run.

SQLAlchemy emits no ``BEGIN`` on SQLite: Python's ``sqlite3`` (and aiosqlite over it), in its default legacy
transaction control, begins a transaction only before a statement whose first word is ``INSERT``, ``UPDATE``,
``DELETE`` or ``REPLACE``, and before none under ``isolation_level=None`` or Python 3.12's ``autocommit=True``.
While SQLAlchemy counts its transaction as open, the database may have none (SQLAlchemy's own docs, "Serializable
isolation / Savepoints / Transactional DDL"), and then:

- any other statement that writes (``WITH ... DELETE``, DDL that drops rows) commits as it runs: a later rollback undoes nothing (:func:`unbegun`; its writes are bracketed at once and kept for the
  real commit too);
- ``SAVEPOINT`` begins the transaction itself, and releasing that savepoint (SQLAlchemy's ``begin_nested()``
  block ending) commits it (:func:`releases`; what the transaction holds is delivered around the ``RELEASE``
  and kept for the real commit too).

Each guess errs towards delivering: an extra invalidation at most (invariant 1 before invariant 2's thrift).
"""

from __future__ import annotations

import re
import sqlite3
import sys
import weakref
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ("forget", "in_transaction", "releases", "unbegun")

# The words before which the driver begins a transaction (comments before the word count as another word here:
# delivering is the safe side); and a query's, which writes only through the functions it calls: an application
# function writes through the driver's connection, and the driver begins the transaction for that write
_BEGUN: Final = re.compile(r"[ \t\r\n\f]*(?:insert|update|delete|replace|select|values)\b", re.IGNORECASE)
_SKIP: Final = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_SAVEPOINT: Final = re.compile(rf"{_SKIP}savepoint\s+(.+?){_SKIP};?{_SKIP}", re.IGNORECASE | re.DOTALL)
_RELEASE: Final = re.compile(rf"{_SKIP}release\s+(?:savepoint\s+)?(.+?){_SKIP};?{_SKIP}", re.IGNORECASE | re.DOTALL)
_ROLLBACK_TO: Final = re.compile(
    rf"{_SKIP}rollback(?:\s+transaction)?\s+to\s+(?:savepoint\s+)?(.+?){_SKIP};?{_SKIP}", re.IGNORECASE | re.DOTALL
)
_QUOTES: Final = {'"': '"', "[": "]", "`": "`", "'": "'"}

# The savepoints open on a connection since one began the database's transaction (that one first), by normalised name
_opening: weakref.WeakKeyDictionary[Connection, list[str]] = weakref.WeakKeyDictionary()


def _transaction_control(connection: Connection) -> tuple[bool, bool] | None:
    """Whether the database has a transaction open and whether the driver begins one before DML.

    ``None`` when the driver is neither ``sqlite3`` nor aiosqlite (nothing is known: the caller delivers).
    """
    driver: object = connection.connection.driver_connection
    raw: sqlite3.Connection | None = None
    if isinstance(driver, sqlite3.Connection):
        raw = driver
    elif connection.dialect.driver == "aiosqlite":
        from aiosqlite import Connection as AioConnection  # noqa: PLC0415 - the aiosqlite dialect imported it

        if isinstance(driver, AioConnection):
            # SQLAlchemy's own aiosqlite adapter reads the same attribute (its isolation_level setter)
            raw = driver._conn  # noqa: SLF001  # pyright: ignore[reportPrivateUsage]
    if raw is None:
        return None
    if sys.version_info >= (3, 12):
        try:
            control = raw.autocommit
        except sqlite3.ProgrammingError:
            # its getter checks the thread (aiosqlite's runs elsewhere): taken for the default, legacy control; a
            # connection made with autocommit=True is then still seen at each statement and rollback (drivertx)
            control = sqlite3.LEGACY_TRANSACTION_CONTROL
        if control != sqlite3.LEGACY_TRANSACTION_CONTROL:
            return raw.in_transaction, False  # False: always in one; True: begins none
    return raw.in_transaction, raw.isolation_level is not None


def in_transaction(connection: Connection) -> bool | None:
    """Whether SQLite has a transaction open on ``connection`` (``None``: a driver this module cannot ask)."""
    control = _transaction_control(connection)
    return None if control is None else control[0]


def unbegun(connection: Connection, sql: str) -> bool:
    """Whether ``sql``, a statement that writes, runs with no transaction open on SQLite (it commits as it runs).

    Args:
        connection: where it runs (any dialect: ``False`` but on SQLite).
        sql: the statement as sent to the driver.
    """
    if connection.dialect.name != "sqlite":
        return False
    control = _transaction_control(connection)
    if control is None:
        return True
    in_transaction, begins_for_dml = control
    return not in_transaction and not (begins_for_dml and _BEGUN.match(sql))


def releases(connection: Connection, sql: str) -> bool:
    """Whether ``sql`` releases the savepoint that began SQLite's transaction (it may commit it).

    A ``SAVEPOINT`` run with no transaction open is remembered for ``connection``, with the savepoints opened inside
    it, until its ``RELEASE`` or the end of SQLAlchemy's transaction (:func:`forget`). As SQLite does, a ``RELEASE``
    or ``ROLLBACK TO`` names the most recent savepoint of that name, and a ``RELEASE`` ends the ones inside it too. A
    name not found (a quoting this module reads otherwise), or a memory gone stale (the database's transaction ended
    behind SQLAlchemy, then savepoints of the same names opened inside another) errs towards delivering.

    Args:
        connection: where it runs (any dialect: ``False`` but on SQLite).
        sql: the statement as sent to the driver.
    """
    if connection.dialect.name != "sqlite":
        return False
    head = sql.lstrip()[:9].lower()
    if head.startswith("savepoint"):
        _opened(connection, sql)
        return False
    stack = _opening.get(connection) if _opening and head.startswith(("release", "rollback")) else None
    if stack is None:
        return False
    if head.startswith("rollback"):
        if (undone := _ROLLBACK_TO.fullmatch(sql)) is not None and (at := _last(stack, undone.group(1))) is not None:
            del stack[at + 1 :]  # the savepoint itself stays open
        return False
    released = _RELEASE.fullmatch(sql)
    at = None if released is None else _last(stack, released.group(1))
    if at is not None and at > 0:
        del stack[at:]
        return False
    del _opening[connection]  # the opening savepoint, or one this module cannot place: delivered
    return True


def _opened(connection: Connection, sql: str) -> None:
    """A ``SAVEPOINT``: the first of a stack when it begins the transaction, else the next of one begun so."""
    named = _SAVEPOINT.fullmatch(sql)
    if named is None:
        return
    control = _transaction_control(connection)
    if control is None or not control[0]:
        _opening[connection] = [_name(named.group(1))]
    elif (stack := _opening.get(connection)) is not None:
        stack.append(_name(named.group(1)))


def _last(stack: list[str], text: str) -> int | None:
    """Where the most recent savepoint named ``text`` is in ``stack``, ``None`` when none is."""
    name = _name(text)
    for at in range(len(stack) - 1, -1, -1):
        if stack[at] == name:
            return at
    return None


def forget(connection: Connection) -> None:
    """SQLAlchemy's transaction on ``connection`` ended: no savepoint of it began the next one."""
    if _opening:
        _opening.pop(connection, None)


def _name(text: str) -> str:
    """A savepoint's name as SQLite compares it: unquoted, case-insensitive."""
    text = text.strip()
    close = _QUOTES.get(text[:1])
    if close is not None and len(text) >= 2 and text.endswith(close):  # noqa: PLR2004 - an opening and a closing quote
        text = text[1:-1].replace(close * 2, close)
    return text.lower()
