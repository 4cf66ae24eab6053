"""What a read's result depends on beyond its SQL: which database it reaches, and the connection's settings.

Invariant 6 (scope isolation). One cache serves every database its sessions reach (the plugin binds it to every
configured database), and the same SQL returns other rows on another database, schema or role. So:

- **Every key names the database** (:func:`database_token`): the connect arguments the engine's connections
  are really made with, as SQLAlchemy hands them to the driver (the URL's host, port, user and database, and
  ``connect_args``: asyncpg's ``server_settings``, psycopg's ``options``, MySQL's ``init_command``...), learnt
  from the ``do_connect`` event once an engine's own listeners have edited them, password left out; SQLite and
  DuckDB files by their resolved path; an in-memory database is this engine's alone. Engines of one database made
  alike share entries across processes; anything else only costs misses. Until an engine has handed out a
  connection since the listeners were installed its arguments are unknown: its first cached read hands out one
  first (:func:`learn_database_async`, through :func:`~litestar_alchemy_kit.orm.binding.read_bind_async`). An engine whose arguments cannot be known (connections made before the
  listeners, or by a custom ``creator``, which SQLAlchemy calls with none) keeps entries of its own.
- **Settings changed in SQL bypass** (:func:`note_state`): after ``SET search_path``, ``SET ROLE``,
  ``set_config(...)`` (row-level security by a session setting), a ``SET`` in a ``DO`` block, MySQL's ``USE``,
  ``SET time_zone`` or ``SET sql_mode`` (every assignment of a multi-assignment ``SET``), SQLite's ``ATTACH`` or
  ``PRAGMA case_sensitive_like``, or a temporary table (it shadows a table of its name), what a read returns
  depends on state no key names. PostgreSQL's ``SET LOCAL`` lasts until the transaction ends and its reads
  bypass until then; anything else (MySQL's ``SET LOCAL`` is a session setting) stays with the DBAPI connection,
  whose reads bypass until it is closed, and while such a connection is open the engine's reads whose
  connection is not known yet bypass too (the pool may hand it out). Settings that change nothing a read returns
  (timeouts, ``application_name``, planner costs, foreign-key checks) and ``RESET`` / ``DISCARD`` (back to how
  the connection was made) are left alone; isolation is tracked apart (:mod:`.binding`); a definition's body (a
  trigger's, a function's) is not run. Settings a ``connect`` listener applies through the DBAPI connection are
  not seen: put them in ``connect_args``, or give the repository a ``scope``.
"""

from __future__ import annotations

import re
import uuid
import weakref
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.pool import Pool
from sqlalchemy.util import greenlet_spawn

from litestar_alchemy_kit.cache.keys import digest
from litestar_alchemy_kit.canonical import Unencodable, canonical_bytes, encode_value
from litestar_alchemy_kit.orm.databases import database_key

if TYPE_CHECKING:
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = (
    "UNKNOWN_DATABASE",
    "database_token",
    "forget_local",
    "install_read_context_listeners",
    "learn_database_async",
    "learn_database_sync",
    "note_state",
    "state_bypass",
)

UNKNOWN_DATABASE: Final = "the engine has not connected since the listeners were installed: its database is unknown"
"""The bypass reason of a read whose engine's database is not known yet: :func:`learn_database_async` first."""

