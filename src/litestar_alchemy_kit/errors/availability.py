"""Recognise a database that cannot serve the request right now: a lost connection, a refused one, a full pool.

These are worth a retry, so they become a 503 with ``Retry-After`` rather than a 500. SQLAlchemy marks a
connection it found dead (``connection_invalidated``); failures to open one (refused, unreachable, too many
connections) are recognised by passing through SQLAlchemy's pool while connecting, whatever the driver raised
(asyncpg lets ``ConnectionRefusedError`` through unwrapped); a pool with no free connection raises SQLAlchemy's
``TimeoutError``.
"""

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from litestar_alchemy_kit.errors.integrity import driver_error, raised_through

__all__ = ("is_unavailable",)

# SQLSTATE class 08 (connection exception); 57P01-57P03: the server is shutting down or starting up; 53300: too many
# connections.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# MySQL/MariaDB client and server errors: can't connect (2002, 2003), server gone (2006), lost connection (2013),
# too many connections (1040), server shutdown in progress (1053).
_MYSQL_ERRNOS = frozenset({1040, 1053, 2002, 2003, 2006, 2013})
_POOL_MODULES = ("sqlalchemy.pool",)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the database is unavailable for now."""
    current: BaseException | None = exc
    seen: list[BaseException] = []
    while current is not None and current not in seen:
        seen.append(current)
        if isinstance(current, PoolTimeoutError):
            return True
        if isinstance(current, DBAPIError) and (current.connection_invalidated or _unavailable_driver_error(current)):
            return True
        if isinstance(current, (DBAPIError, OSError)) and raised_through(current, _POOL_MODULES):
            return True
        current = current.__cause__ or current.__context__
    return False


def _unavailable_driver_error(exc: DBAPIError) -> bool:
    orig = driver_error(exc)
    if orig is None:
        return False
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    return bool(orig.args) and isinstance(orig.args[0], int) and orig.args[0] in _MYSQL_ERRNOS
