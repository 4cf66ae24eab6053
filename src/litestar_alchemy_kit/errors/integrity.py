"""Classify a database constraint violation from the driver's exception, on every supported driver.

Advanced Alchemy recognises violations with per-dialect regexes and has none for some dialects (a
DuckDB unique violation arrives as a plain ``IntegrityError``), and commit-time failures reach us as
raw SQLAlchemy errors. So we look at the driver exception itself: its SQLSTATE (PostgreSQL), its
error number (MySQL/MariaDB) or its message (SQLite, DuckDB). The message is only inspected here,
never sent to a client.
"""

from typing import Literal

from sqlalchemy.exc import DBAPIError

__all__ = ("Violation", "classify_violation", "driver_error", "is_invalid_data", "is_out_of_range", "raised_through")

Violation = Literal["unique", "foreign_key", "not_null", "check"]

_SQLSTATES: dict[str, Violation] = {"23505": "unique", "23503": "foreign_key", "23502": "not_null", "23514": "check"}
# MySQL/MariaDB server error numbers.
_MYSQL_ERRNOS: dict[int, Violation] = {
    1062: "unique",
    1586: "unique",
    1216: "foreign_key",
    1217: "foreign_key",
    1451: "foreign_key",
    1452: "foreign_key",
    1048: "not_null",
    1364: "not_null",
    3819: "check",  # MySQL 8
    4025: "check",  # MariaDB
}
# MySQL/MariaDB: out of range, division by zero, incorrect value, data too long, truncated.
_MYSQL_DATA_ERRNOS = frozenset({1264, 1365, 1366, 1406, 1292})
_DATA_EXCEPTION_CLASS = "22"  # SQLSTATE class "data exception"
_OUT_OF_RANGE_SQLSTATE = "22003"  # numeric value out of range (PostgreSQL, MySQL/MariaDB)
_MYSQL_OUT_OF_RANGE = 1264
# DuckDB's ConversionException: "Conversion Error: Type INT64 with value 2147483648 can't be cast because the
# value is out of range for the destination type INT32".
_DUCKDB_OUT_OF_RANGE = ("conversion error:", "out of range")

# How lower-cased SQLite and DuckDB messages begin. Matching the start only, because the rest of a
# message can quote the offending values, which the client chose.
_MESSAGE_PREFIXES: tuple[tuple[str, Violation], ...] = (
    ("unique constraint failed", "unique"),
    ("primary key must be unique", "unique"),
    ("duplicate key", "unique"),
    ("primary key or unique constraint", "unique"),
    ("foreign key constraint failed", "foreign_key"),
    ("violates foreign key", "foreign_key"),
    ("not null constraint failed", "not_null"),
    ("check constraint failed", "check"),
)
_DUCKDB_PREFIX = "constraint error:"


def driver_error(exc: BaseException) -> BaseException | None:
    """The DBAPI driver exception behind ``exc``, following ``__cause__``/``__context__`` chains."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and isinstance(current.orig, BaseException):
            return current.orig
        current = current.__cause__ or current.__context__
    return None


def classify_violation(exc: BaseException) -> Violation | None:
    """Which constraint ``exc`` (or the driver error behind it) violated, or ``None`` if unknown."""
    orig = driver_error(exc)
    if orig is None:
        return None
    for attr in ("sqlstate", "pgcode"):
        state = getattr(orig, attr, None)
        if isinstance(state, str) and state in _SQLSTATES:
            return _SQLSTATES[state]
    if orig.args and isinstance(orig.args[0], int) and orig.args[0] in _MYSQL_ERRNOS:
        return _MYSQL_ERRNOS[orig.args[0]]
    message = str(orig).lower().strip()
    message = message.removeprefix(_DUCKDB_PREFIX).lstrip()
    return next((violation for prefix, violation in _MESSAGE_PREFIXES if message.startswith(prefix)), None)


def is_invalid_data(exc: BaseException) -> bool:
    """Whether the driver error behind ``exc`` says a value cannot be stored (SQLSTATE class 22 and MySQL's kin).

    SQLAlchemy does not always say so itself: asyncpg's data errors arrive as a generic ``DBAPIError``.
    """
    orig = driver_error(exc)
    if orig is None:
        return False
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and state.startswith(_DATA_EXCEPTION_CLASS):
        return True
    return bool(orig.args) and isinstance(orig.args[0], int) and orig.args[0] in _MYSQL_DATA_ERRNOS


def is_out_of_range(exc: BaseException) -> bool:
    """Whether ``exc`` says a number does not fit the column or the driver's wire type.

    PostgreSQL and MySQL/MariaDB say so with SQLSTATE 22003 (MySQL errno 1264); asyncpg, sqlite3 and aiosqlite
    raise ``OverflowError`` while encoding the parameter (asyncpg wraps it in its ``DataError``; the SQLite drivers
    let it through unwrapped, so it counts when raised while SQLAlchemy executed a statement); DuckDB raises a
    ``ConversionException``.
    """
    chain = _chain(exc)
    if any(isinstance(e, OverflowError) for e in chain) and any(
        isinstance(e, DBAPIError) or raised_through(e, ("sqlalchemy.engine",)) for e in chain
    ):
        return True
    orig = driver_error(exc)
    if orig is None:
        return False
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state == _OUT_OF_RANGE_SQLSTATE or (bool(orig.args) and orig.args[0] == _MYSQL_OUT_OF_RANGE):
        return True
    message = str(orig).lower()
    return message.startswith(_DUCKDB_OUT_OF_RANGE[0]) and _DUCKDB_OUT_OF_RANGE[1] in message


def raised_through(exc: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether any frame of ``exc``'s traceback belongs to one of ``modules`` (or their submodules)."""
    frame = exc.__traceback__
    while frame is not None:
        name = frame.tb_frame.f_globals.get("__name__", "")
        if isinstance(name, str) and any(name == module or name.startswith(f"{module}.") for module in modules):
            return True
        frame = frame.tb_next
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
