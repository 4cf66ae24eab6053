"""Writes other than the flush's own, observed where the engine executes them.

ORM bulk DML through ``Session.execute``, ``text()`` DML, statements on ``session.connection()`` or on
the engine, the legacy ``bulk_*`` methods and data-modifying CTEs never reach ``after_flush``, also when a
mapper event runs them during a flush (only the unit of work's own statements do). Every one of them
reaches the DBAPI cursor, so a class-level ``before_cursor_execute`` listener on ``Engine`` (installed
with the session listeners by :func:`~litestar_alchemy_kit.orm.install_listeners`, never at import)
finds the tables each statement writes:

- SQLAlchemy constructs from the compiled construct: the target of INSERT / UPDATE / DELETE and every
  table whose columns it SETs (a multi-table UPDATE), wherever the DML sits (CTEs, ``from_statement()``,
  lambdas), raw text inside a construct (``TextualSelect``) as raw SQL, ``DROP TABLE``, and any DDL that
  may change rows (``DDL("...")``) as the SQL it compiles to; memoized per compiled object, which
  SQLAlchemy's compiled cache reuses. A plain SELECT without CTEs is not analysed (SQL allows DML
  nowhere else in it): a few type checks;
- raw SQL (``text()``, ``exec_driver_sql``) with `sqlglot <https://sqlglot.com>`_, the ``sql`` extra,
  after a keyword pre-filter; memoized per SQL string. Without the extra, or for SQL it cannot
  attribute (``CALL``, ``DO`` blocks, statements it does not parse), the write invalidates the whole
  namespace;
- any statement calling a database function known to write, a SELECT too (:mod:`.functionwrites`).

Where the invalidation goes:

- a connection of a session's transaction: the session's pending writes (its own reads of those
  tables bypass the cache, its commit bumps them, its rollback forgets them). When the session does not
  deliver them (:func:`~litestar_alchemy_kit.orm.binding.session_delivers`), the connection's real commit
  bumps them as below, flush statements included: a session bound to no cache, or one joined to a
  transaction it does not own (:func:`~litestar_alchemy_kit.orm.binding.joined`, decided from SQLAlchemy's
  record of the session's transaction, whether bound by ``bind=``, ``binds=`` or any
  ``join_transaction_mode``). A joined session's commit hands its own tags to that commit too
  (:func:`defer_to_commit`);
- any other connection: the caches bound to sessions on the same database (see
  :func:`register_engine`) and on every other database it may write (:mod:`.routing`), invalidated in two phases when the connection's transaction commits, as a
  session's commit is (:mod:`~litestar_alchemy_kit.orm.enginecommit`): marked before the DBAPI commit,
  settled as soon as the connection is used again or returned to the pool (a two-phase transaction: marked
  before its prepare, or before its commit when committed unprepared);
- under ``AUTOCOMMIT`` the statement is committed as it runs: marked before it, settled after it.
"""

from __future__ import annotations

import logging
import re
import weakref
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import named_types
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool
from sqlalchemy.sql import TableClause, ddl, visitors
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.lambdas import StatementLambdaElement
from sqlalchemy.sql.selectable import CompoundSelect, Select

from litestar_alchemy_kit.cache import AsyncCache, SyncCache
from litestar_alchemy_kit.orm import drivertx, durable, enginecommit, sqlitetx
from litestar_alchemy_kit.orm.binding import note_isolation, owning_session, session_delivers
from litestar_alchemy_kit.orm.cascades import graph_state, name_tags, written_tags
from litestar_alchemy_kit.orm.databases import engine_caches, forget_routes, register_engine, unregister_engine
from litestar_alchemy_kit.orm.flushissued import unit_of_work
from litestar_alchemy_kit.orm.functionwrites import call_writes
from litestar_alchemy_kit.orm.outbox import OUTBOX_OPTION
from litestar_alchemy_kit.orm.readcontext import note_state
from litestar_alchemy_kit.orm.routing import note_switch, note_writes, set_tables

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy import MetaData
    from sqlalchemy.engine import ExceptionContext, ExecutionContext
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.orm import Session
    from sqlalchemy.pool import ConnectionPoolEntry
    from sqlalchemy.sql.compiler import Compiled

