"""The execution context of one cached read: the options the database will really see, and its snapshot.

A statement's own execution options are only one level of four. SQLAlchemy merges, from lowest to
highest precedence, the engine's options (``engine.execution_options(...)``), the connection's
(``connection.execution_options(...)``, ``Session(bind=connection)``,
``session.connection(execution_options=...)``), the statement's, and those passed to
``execute()``. ``schema_translate_map`` at any of these levels changes which tables a statement
reads, so the options of every level that may change the SQL or its result go into the key
(:attr:`BindState.options`); an option with no canonical form makes the read bypass the cache.

The same resolution tells whether a result may populate the cache (invariant 3): only when the
query's snapshot is at least as new as the tag versions read before it. That depends on the
transaction of the *connection* the session uses, not on ``session.in_transaction()``: a session
joined to a connection whose REPEATABLE READ transaction already read has no transaction of its
own, yet its snapshot is old.

The connection of a session's transaction is learnt from the ``after_begin`` session event
(:func:`install_session_listeners`, installed by :func:`~litestar_alchemy_kit.orm.install_listeners`),
so a cache hit resolves all of this without I/O.
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, NestedTransaction
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from litestar_alchemy_kit.canonical import Unencodable, encode_value
from litestar_alchemy_kit.orm.executehooks import untrusted_execute_listener
from litestar_alchemy_kit.orm.readcontext import (
    UNKNOWN_DATABASE,
    database_token,
    forget_local,
    install_read_context_listeners,
    learn_database_async,
    learn_database_sync,
    state_bypass,
)
from litestar_alchemy_kit.orm.statement import IGNORED_EXECUTION_OPTIONS, canonical_options

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import async_scoped_session
    from sqlalchemy.orm import SessionTransaction, scoped_session
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.elements import ClauseElement

__all__ = (
    "CACHES_KEY",
    "KEY_NEUTRAL_OPTIONS",
    "BindState",
    "bind_state",
    "distrust_isolation",
    "forget_isolation",
    "install_session_listeners",
    "joined",
    "joined_only",
    "level_allows_populate",
    "note_isolation",
    "owning_session",
    "read_bind_async",
    "read_bind_sync",
    "remember_isolation",
    "session_connection",
    "session_delivers",
    "sync_session_of",
)

KEY_NEUTRAL_OPTIONS: Final = IGNORED_EXECUTION_OPTIONS | frozenset(
    {
        # the snapshot, not the SQL: the populate rule below decides what the isolation level allows
        "isolation_level",
        "postgresql_readonly",
        "postgresql_deferrable",
        # AA's routing: already part of the key as the bind group, and resolved to a bind here
        "bind_group",
    }
)
"""Bind-level execution options that change neither the SQL nor what it returns."""

_UNKNOWN: Final = "UNKNOWN"
_SET_ISOLATION: Final = re.compile(r"\s*set\b[^;]*\bisolation\b", re.IGNORECASE)
_PER_STATEMENT: Final = frozenset({"READ COMMITTED", "AUTOCOMMIT"})
# PostgreSQL runs READ UNCOMMITTED as READ COMMITTED; elsewhere it reads other transactions'
# uncommitted rows (MariaDB, SQLite in shared-cache mode), which must never be published.
_DIRTY_READS_SAFE: Final = frozenset({"postgresql"})

# dialects whose Connection.get_isolation_level() asks the server without disturbing the transaction
_LEVEL_QUERY_DIALECTS: Final = frozenset({"postgresql", "mysql", "mariadb", "sqlite"})

CACHES_KEY: Final = "litestar_alchemy_kit.caches"
"""``Session.info`` key holding the tuple of caches the session invalidates on commit."""
_CONNECTIONS_KEY: Final = "litestar_alchemy_kit.binding.connections"
"""``Session.info`` key: the connections of the session's current transaction, by bind."""
_JOINED_KEY: Final = "litestar_alchemy_kit.binding.joined"
"""``Session.info`` key: the connections whose transaction the session's commit does not commit (it only joined)."""
_owners: weakref.WeakKeyDictionary[Connection, Session] = weakref.WeakKeyDictionary()
_levels: weakref.WeakKeyDictionary[Connection, str] = weakref.WeakKeyDictionary()
_installed = False


