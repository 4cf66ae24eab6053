"""What the DBAPI driver says of a connection's transaction, where SQLAlchemy cannot know it.

A driver can commit behind SQLAlchemy without any SQL the kit reads: ``driver_connection.commit()``, autocommit
switched on at the driver (psycopg's ``autocommit = True`` or ``connect_args={"autocommit": True}``, pymysql's
``autocommit(True)``, sqlite3's ``isolation_level = None``, each committing the open transaction), and no event
fires. Two checks close what they leave open:

- :func:`autocommit`: the driver runs every statement in a transaction of its own, as under SQLAlchemy's
  ``AUTOCOMMIT``: writes are bracketed as they run (:mod:`~litestar_alchemy_kit.orm.rawdml`);
- :func:`committed_behind`: before a statement, or at SQLAlchemy's rollback, the driver has no transaction open (or
  runs with autocommit) while the session or the connection holds writes: those writes were committed, and are
  delivered then instead of forgotten. Late (after the driver's commit, at the next statement or the session's
  end) but never lost. Switching the driver's autocommit on and off again with no statement between is not seen.

Known to psycopg (3) and ``sqlite3`` / aiosqlite; of pymysql and asyncmy only the autocommit flag (their transaction
flag is stale after a result set, so a ``commit()`` at their driver is not seen); other drivers answer ``None``
(unknown: nothing changes). A check that errs says "committed" at most: an extra invalidation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol, cast

from litestar_alchemy_kit.orm import sqlitetx

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ("autocommit", "committed_behind")

_IDLE: Final = 0  # libpq's PQTRANS_IDLE: no transaction open


class _PsycopgInfo(Protocol):
    @property
    def transaction_status(self) -> int: ...


class _Psycopg(Protocol):
    @property
    def autocommit(self) -> bool: ...

    @property
    def info(self) -> _PsycopgInfo: ...


class _PyMySQL(Protocol):
    def get_autocommit(self) -> bool: ...


class _AsyncMy(Protocol):
    def get_autocommit(self) -> bool: ...


def _state(connection: Connection) -> tuple[bool, bool] | None:
    """``(in a transaction, autocommit)`` as the driver knows them, ``None`` when this module cannot ask it."""
    driver_name = connection.dialect.driver
    if driver_name not in {"psycopg", "pymysql", "asyncmy"}:
        return None
    if connection.closed or connection.invalidated:
        return None
    driver = connection.connection.driver_connection
    if driver_name == "psycopg":
        psycopg = cast("_Psycopg", driver)
        return psycopg.info.transaction_status != _IDLE, psycopg.autocommit
    # MySQL drivers: the autocommit flag only. Their transaction flag is the last OK packet's, and a result set
    # ends with none (pymysql reads no status from its EOF packet): after a transaction's SELECTs it is stale.
    if driver_name == "pymysql":
        return True, cast("_PyMySQL", driver).get_autocommit()
    return True, cast("_AsyncMy", driver).get_autocommit()


def autocommit(connection: Connection) -> bool:
    """Whether the driver commits each statement of ``connection`` as it runs (switched on at the driver)."""
    state = _state(connection)
    return state is not None and state[1]


def committed_behind(connection: Connection) -> bool:
    """Whether ``connection``'s writes so far are durable (asked before each statement and at SQLAlchemy's rollback).

    They are when the driver has no transaction open, or runs with autocommit; unknown drivers: ``False``. An
    invalidated connection (a disconnect) cannot tell whether a commit reached the server first: ``True``.
    """
    if connection.invalidated:
        return True
    if connection.dialect.name == "sqlite":
        if connection.closed:
            return False
        return sqlitetx.in_transaction(connection) is False
    state = _state(connection)
    return state is not None and (not state[0] or state[1])