_SECRET_ARGS: Final = frozenset({"password", "passwd", "sslpassword", "ssl_key_password"})
_VARIES: Final = "varies"  # an engine whose connections were made with different arguments
_URL_ONLY: Final = "url"  # an engine whose connections were made before the listeners, or by a custom creator
_MAKING: Final = "litestar_alchemy_kit.readcontext.making"  # in a pool record's info, until its connection is made
_STATE_KEY: Final = "litestar_alchemy_kit.readcontext.state"  # in Connection.info: kept with the DBAPI connection
# whitespace and comments (MySQL's "#" too); MySQL runs what a "/*!" comment holds, so its opener is skipped alone
_SKIP: Final = r"(?:\s+|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|/\*!\d*|/\*.*?\*/)*"
# Settings that change no row a read returns nor how values come back: left alone (an application that sets a
# statement timeout per transaction keeps its hits). Anything else (search_path, role, time zone, sql_mode,
# custom settings read by row-level security policies...) bypasses. One assignment only: "SET a = 1, b = 2" is
# looked at as a whole. RESET and DISCARD bring settings back to how the connection was made: never a new state.
_NEUTRAL_NAMES: Final = (
    r"(?:(?:session|local|global|persist|persist_only)\s+|@@(?:session\.|local\.|global\.)?)?(?:"
    r"transaction|session\s+characteristics|constraints|autocommit|statement_timeout|lock_timeout|"
    r"idle_in_transaction_session_timeout|idle_session_timeout|application_name|work_mem|maintenance_work_mem|"
    r"temp_buffers|jit\w*|enable_\w+|random_page_cost|seq_page_cost|effective_cache_size|effective_io_concurrency|"
    r"max_parallel_\w+|parallel_\w+|synchronous_commit|client_min_messages|log_\w+|max_execution_time|"
    r"max_statement_time|innodb_lock_wait_timeout|lock_wait_timeout|wait_timeout|net_\w+_timeout|busy_timeout|"
    r"threads|memory_limit|default_transaction_\w+|transaction_isolation|tx_isolation|transaction_read_only|"
    r"foreign_key_checks|unique_checks|session_replication_role|sql_log_bin)(?![.\w])"
)
_NEUTRAL: Final = re.compile(
    _SKIP + rf"(?:set\s+{_NEUTRAL_NAMES}[^,]*|reset\b.*|discard\b.*)$", re.IGNORECASE | re.DOTALL
)
_SETTING: Final = re.compile(
    _SKIP + r"(?:set|use|attach|detach|pragma\s+case_sensitive_like|create\s+(?:(?:global|local)\s+)?temp(?:orary)?"
    r"\s+(?:table|view))\b",
    re.IGNORECASE | re.DOTALL,
)
_LOCAL: Final = re.compile(_SKIP + r"set\s+local\b", re.IGNORECASE | re.DOTALL)
_SET_CONFIG: Final = re.compile(r"\bset_config\s*\(", re.IGNORECASE)
# a definition's body (a trigger's, a function's) runs later, elsewhere: its statements are not run now; a temporary
# table is no definition (it shadows the table of that name for the connection's reads)
_DEFINITION: Final = re.compile(
    _SKIP + r"(?:create\s+(?!(?:(?:global|local)\s+)?temp(?:orary)?\s+(?:table|view)\b)|alter\b|comment\b)",
    re.IGNORECASE | re.DOTALL,
)
_DO: Final = re.compile(_SKIP + r"do\b", re.IGNORECASE | re.DOTALL)
_DO_SETS: Final = re.compile(r"\bset\s|\bset_config\s*\(", re.IGNORECASE)
_MEMO_LIMIT: Final = 4096

_arguments: weakref.WeakKeyDictionary[Dialect, str] = weakref.WeakKeyDictionary()
# by id(dialect), with a weak reference to it: read on every cached read, where a WeakKeyDictionary lookup (a new
# weak reference each time) costs several times a dict's; the reference's callback drops the entry before the id
# can be reused
_tokens: dict[int, tuple[weakref.ref[Dialect], str]] = {}
# per engine, its DBAPI connections that carry settings changed in SQL (a read without its connection may get one)
_tainted_counts: weakref.WeakKeyDictionary[Dialect, int] = weakref.WeakKeyDictionary()
_local: weakref.WeakKeyDictionary[Connection, bool] = weakref.WeakKeyDictionary()
_calls: dict[str, str] = {}  # compiled SELECT -> _SESSION when it calls set_config, else "" (the text alone)
_texts: dict[str, str] = {}  # raw SQL -> how long its setting changes last (_text_scope)
_SESSION: Final = "session"
_TRANSACTION: Final = "transaction"
_any_state: list[bool] = []  # whether any connection changed its settings (the read path skips all else)
_installed = False