class BindState:
    """Where one read runs, resolved before it runs (built on every cached read: a plain slotted class).

    Attributes:
        options: bind-level execution options (engine or connection) that may change the SQL or its
            result; ``None`` when there are none (the common case: nothing to add to the key).
        token: the canonical encoding of ``options`` (``""`` when there are none), for keys built
            without a statement.
        bypass: why the read must bypass the cache (an option with no canonical form, or a ``do_orm_execute``
            listener that may change the statement: :mod:`~litestar_alchemy_kit.orm.executehooks`), else ``None``.
        connection: the connection the read will run on when already known (the session's
            transaction, or a connection the session is bound to); ``None``: a new one from the engine.
        engine: the engine the read runs on.
        database: the database the read reaches, a part of its key
            (:func:`~litestar_alchemy_kit.orm.readcontext.database_token`; ``""`` when it bypasses).
    """

    __slots__ = ("bypass", "connection", "database", "engine", "options", "token")

    def __init__(  # noqa: PLR0917 - built on every cached read: positional, no keyword overhead
        self,
        options: Mapping[str, Any] | None,
        token: str,
        bypass: str | None,
        connection: Connection | None,
        engine: Engine,
        database: str = "",
    ) -> None:
        self.options = options
        self.token = token
        self.bypass = bypass
        self.connection = connection
        self.engine = engine
        self.database = database

    def statement_options(self, statement: Executable) -> Mapping[str, Any] | None:
        """Bind-level options merged under ``statement``'s own, as SQLAlchemy merges them (statement wins)."""
        if self.options is None:
            return None
        return {**self.options, **statement.get_execution_options()}

    def fresh_snapshot(self) -> bool:
        """Whether the read opens the database transaction it runs in (its snapshot starts after now)."""
        connection = self.connection
        return connection is None or not connection.in_transaction()

    def configured_level(self) -> str:
        """The isolation level the read's connection is configured with (no I/O)."""
        source: Connection | Engine = self.connection if self.connection is not None else self.engine
        level = source.get_execution_options().get("isolation_level")
        if level is None:
            dialect = self.engine.dialect
            # create_engine(isolation_level=...) is applied on connect and kept only on the dialect
            level = dialect._on_connect_isolation_level  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        if level is None:
            # the server's default, learnt on the engine's first connection ("": not connected yet)
            level = getattr(self.engine.dialect, "default_isolation_level", None)
        return _normal(level)

    def populate_verdict(self) -> bool | None:
        """Whether the result may populate the cache; ``None``: ask the database for the transaction's level.

        A read that opens its transaction sees every commit made before it starts, unless its level
        reads uncommitted rows. A read inside an already open transaction populates only at a level
        that takes a snapshot per statement, and the level the transaction really runs at is asked
        of the database (``SET TRANSACTION`` in SQL is invisible to the configuration).
        """
        dialect_name = self.engine.dialect.name
        configured = self.configured_level()
        if configured == "AUTOCOMMIT":
            return True
        if self.fresh_snapshot():
            return level_allows_populate(configured, dialect_name, fresh=True)
        assert self.connection is not None  # noqa: S101 - fresh_snapshot() is True without one
        if dialect_name not in _LEVEL_QUERY_DIALECTS:
            return False  # a transaction whose level cannot be asked: its snapshot may be old
        known = _levels.get(self.connection)
        if known is None:
            return None
        return level_allows_populate(known, dialect_name, fresh=False)


def _normal(level: object) -> str:
    return str(level).upper().replace("_", " ") if level is not None else ""


def level_allows_populate(level: str | None, dialect_name: str, *, fresh: bool) -> bool:
    """Whether a result read at isolation ``level`` may be installed as current.

    Args:
        level: the isolation level (any spelling SQLAlchemy uses), ``None`` when unknown.
        dialect_name: the dialect's name (PostgreSQL's READ UNCOMMITTED is READ COMMITTED).
        fresh: the read opens its transaction (its snapshot starts after the versions were read).

    Returns:
        ``True`` when the result is at least as new as the versions read before it, and committed.
    """
    normal = _normal(level)
    if normal == "READ UNCOMMITTED":
        return dialect_name in _DIRTY_READS_SAFE
    if fresh:
        return True  # a transaction that starts now sees every commit made before it
    return normal in _PER_STATEMENT


