"""What a read's result depends on beyond its SQL: which database it reaches, and the connection's settings.

Invariant 6 (scope isolation). One cache serves every database its sessions reach (the plugin binds it to every
configured database), and the same SQL returns other rows on another database, schema or role. So:

- **Every key names the database** (:func:`database_token`): the connect arguments the engine's connections
  are really made with, as SQLAlchemy hands them to the driver (the URL's host, port, user and database, and
  ``connect_args``: asyncpg's ``server_settings``, psycopg's ``options``, MySQL's ``init_command``...), learnt
  from the ``do_connect`` event, password left out; SQLite and DuckDB files by their resolved path; an
  in-memory database is this engine's alone. Engines of one database made alike share entries across
  processes; anything else only costs misses. Until an engine has handed out a connection since the listeners
  were installed its arguments are unknown and its reads bypass the cache (one read per engine and process).
  An engine whose connections were made before (or by a custom ``creator``, which SQLAlchemy calls with no
  arguments) is named by its URL alone.
- **Settings changed in SQL bypass** (:func:`note_state`): after ``SET search_path``, ``SET ROLE``,
  ``set_config(...)`` (row-level security by a session setting), MySQL's ``USE`` or ``SET sql_mode``,
  SQLite's ``ATTACH`` or ``PRAGMA case_sensitive_like``, what a read returns depends on state no key names.
  ``SET LOCAL`` lasts until the transaction ends and its reads bypass until then; anything else stays with the
  DBAPI connection (returned to the pool with it), whose reads bypass for its lifetime, and the engine's reads
  bypass wherever the connection is not known yet (any pooled one may carry it). Settings that change nothing
  a read returns (timeouts, ``application_name``, planner costs) are left alone; isolation is tracked apart
  (:mod:`.binding`). Settings a ``connect`` listener applies through the DBAPI connection are not seen: put them
  in ``connect_args``, or give the repository a ``scope``.
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

from litestar_alchemy_kit.cache.keys import digest
from litestar_alchemy_kit.canonical import Unencodable, canonical_bytes, encode_value
from litestar_alchemy_kit.orm.databases import database_key

if TYPE_CHECKING:
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ("database_token", "install_read_context_listeners", "note_state", "state_bypass")

_SECRET_ARGS: Final = frozenset({"password", "passwd", "sslpassword", "ssl_key_password"})
_VARIES: Final = "varies"  # an engine whose connections were made with different arguments
_URL_ONLY: Final = "url"  # an engine whose connections were made before the listeners, or by a custom creator
_MAKING: Final = "litestar_alchemy_kit.readcontext.making"  # in a pool record's info, until its connection is made
_STATE_KEY: Final = "litestar_alchemy_kit.readcontext.state"  # in Connection.info: kept with the DBAPI connection
_SKIP: Final = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"  # whitespace and comments
# Settings that change no row a read returns nor how values come back: left alone (an application that sets a
# statement timeout per transaction keeps its hits). Anything else (search_path, role, time zone, sql_mode,
# custom settings read by row-level security policies...) bypasses.
_NEUTRAL: Final = (
    r"(?:transaction\b|session\s+characteristics\b|constraints\b|autocommit\b|"
    r"(?:(?:session|local|global|persist)\s+|@@(?:session\.|local\.)?)?(?:"
    r"statement_timeout|lock_timeout|idle_in_transaction_session_timeout|idle_session_timeout|application_name|"
    r"work_mem|maintenance_work_mem|temp_buffers|jit\w*|enable_\w+|random_page_cost|seq_page_cost|"
    r"effective_cache_size|effective_io_concurrency|max_parallel_\w+|parallel_\w+|synchronous_commit|"
    r"client_min_messages|log_\w+|max_execution_time|innodb_lock_wait_timeout|lock_wait_timeout|wait_timeout|"
    r"net_\w+_timeout|busy_timeout|threads|memory_limit|default_transaction_isolation|transaction_isolation|"
    r"tx_isolation|transaction\s+isolation)\b)"
)
_STATE_WORDS: Final = (
    rf"(?:set\b(?!{_SKIP}{_NEUTRAL})|reset\b|discard\b|use\b|attach\b|detach\b|pragma{_SKIP}case_sensitive_like\b)"
)
_STATEMENT: Final = re.compile(_SKIP + _STATE_WORDS, re.IGNORECASE | re.DOTALL)
_LATER: Final = re.compile(";" + _SKIP + _STATE_WORDS, re.IGNORECASE | re.DOTALL)
_LOCAL: Final = re.compile(_SKIP + r"set\s+local\b[^;]*$", re.IGNORECASE | re.DOTALL)
_SET_CONFIG: Final = re.compile(r"\bset_config\s*\(", re.IGNORECASE)
_DEFINITION: Final = re.compile(_SKIP + r"(?:create|alter|comment)\b", re.IGNORECASE | re.DOTALL)
_MEMO_LIMIT: Final = 4096

_arguments: weakref.WeakKeyDictionary[Dialect, str] = weakref.WeakKeyDictionary()
# by id(dialect), with a weak reference to it: read on every cached read, where a WeakKeyDictionary lookup (a new
# weak reference each time) costs several times a dict's; the reference's callback drops the entry before the id
# can be reused
_tokens: dict[int, tuple[weakref.ref[Dialect], str]] = {}
_tainted_engines: weakref.WeakSet[Dialect] = weakref.WeakSet()
_local: weakref.WeakKeyDictionary[Connection, bool] = weakref.WeakKeyDictionary()
_calls: dict[str, bool] = {}  # compiled SELECT -> whether it calls set_config (a function of the text alone)
_any_state: list[bool] = []  # whether any connection changed its settings (the read path skips all else)
_installed = False


def database_token(engine: Engine) -> str | None:
    """The part of every key that names the database ``engine`` reads (memoized); ``None`` while unknown.

    Args:
        engine: the (sync) engine a read runs on.

    Returns:
        A short token, equal for engines that connect alike in any process; ``None`` when the engine has
        not connected since the listeners were installed (the read bypasses, and connects).
    """
    dialect = engine.dialect
    known = _tokens.get(id(dialect))
    if known is not None and known[0]() is dialect:
        return None if known[1] is _VARIES else known[1]
    arguments = _arguments.get(dialect)
    if arguments is None:
        return None  # its next connection tells its arguments (or, made by a creator, that the URL alone names it)
    if arguments is _VARIES:
        _remember(dialect, _VARIES)
        return None
    family, name = database_key(engine)
    if name == ":memory:":
        place = uuid.uuid4().hex  # a database of this process's connections alone
    elif family in {"sqlite", "duckdb"}:
        place = name or ""
    else:
        url = engine.url
        place = canonical_text_of((url.host, url.port, url.username, url.database, sorted(url.query.items())))
    token = "D" + digest(canonical_bytes((family, place, arguments)))
    _remember(dialect, token)
    return token


def _remember(dialect: Dialect, token: str) -> None:
    key = id(dialect)
    _tokens[key] = (weakref.ref(dialect, lambda _: _tokens.pop(key, None)), token)


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


def _engine_connect(connection: Connection) -> None:
    """A connection is handed out: if no ``do_connect`` told how its engine connects, the URL alone names it.

    Its DBAPI connection was made before the listeners were installed, or by a custom ``creator`` (which SQLAlchemy
    calls with no arguments, so ``do_connect`` never runs).
    """
    dialect = connection.dialect
    known = _tokens.get(id(dialect))
    if (known is None or known[0]() is not dialect) and dialect not in _arguments:
        _arguments[dialect] = _URL_ONLY


def note_state(connection: Connection, sql: str, *, compiled_select: bool = False) -> None:
    """Raw ``sql`` about to run on ``connection``: if it changes settings reads depend on, later reads bypass.

    Args:
        connection: where it runs.
        sql: the statement as sent to the driver.
        compiled_select: ``sql`` was compiled from a SELECT construct (only a ``set_config`` call can change state).
    """
    if compiled_select:
        calls = _calls.get(sql)
        if calls is None:
            if len(_calls) >= _MEMO_LIMIT:
                _calls.clear()
            calls = _calls[sql] = _SET_CONFIG.search(sql) is not None
        if not calls:
            return
    elif not _STATEMENT.match(sql) and (
        _DEFINITION.match(sql) or not ((";" in sql and _LATER.search(sql)) or _SET_CONFIG.search(sql))
    ):
        return  # a definition's body (a trigger's, a function's) runs later, elsewhere: its statements are not run now
    if not _any_state:
        _any_state.append(True)
    if not compiled_select and _LOCAL.match(sql):
        _local[connection] = True  # until the transaction ends
        return
    connection.info[_STATE_KEY] = True
    _tainted_engines.add(connection.dialect)


def state_bypass(connection: Connection | None, engine: Engine) -> str | None:
    """Why a read on ``connection`` (``None``: not known yet) of ``engine`` must bypass: settings changed in SQL."""
    if not _any_state:
        return None
    if connection is None:
        return "a connection of this engine changed its settings in SQL" if engine.dialect in _tainted_engines else None
    if connection in _local or (not connection.invalidated and connection.info.get(_STATE_KEY)):
        return "the connection's settings were changed in SQL"
    return None


def _transaction_ended(connection: Connection) -> None:
    _local.pop(connection, None)


def install_read_context_listeners() -> None:
    """Learn each engine's connect arguments and forget ``SET LOCAL`` at the transaction's end (idempotent)."""
    global _installed  # noqa: PLW0603 - one-time registration of class-level listeners
    if _installed:
        return
    event.listen(Engine, "do_connect", _do_connect)
    event.listen(Pool, "connect", _connected)
    event.listen(Engine, "engine_connect", _engine_connect)
    event.listen(Engine, "commit", _transaction_ended)
    event.listen(Engine, "rollback", _transaction_ended)
    _installed = True