def database_token(engine: Engine) -> str | None:
    """The part of every key that names the database ``engine`` reads (memoized); ``None`` while unknown.

    Args:
        engine: the (sync) engine a read runs on.

    Returns:
        A short token, equal for engines that connect alike in any process; ``None`` when the engine has not
        handed out a connection since the listeners were installed (:func:`learn_database_async` makes it);
        ``""`` when its connections are made differently from one another (its reads bypass).
    """
    dialect = engine.dialect
    known = _tokens.get(id(dialect))
    if known is not None and known[0]() is dialect:
        return "" if known[1] is _VARIES else known[1]
    arguments = _arguments.get(dialect)
    if arguments is None:
        return None  # its next connection tells its arguments (or, made by a creator, that the URL alone names it)
    if arguments is _VARIES:
        _remember(dialect, _VARIES)
        return ""
    family, name = database_key(engine)
    if arguments is _URL_ONLY:
        # its connect arguments are unknown: two such engines of one URL may reach two databases (a creator's
        # connector, connect_args set before the listeners), so its entries are its own
        arguments = uuid.uuid4().hex
    place: object
    if name == ":memory:":
        place = uuid.uuid4().hex  # a database of this process's connections alone
    elif family in {"sqlite", "duckdb"}:
        place = name or ""
    else:
        url = engine.url
        place = (url.host, url.port, url.username, url.database, sorted(url.query.items()))
    token = "D" + digest(canonical_bytes((family, place, arguments)))
    _remember(dialect, token)
    return token


def _remember(dialect: Dialect, token: str) -> None:
    key = id(dialect)
    _tokens[key] = (weakref.ref(dialect, lambda _: _tokens.pop(key, None)), token)


async def learn_database_async(engine: Engine) -> None:
    """Hand out one connection of ``engine`` (the sync engine of an async one), so its database is known.

    A read's key needs it before the read runs: the first read of an engine in a process pays one checkout more.
    """
    await greenlet_spawn(learn_database_sync, engine)


def learn_database_sync(engine: Engine) -> None:
    """:func:`learn_database_async` for a sync engine."""
    with engine.connect():
        pass
    if engine.dialect not in _arguments:
        # no do_connect told how it connects: a connection made before the listeners were installed, or by a custom
        # creator (which SQLAlchemy calls with no arguments): the URL alone names it
        _arguments[engine.dialect] = _URL_ONLY


def canonical_text_of(value: object) -> str:
    """``value``'s canonical encoding; parts with none (an SSL context, a callable) by their type's name."""
    out: list[str] = []
    _encode_lenient(value, out)
    return "".join(out)


def _encode_lenient(value: object, out: list[str]) -> None:
    if isinstance(value, dict):
        mapping = cast("dict[object, object]", value)
        items = sorted(((str(key), item) for key, item in mapping.items()), key=itemgetter(0))
        out.append(f"d{len(items)}:")
        for key, item in items:
            encode_value(key, out)
            _encode_lenient(item, out)
        return
    if isinstance(value, (list, tuple)):
        sequence = cast("list[object] | tuple[object, ...]", value)
        out.append(f"l{len(sequence)}:")
        for item in sequence:
            _encode_lenient(item, out)
        return
    try:
        encode_value(value, out)
    except Unencodable:
        encode_value(f"<{type(value).__module__}.{type(value).__qualname__}>", out)


def _do_connect(dialect: Dialect, record: ConnectionPoolEntry, cargs: list[Any], cparams: dict[str, Any]) -> None:
    # Class-level listeners run before an engine's own, which may still edit the arguments in place: read them once
    # the connection is made.
    record.info[_MAKING] = (dialect, cargs, cparams)