def remember_isolation(connection: Connection | AsyncConnection, level: str | None) -> None:
    """Record the level the connection's current transaction really runs at (asked of the database)."""
    sync = connection.sync_connection if isinstance(connection, AsyncConnection) else connection
    if level is not None and sync is not None and sync.in_transaction():
        _levels[sync] = _normal(level)


def distrust_isolation(connection: Connection) -> None:
    """Raw SQL changed the isolation level of the connection's transaction: it may not populate until it ends.

    MariaDB's ``SET TRANSACTION`` applies to the next transaction and no variable shows it, so the
    level cannot be asked; the transaction is treated as one whose snapshot may be old.
    """
    _levels[connection] = _UNKNOWN


def note_isolation(connection: Connection, sql: str) -> None:
    """``SET [SESSION] TRANSACTION ISOLATION LEVEL ...`` in raw ``sql``: the transaction's level is no longer known."""
    if _SET_ISOLATION.match(sql):
        distrust_isolation(connection)


def forget_isolation(connection: Connection) -> None:
    """The connection's transaction ended: its next one may run at another level."""
    _levels.pop(connection, None)


def sync_session_of(session: Any) -> Session:
    """The plain ``Session`` behind ``session`` (async, scoped or plain)."""
    if type(session) is AsyncSession:
        return session.sync_session
    current = session if isinstance(session, (Session, AsyncSession)) else session()
    return current.sync_session if isinstance(current, AsyncSession) else current


def session_connection(session: Session, bind: object) -> Connection | None:
    """The connection ``session``'s transaction holds for ``bind`` (an engine or connection), if any."""
    if isinstance(bind, Connection):
        return bind
    held: dict[object, Connection] | None = session.info.get(_CONNECTIONS_KEY)
    return held.get(bind) if held else None


def owning_session(connection: Connection) -> Session | None:
    """The session whose current transaction runs on ``connection``, if any."""
    return _owners.get(connection)


def joined(session: Session, connection: Connection) -> bool:
    """Whether ``session``'s transaction on ``connection`` only joined it: its commit commits nothing there.

    Decided when the session's transaction begins on the connection, from SQLAlchemy's own record of it
    (whatever the session's configuration: ``bind=``, ``binds=``, ``join_transaction_mode``): the session
    commits the connection's transaction only when it began or took control of its root transaction.
    A savepoint (``"create_savepoint"``, or an outer savepoint under ``"control_fully"``) or a transaction
    it may only roll back (``"rollback_only"``, the default for a connection already in a transaction)
    is committed by whoever began it.
    """
    joined_connections: set[Connection] | None = session.info.get(_JOINED_KEY)
    return joined_connections is not None and connection in joined_connections


def session_delivers(session: Session, connection: Connection) -> bool:
    """Whether ``session``'s commit commits ``connection``'s transaction and invalidates caches bound to it.

    When not (a session bound to no cache, or one joined to a transaction it does not own), the writes on
    the connection are for the connection's real commit to invalidate (:mod:`~litestar_alchemy_kit.orm.rawdml`).
    """
    return bool(session.info.get(CACHES_KEY)) and not joined(session, connection)


def joined_only(session: Session) -> list[Connection] | None:
    """The connections of ``session``'s transaction when it only :func:`joined` each one's (else ``None``).

    Such a session's commit commits nothing in the database: its writes are invalidated by the real commit
    of each connection's transaction (:func:`~litestar_alchemy_kit.orm.rawdml.defer_to_commit`), not before.
    """
    held: dict[object, Connection] | None = session.info.get(_CONNECTIONS_KEY)
    joined_connections: set[Connection] | None = session.info.get(_JOINED_KEY)
    if not held or not joined_connections:
        return None
    connections = list(dict.fromkeys(held.values()))
    return connections if all(connection in joined_connections for connection in connections) else None