__all__ = (
    "EVERYTHING",
    "Writes",
    "defer_to_commit",
    "install_engine_listeners",
    "raw_sql_writes",
    "register_engine",
    "uncommitted_on",
    "unregister_engine",
)

logger = logging.getLogger(__name__)


class _Everything(frozenset[str]):
    """A write whose tables are unknown: it invalidates the whole namespace."""

    def isdisjoint(self, other: Iterable[object], /) -> bool:
        del other
        return False


EVERYTHING: Final = _Everything(("*",))
"""The writes of a statement that cannot be attributed to tables."""

Writes: TypeAlias = "frozenset[str] | None"
"""The tags a statement writes (:data:`EVERYTHING` when unknown), ``None`` when it writes nothing."""

SessionWriteHook: TypeAlias = "Callable[[Session, frozenset[str]], None]"
_Parameters: TypeAlias = "Any"  # the DBAPI parameters SQLAlchemy passes through the listener untouched

# Statements that may change rows a cached read returns; sqlglot then decides (what it cannot attribute
# invalidates the namespace): REFRESH MATERIALIZED VIEW (PostgreSQL), IMPORT DATABASE / TABLE (DuckDB,
# MySQL), REPAIR TABLE (MySQL's may drop rows).
_WRITE_WORDS: Final = re.compile(
    r"\b(?:insert|update|delete|merge|replace|truncate|upsert|copy|load|call|exec|execute|do|"
    r"drop|alter|create|rename|refresh|import|repair)\b",
    re.IGNORECASE,
)
# DDL that changes no row a cached read returns; any other DDL construct (DDL("..."), a dialect's or
# Alembic's own, DROP SCHEMA) is analysed as the SQL it compiles to.
_ROWLESS_DDL: Final = (
    ddl.CreateTable,
    ddl.CreateIndex,
    ddl.DropIndex,
    ddl.CreateSequence,
    ddl.DropSequence,
    ddl.CreateSchema,
    ddl.AddConstraint,
    ddl.DropConstraint,
    ddl.SetTableComment,
    ddl.DropTableComment,
    ddl.SetColumnComment,
    ddl.DropColumnComment,
    ddl.SetConstraintComment,
    ddl.DropConstraintComment,
    named_types.CreateEnumType,  # create_all on PostgreSQL
    named_types.CreateDomainType,
    named_types.DropEnumType,
    named_types.DropDomainType,
)
_SELECTS: Final = (Select, CompoundSelect)
_MEMO_LIMIT: Final = 4096

# Both memos hold tags that include what a table's writes change (declared, reflected and cascading
# dependencies), so each entry is valid for one state of the dependency graph only: graph_state()'s, which
# also counts tables added later to a MetaData already known (cascades.generation() does not).
_GraphState: TypeAlias = "tuple[int, int, int]"
_compiled_writes: dict[int, tuple[Compiled, _GraphState, Writes]] = {}
_raw_writes: dict[tuple[str, _GraphState], dict[str, Writes]] = {}
_pending: weakref.WeakKeyDictionary[Connection, set[str]] = weakref.WeakKeyDictionary()
_brackets: weakref.WeakKeyDictionary[Connection, enginecommit.Phase] = weakref.WeakKeyDictionary()
_session_hook: list[SessionWriteHook] = []
_installed = False
_warned_no_parser = False


# --- what a statement writes -----------------------------------------------------------------


def _construct_writes(statement: Any, dialect_name: str, known: list[MetaData]) -> tuple[Writes, bool]:
    """Tables written by the DML anywhere inside ``statement`` (a compiled SQLAlchemy construct).

    DML constructs anywhere (CTEs, ``from_statement()``, lambdas) write their target and every table a
    column they SET belongs to (MySQL's multi-table UPDATE); raw text inside (``text()``, ``TextualSelect``)
    goes to the raw-SQL parser. Also whether the result may be memoized for the graph state of ``known``:
    not when a written table belongs to a ``MetaData`` that state does not count (a table added to it
    later would go unseen).
    """
    tags: set[str] = set()
    memoizable = True
    for element in visitors.iterate(statement):
        if isinstance(element, TextClause):
            found = raw_sql_writes(element.text, dialect_name)
            if found is EVERYTHING:
                return EVERYTHING, True
            tags |= found or frozenset()
            continue
        if not isinstance(element, UpdateBase):
            continue
        for target in (element.table, *set_tables(element)):
            if isinstance(target, Table):
                tags |= written_tags(target)
                memoizable = memoizable and _known(target, known)
            elif isinstance(target, TableClause):
                tags |= name_tags(target.name, target.schema)
            else:
                return EVERYTHING, True
    return _attributed(tags), memoizable