def _connected(dbapi_connection: object, record: ConnectionPoolEntry) -> None:
    del dbapi_connection
    making: tuple[Dialect, list[Any], dict[str, Any]] | None = record.info.pop(_MAKING, None)
    if making is None:
        return  # a custom creator's connection: its engine is named by its URL
    dialect, cargs, cparams = making
    arguments = canonical_text_of((cargs, {name: value for name, value in cparams.items() if name not in _SECRET_ARGS}))
    known = _arguments.get(dialect)
    if known is None or known is _URL_ONLY:
        _arguments[dialect] = arguments
        _tokens.pop(id(dialect), None)
    elif known != arguments:
        # two connections of one engine made differently (a listener editing them): reads cannot tell which
        _arguments[dialect] = _VARIES
        _tokens.pop(id(dialect), None)


def note_state(connection: Connection, sql: str, *, compiled_select: bool = False) -> None:
    """Raw ``sql`` about to run on ``connection``: if it changes settings reads depend on, later reads bypass.

    Args:
        connection: where it runs.
        sql: the statement as sent to the driver.
        compiled_select: ``sql`` was compiled from a SELECT construct (only a ``set_config`` call can change state).
    """
    memo = _calls if compiled_select else _texts
    scope = memo.get(sql)
    if scope is None:
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        scope = memo[sql] = (_SESSION if _SET_CONFIG.search(sql) else "") if compiled_select else _text_scope(sql)
    if not scope:
        return
    if not _any_state:
        _any_state.append(True)
    if scope is _TRANSACTION and connection.dialect.name == "postgresql":  # MySQL's SET LOCAL is SET SESSION
        _local[connection] = True  # until the transaction ends
        return
    info = connection.info
    if _STATE_KEY not in info:
        dialect = connection.dialect
        info[_STATE_KEY] = dialect  # until the DBAPI connection is closed (_closed)
        _tainted_counts[dialect] = _tainted_counts.get(dialect, 0) + 1


def _text_scope(sql: str) -> str:
    """How long raw ``sql``'s setting changes last: ``_TRANSACTION``, ``_SESSION``, or ``""`` for none."""
    if _DEFINITION.match(sql):
        return ""
    if _DO.match(sql):
        return _SESSION if _DO_SETS.search(sql) else ""
    parts = [part for part in sql.split(";") if part.strip()]  # a ";" in a literal splits too: a bypass at most
    changing = [
        part for part in parts if _SET_CONFIG.search(part) or (_SETTING.match(part) and not _NEUTRAL.match(part))
    ]
    if not changing:
        return ""
    return _TRANSACTION if len(parts) == 1 and _LOCAL.match(changing[0]) else _SESSION


def state_bypass(connection: Connection | None, engine: Engine) -> str | None:
    """Why a read on ``connection`` (``None``: not known yet) of ``engine`` must bypass: settings changed in SQL."""
    if not _any_state:
        return None
    if connection is None:
        if _tainted_counts.get(engine.dialect):
            return "a pooled connection of this engine changed its settings in SQL"
        return None
    if connection in _local or (not connection.invalidated and _STATE_KEY in connection.info):
        return "the connection's settings were changed in SQL"
    return None


def _closed(dbapi_connection: object, record: ConnectionPoolEntry, *rest: object) -> None:
    """A DBAPI connection is closed or invalidated: the settings it carried go with it."""
    del dbapi_connection, rest
    dialect: Dialect | None = record.info.pop(_STATE_KEY, None)
    if dialect is not None:
        left = _tainted_counts.get(dialect, 1) - 1
        if left > 0:
            _tainted_counts[dialect] = left
        else:
            _tainted_counts.pop(dialect, None)


def forget_local(connection: Connection) -> None:
    """The connection's transaction ended: its ``SET LOCAL`` settings with it (called by :mod:`.binding`)."""
    _local.pop(connection, None)


def install_read_context_listeners() -> None:
    """Learn each engine's connect arguments and forget a closed connection's settings (idempotent)."""
    global _installed  # noqa: PLW0603 - one-time registration of class-level listeners
    if _installed:
        return
    event.listen(Engine, "do_connect", _do_connect)
    event.listen(Pool, "connect", _connected)
    event.listen(Pool, "close", _closed)
    event.listen(Pool, "invalidate", _closed)
    _installed = True