def bind_state(
    session: Session | AsyncSession | scoped_session[Session] | async_scoped_session[AsyncSession],
    mapper: type[Any],
    clause: ClauseElement | None = None,
) -> BindState:
    """Resolve where a read of ``mapper`` (running ``clause``) executes, and the options that apply to it.

    Args:
        session: the session of the read (any flavour).
        mapper: the model class read.
        clause: the statement, when built (routing sessions choose the bind from it).

    Returns:
        The :class:`BindState` of the read.
    """
    sync_session = sync_session_of(session)
    bind = sync_session.get_bind(mapper=mapper, clause=clause)
    connection = session_connection(sync_session, bind)
    engine = bind.engine if isinstance(bind, Connection) else bind
    database = database_token(engine)
    if not database:
        reason = UNKNOWN_DATABASE if database is None else "the engine's connections are made with different arguments"
        return BindState(None, "", reason, connection, engine)
    hooked = untrusted_execute_listener(sync_session) or state_bypass(connection, engine)
    if hooked is not None:
        return BindState(None, "", hooked, connection, engine)
    source: Connection | Engine = connection if connection is not None else engine
    raw = source.get_execution_options()
    if not raw or all(name in KEY_NEUTRAL_OPTIONS for name in raw):
        return BindState(None, "", None, connection, engine, database)
    options = canonical_options({name: value for name, value in raw.items() if name not in KEY_NEUTRAL_OPTIONS})
    out: list[str] = []
    try:
        encode_value(options, out)
    except Unencodable as exc:
        return BindState(options, "", f"execution option with no canonical form: {exc}", connection, engine)
    return BindState(options, "X" + "".join(out), None, connection, engine, database)


async def read_bind_async(
    session: AsyncSession | async_scoped_session[AsyncSession], mapper: type[Any], clause: ClauseElement | None = None
) -> BindState:
    """:func:`bind_state` for a cached read, after learning the database of an engine that has not connected yet.

    The read's key names its database (:func:`~litestar_alchemy_kit.orm.readcontext.database_token`): an engine's
    first read in a process hands out one connection first rather than going to the database uncached.
    """
    bind = bind_state(session, mapper, clause)
    if bind.bypass is UNKNOWN_DATABASE:
        await learn_database_async(bind.engine)
        bind = bind_state(session, mapper, clause)
    return bind


def read_bind_sync(
    session: Session | scoped_session[Session], mapper: type[Any], clause: ClauseElement | None = None
) -> BindState:
    """:func:`read_bind_async` for a sync session."""
    bind = bind_state(session, mapper, clause)
    if bind.bypass is UNKNOWN_DATABASE:
        learn_database_sync(bind.engine)
        bind = bind_state(session, mapper, clause)
    return bind


def _after_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    if transaction.parent is None:  # a session savepoint's after_begin follows its root's, on the same connection
        # (connection, its transaction the session holds, whether the session's commit commits it, autoclose)
        record = transaction._connections.get(connection)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        if record is None or not record[2] or isinstance(record[1], NestedTransaction):
            session.info.setdefault(_JOINED_KEY, set()).add(connection)
    held: dict[object, Connection] | None = session.info.get(_CONNECTIONS_KEY)
    if held is None:
        held = session.info[_CONNECTIONS_KEY] = {}
    held[connection] = connection
    held[connection.engine] = connection
    _owners[connection] = session


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        held: dict[object, Connection] = session.info.pop(_CONNECTIONS_KEY, {})
        for connection in held.values():
            if _owners.get(connection) is session:
                del _owners[connection]
        session.info.pop(_JOINED_KEY, None)


def _connection_ended(connection: Connection) -> None:
    forget_isolation(connection)
    forget_local(connection)


def _twophase_ended(connection: Connection, xid: object, is_prepared: bool) -> None:
    del xid, is_prepared
    forget_isolation(connection)


def install_session_listeners() -> None:
    """Track the connections of session transactions and the end of connection transactions (idempotent)."""
    global _installed  # noqa: PLW0603 - one-time registration of class-level listeners
    if _installed:
        return
    event.listen(Session, "after_begin", _after_begin)
    event.listen(Session, "after_transaction_end", _after_transaction_end)
    event.listen(Engine, "commit", _connection_ended)
    event.listen(Engine, "rollback", _connection_ended)
    event.listen(Engine, "commit_twophase", _twophase_ended)
    event.listen(Engine, "rollback_twophase", _twophase_ended)
    install_read_context_listeners()
    _installed = True