def _attributed(tags: set[str] | frozenset[str]) -> Writes:
    """``tags`` as :data:`Writes`: :data:`EVERYTHING` when a dependency reached ``"*"`` (tables no one can tell)."""
    if not tags:
        return None
    return EVERYTHING if "*" in tags else frozenset(tags)


def _known(table: Table, known: list[MetaData]) -> bool:
    return any(table.metadata is metadata for metadata in known)


def _ddl_writes(compiled: DDLCompiler, known: list[MetaData]) -> tuple[Writes, bool]:
    # Dropping a table removes its rows; creating one, an index, a sequence, a constraint, a schema, a comment
    # changes no cached entry. Other DDL may (DDL("TRUNCATE ..."), DROP SCHEMA ... CASCADE): parsed as raw SQL.
    statement = compiled.statement
    if isinstance(statement, ddl.DropTable):
        return _attributed(written_tags(statement.element)), _known(statement.element, known)
    if isinstance(statement, _ROWLESS_DDL):
        return None, True
    return raw_sql_writes(compiled.string, compiled.dialect.name), True


def _compiled(compiled: Compiled) -> Writes:
    """Writes of a compiled construct other than a plain SELECT or ``text()`` (memoized per compiled object)."""
    memo = _compiled_writes.get(id(compiled))
    current, known = graph_state()
    if memo is not None and memo[0] is compiled and memo[1] == current:
        return memo[2]
    if isinstance(compiled, DDLCompiler):
        writes, memoizable = _ddl_writes(compiled, known)
    else:
        writes, memoizable = _construct_writes(compiled.statement, compiled.dialect.name, known)
        writes = _with_calls(writes, compiled.string)  # UPDATE t SET x = bump(...)
    if not memoizable:
        return writes
    if len(_compiled_writes) >= _MEMO_LIMIT:
        _compiled_writes.clear()
    # the entry holds the compiled object, so its id cannot be reused while the entry exists
    _compiled_writes[id(compiled)] = (compiled, current, writes)
    return writes


def raw_sql_writes(sql: str, dialect_name: str) -> Writes:
    """The tables a raw SQL string writes (memoized): tags, :data:`EVERYTHING`, or ``None``.

    Args:
        sql: the statement as sent to the driver.
        dialect_name: SQLAlchemy's dialect name (picks sqlglot's dialect).

    Returns:
        The written tags, :data:`EVERYTHING` when the writes cannot be attributed, ``None`` for a
        statement that writes nothing.
    """
    # a raw statement names tables, whose tags come from the MetaData the graph state counts
    key = (dialect_name, graph_state()[0])
    memo = _raw_writes.get(key)
    if memo is None:
        for stale in [known for known in _raw_writes if known[1] != key[1]]:
            del _raw_writes[stale]  # another generation's tags
        memo = _raw_writes[key] = {}
    elif sql in memo:
        return memo[sql]
    writes = _with_calls(_parse_writes(sql, dialect_name) if _WRITE_WORDS.search(sql) else None, sql)
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[sql] = writes
    return writes


def _with_calls(writes: Writes, sql: str) -> Writes:
    """``writes`` and what the functions ``sql`` calls write (``SELECT bump_stock(1)``: :mod:`.functionwrites`)."""
    called = call_writes(sql)
    if called is None or writes is EVERYTHING:
        return writes
    return EVERYTHING if "*" in called else called | (writes or frozenset())


def _parse_writes(sql: str, dialect_name: str) -> Writes:
    global _warned_no_parser  # noqa: PLW0603 - warn once per process
    try:
        from litestar_alchemy_kit.orm._sqlparse import statement_writes  # noqa: PLC0415 - optional extra
    except ImportError:
        if not _warned_no_parser:
            _warned_no_parser = True
            logger.warning(
                "raw sql writes invalidate the whole cache namespace: install litestar-alchemy-kit[sql] "
                "(sqlglot) to attribute them to tables"
            )
        return EVERYTHING
    found = statement_writes(sql, dialect_name)
    if found is None or isinstance(found, bool):
        return EVERYTHING if found else None
    tags: set[str] = set()
    for schema, name in found:  # a tag names no schema (dependencies.table_tag); format 1's tags did
        tags |= name_tags(name, schema)
    return _attributed(tags)


# --- delivery --------------------------------------------------------------------------------


def _autocommit(connection: Connection) -> bool:
    level = connection.get_execution_options().get("isolation_level")
    if level is None:
        level = connection.engine.dialect._on_connect_isolation_level  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    return level == "AUTOCOMMIT" or drivertx.autocommit(connection)


def _record(connection: Connection, writes: frozenset[str], *, bracket: bool, loose: bool, autocommit: bool) -> None:
    # loose: maybe committed as it runs, maybe not (after a COMMIT statement; SQLite with no transaction open)
    owner = owning_session(connection)
    if owner is not None:
        for hook in _session_hook:
            hook(owner, writes)
    if bracket and (loose or autocommit):
        # committed as it runs: marked now, settled by after_cursor_execute (a refused marker raises here,
        # before the statement runs)
        _brackets[connection] = enginecommit.mark_writes(connection, engine_caches(connection), writes)
        if not loose:
            return
    if owner is None or not session_delivers(owner, connection):
        # no session whose commit invalidates commits this transaction (none, one bound to no cache, or one
        # that only joined it): its real commit does
        _hold(connection, writes)


def _hold(connection: Connection, writes: Iterable[str]) -> None:
    """Keep ``writes`` for the real commit of ``connection``'s transaction (``_commit`` marks and bumps them)."""
    current = _pending.get(connection)
    if current is None:
        _pending[connection] = set(writes)
    else:
        current.update(writes)


def uncommitted_on(connection: Connection) -> frozenset[str] | None:
    """Tags written in ``connection``'s open transaction that its real commit will invalidate (``None``: none).

    Writes of a session that only joined the transaction (its commit committed nothing), of a session bound
    to no cache, or straight on the connection: a cached read on the connection must not serve entries of
    these tables (it sees the writes) nor publish what it reads (they are not committed).
    """
    if not _pending:
        return None
    writes = _pending.get(connection)
    if not writes:
        return None
    return EVERYTHING if "*" in writes else frozenset(writes)


def defer_to_commit(
    connections: Iterable[Connection],
    caches: Iterable[AsyncCache | SyncCache],
    tags: Iterable[str],
    *,
    everything: bool,
) -> bool:
    """Leave ``tags``, written by a session joined to each connection's transaction, to that transaction's commit.

    ``caches`` (the session's) are registered for each connection's database, so that commit invalidates them.

    Returns:
        ``False`` when a connection is no longer in a transaction (nothing left to defer to there).
    """
    deferred = True
    for connection in connections:
        if not connection.in_transaction():
            deferred = False
            continue
        for cache in caches:
            register_engine(connection.engine, cache)
        _hold(connection, EVERYTHING if everything else tags)
    return deferred


def _before_cursor_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
    connection: Connection,
    cursor: object,
    statement: str,
    parameters: _Parameters,
    context: ExecutionContext | None,
    executemany: bool,
) -> tuple[str, _Parameters]:
    # Before the statement runs, so that under AUTOCOMMIT its markers are in place before it commits.
    del cursor, executemany
    if drivertx.committed_behind(connection) and connection.in_transaction():
        _deliver_committed(connection)  # before this statement begins the driver's next transaction
    _attribute(connection, statement, context)
    return statement, parameters


def _deliver_committed(connection: Connection) -> None:
    """The driver has no transaction open inside SQLAlchemy's: what it held was committed (drivertx); delivered."""
    tags = set(_pending.pop(connection, None) or ())
    tags.update(durable.session_writes(connection, statement="commit") or ())
    if tags:
        # an invalidated connection runs nothing (no outbox row): committed already, settled at once
        where = None if connection.invalidated else connection
        enginecommit.settle(enginecommit.mark_writes(where, engine_caches(connection), tags))


def _attribute(connection: Connection, statement: str, context: ExecutionContext | None) -> None:
    compiled = context.compiled if context is not None else None
    prepared = None  # what a COMMIT PREPARED in raw SQL commits as it runs
    if compiled is None or isinstance(compiled.statement, TextClause):
        note_isolation(connection, statement)
        note_switch(connection, statement)
        note_state(connection, statement)
        durable.note_autocommit(connection, statement)
        durable.note_rollback(connection, statement)
        prepared = durable.two_phase(connection, statement, lambda: _pending.pop(connection, None))
        writes = raw_sql_writes(statement, connection.dialect.name)
    else:
        construct = compiled.statement
        # a query construct changes settings by set_config only; DDL's SQL is read as raw SQL (a definition's is not run)
        note_state(connection, statement, compiled_select=isinstance(compiled, SQLCompiler))
        if (
            isinstance(compiled, SQLCompiler)
            and not compiled.ctes
            and (isinstance(construct, _SELECTS) or _lambda_read(construct))
        ):
            # the read path: SQL allows DML in no part of a SELECT but its CTEs, and calls of known writing functions
            # (no memo, no parsing); anything else (DML, FromStatement, TextualSelect, DDL) is analysed
            if (writes := _with_calls(None, statement)) is None:
                return
        else:
            writes = _compiled(compiled)
    if writes:  # before any marker: the databases its invalidation goes to (invariant 1, orm.routing)
        note_writes(connection, statement, context, writes)
    # under AUTOCOMMIT every statement commits as it runs: _record brackets its writes
    autocommit = _autocommit(connection)
    commits = None if autocommit else durable.commits(statement, connection.dialect.name)
    if commits is None and sqlitetx.releases(connection, statement):
        commits = "maybe"  # SQLite: the savepoint that began the transaction, released, commits it
    if writes and not _outbox_record(context):
        bracket = commits is None and prepared is None
        _record_statement(connection, statement, context, writes, bracket=bracket, autocommit=autocommit)
    if prepared:  # committed as it runs, in a transaction or not: bracketed with the statement's own writes
        writes = prepared | writes if writes else prepared
    if commits is not None or prepared:  # what the transaction holds is durable now (durable.statement_phase)
        held = _pending.pop(connection, None) if commits == "commit" else _pending.get(connection)
        phase = durable.statement_phase(connection, commits or "maybe", writes, held if commits else None)
        if phase is not None:
            _brackets[connection] = phase


def _record_statement(
    connection: Connection,
    statement: str,
    context: ExecutionContext | None,
    writes: frozenset[str],
    *,
    bracket: bool,
    autocommit: bool,
) -> None:
    """Record what a statement writes, but for the flush's own rows: the session tags those (finer)."""
    # under AUTOCOMMIT a flush's statements commit as they run too: the bracket needs them, not the session's commit;
    # no transaction holds anything for a later commit (loose: bracketed and held)
    loose = not autocommit and (durable.loose(connection) or sqlitetx.unbegun(connection, statement))
    if not unit_of_work(connection, context, loose=loose or autocommit):
        _record(connection, writes, bracket=bracket, loose=loose, autocommit=autocommit)
    elif (called := _with_calls(None, statement)) is not None:
        # a writing function the flush's values call writes elsewhere: no session event sees it
        _record(connection, called, bracket=bracket, loose=loose, autocommit=autocommit)


def _lambda_read(construct: object) -> bool:
    """Whether ``construct`` is a ``lambda_stmt`` of a SELECT (it compiles as its lambda element)."""
    if not isinstance(construct, StatementLambdaElement):
        return False
    resolved: object = getattr(construct, "_resolved", None)  # memoized by SQLAlchemy
    return isinstance(resolved, _SELECTS)


def _outbox_record(context: ExecutionContext | None) -> bool:
    return context is not None and bool(context.execution_options.get(OUTBOX_OPTION))


def _after_cursor_execute(  # noqa: PLR0917 - SQLAlchemy's event signature
    connection: Connection,
    cursor: object,
    statement: str,
    parameters: object,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    del cursor, statement, parameters, executemany
    if _brackets:  # the read path: one truth test
        phase = _brackets.pop(connection, None)
        if phase is not None:
            # a streamed result still holds the DBAPI connection (an unbuffered MySQL cursor): no statement now
            streamed = context is not None and bool(context.execution_options.get("stream_results"))
            enginecommit.settle(phase, ran_on=None if streamed else connection)


def _handle_error(context: ExceptionContext) -> None:
    # A failed AUTOCOMMIT statement committed nothing, or part of its work (MySQL's non-transactional
    # engines): settling is an extra invalidation at most.
    connection = context.connection
    if _brackets and connection is not None:
        phase = _brackets.pop(connection, None)
        if phase is not None:
            enginecommit.settle(phase)


def _connection_commit(connection: Connection) -> None:
    # Connection.commit() on a session's connection commits the session's writes too (durable.session_writes)
    _hold(connection, durable.session_writes(connection, statement=None) or ())
    _commit(connection)


def _commit(connection: Connection, undo: Callable[[], object] | None = None) -> None:
    # Fires before the DBAPI commit (Connection._commit_impl): phase one. No event follows the DBAPI
    # commit, so phase two runs at the next one, the connection's next transaction or its checkin.
    durable.transaction_ended(connection)
    writes = _pending.pop(connection, None)
    if not writes:
        return
    phase = enginecommit.mark_writes(connection, engine_caches(connection), writes, undo=undo)
    enginecommit.settle_later(connection.info, phase)


def _prepare_twophase(connection: Connection, xid: object) -> None:
    # PostgreSQL: nothing is durable until COMMIT PREPARED, from any connection: the writes are kept for it (a mark
    # now would settle at the next checkin, too soon). XA: phase one now, a refusal raises before the prepare.
    if connection.dialect.name == "postgresql":
        durable.transaction_ended(connection)
        durable.keep_prepared(connection, xid, _pending.pop(connection, None))
        return
    _commit(connection, undo=_nothing)


def _commit_twophase(connection: Connection, xid: object, is_prepared: bool) -> None:
    # Prepared: phase one ran at the prepare, or on PostgreSQL runs now for what it kept (a COMMIT PREPARED statement
    # is bracketed where it runs instead). Unprepared: the dialect prepares and commits now.
    def undo() -> None:
        connection.dialect.do_rollback_twophase(connection, xid, is_prepared=is_prepared)

    if is_prepared and connection.dialect.name == "postgresql":
        if not durable.prepares_in_sql(connection):
            _hold(connection, durable.commit_prepared(connection, xid))
            _commit(connection, undo=_nothing)  # a refusal leaves the transaction prepared, for a later commit
        return
    _commit(connection, undo=undo)


def _rollback_twophase(connection: Connection, xid: object, is_prepared: bool) -> None:
    if is_prepared and connection.dialect.name == "postgresql":
        durable.forget_prepared(connection, xid)
    _rollback(connection)


def _begin_twophase(connection: Connection, xid: object) -> None:
    del xid
    _begin(connection)


def _nothing() -> None:
    return None


def _rollback(connection: Connection) -> None:
    # Before the DBAPI rollback. A driver with no transaction open committed what the transaction holds behind
    # SQLAlchemy (drivertx): delivered now, not forgotten.
    if drivertx.committed_behind(connection):
        _deliver_committed(connection)
    durable.transaction_ended(connection)
    _pending.pop(connection, None)


def _begin(connection: Connection) -> None:
    enginecommit.settle_due(connection.info)
    forget_routes(connection)


def _checkin(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
    del dbapi_connection
    enginecommit.settle_due(record.info)


def install_engine_listeners(on_session_write: SessionWriteHook, on_session_durable: durable.SessionTake) -> None:
    """Install the class-level ``Engine`` and ``Pool`` listeners (idempotent).

    Args:
        on_session_write: records writes made on a connection of a session's transaction in that
            session (its pending tags), so its reads bypass and its commit invalidates.
        on_session_durable: a session's tags, which a commit other than its own made durable (:mod:`durable`).
    """
    global _installed  # noqa: PLW0603 - one-time registration of class-level listeners
    if _installed:
        return
    _session_hook.append(on_session_write)
    durable.install(on_session_durable)
    event.listen(Engine, "before_cursor_execute", _before_cursor_execute, retval=True)
    event.listen(Engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(Engine, "handle_error", _handle_error)
    event.listen(Engine, "commit", _connection_commit)
    event.listen(Engine, "rollback", _rollback)
    event.listen(Engine, "begin", _begin)
    event.listen(Engine, "prepare_twophase", _prepare_twophase)
    event.listen(Engine, "commit_twophase", _commit_twophase)
    event.listen(Engine, "rollback_twophase", _rollback_twophase)
    event.listen(Engine, "begin_twophase", _begin_twophase)
    event.listen(Pool, "checkin", _checkin)
    _installed = True
