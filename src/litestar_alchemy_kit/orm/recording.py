"""Record the tables every query of a context reads, for caches of what those queries produced.

:func:`record_queries` opens a :func:`~litestar_alchemy_kit.cache.record_tags` block and makes
sure a process-wide ``do_orm_execute`` listener is installed. While the block runs, each statement
executed through any ``Session`` / ``AsyncSession`` in the same context adds the tags of the tables
it reads (the same :func:`~litestar_alchemy_kit.orm.analyze` the cached repositories key on, so
eagerly loaded relationships, loader options and subqueries count); reads served by a cache add
theirs through the cache itself, with the versions they read. A cached repository's populating
query (:data:`~litestar_alchemy_kit.orm.populate.VERSIONED_OPTION`) adds nothing: the entry's
tags, with versions read before the query, were recorded by the cache read before it. The
recording is refused (the result must not be cached) when a statement's tables cannot be told
(``text()``, non-deterministic or locking reads), when it writes, when it reads a table with
uncommitted changes in its session, or when its session's transaction began before the recording
under an isolation level whose snapshot is fixed at the transaction start (REPEATABLE READ,
SERIALIZABLE): versions read at the start of the recording could then be newer than what the
query sees (invariant 3, no stale sets).

Statements executed on a connection obtained from the session bypass ``do_orm_execute`` and are
not seen: run reads whose results are cached through the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from litestar_alchemy_kit.cache.recording import current_recorder, record_tags
from litestar_alchemy_kit.orm.binding import (
    BindState,
    install_session_listeners,
    level_allows_populate,
    session_connection,
)
from litestar_alchemy_kit.orm.executehooks import trust_execute_listener, untrusted_execute_listener
from litestar_alchemy_kit.orm.invalidation import pending_tags
from litestar_alchemy_kit.orm.populate import VERSIONED_OPTION
from litestar_alchemy_kit.orm.statement import Bypass, analyze

if TYPE_CHECKING:
    from collections.abc import Generator

    from sqlalchemy.orm import ORMExecuteState, SessionTransaction

    from litestar_alchemy_kit.cache.recording import TagRecorder

__all__ = ("install_recording", "record_queries")

_installed = False
_BEGUN_KEY = "litestar_alchemy_kit.recording_began"


def _record(state: ORMExecuteState) -> None:
    current = current_recorder()
    if current is None:
        return
    recorder: TagRecorder = current
    hooked = untrusted_execute_listener(state.session)
    if hooked is not None:
        # it may change the statement before or after this listener sees it
        recorder.refuse(hooked)
        return
    if state.is_insert or state.is_update or state.is_delete:
        recorder.refuse("the handler writes")
        return
    if not state.is_select:
        recorder.refuse(f"{type(state.statement).__name__} statement: tables unknown")
        return
    session = state.session
    bind = session.get_bind(**state.bind_arguments)
    engine = bind.engine if isinstance(bind, Connection) else bind
    if not _snapshot_fresh(session, bind, engine, recorder):
        recorder.refuse("transaction snapshot may be older than the recording")
    elif not state.execution_options.get(VERSIONED_OPTION):
        # (A cached read's populate is skipped: its tags and their prior versions are recorded already.)
        _add_tables(state, engine, recorder, session_connection(session, bind))


def _add_tables(state: ORMExecuteState, engine: Engine, recorder: TagRecorder, connection: Connection | None) -> None:
    # Only the tables matter here, not a fingerprint: the execution options (the ORM's own among them) stay out.
    # The parameters passed beside the statement do count: they decide which partition a read is restricted to.
    params = state.parameters
    if params is not None and not isinstance(params, Mapping):
        recorder.refuse("select executed with many parameter sets")
        return
    info = analyze(state.statement, dialect=engine.dialect, params=params)
    if isinstance(info, Bypass):
        recorder.refuse(f"query not tracked: {info.reason}")
        return
    uncommitted = pending_tags(state.session, connection)
    if uncommitted and not uncommitted.isdisjoint(info.tags):
        recorder.refuse("read of uncommitted writes")
        return
    recorder.add(info.tags)


def _snapshot_fresh(session: Session, bind: Engine | Connection, engine: Engine, recorder: TagRecorder) -> bool:
    """Whether a statement of ``session`` sees every commit made before the recording began."""
    connection = None
    if session.info.get(_BEGUN_KEY) is not recorder:
        connection = session_connection(session, bind)
        if connection is None or not connection.in_transaction():
            # This statement opens the transaction: its snapshot starts after the recording began.
            session.info[_BEGUN_KEY] = recorder
            connection = None
    verdict = BindState(None, "", None, connection, engine).populate_verdict()
    if verdict is None and connection is not None:
        verdict = _snapshot_per_statement(connection)  # a transaction open before: ask its real level
    return verdict is True


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BEGUN_KEY, None)


def _snapshot_per_statement(connection: Connection) -> bool:
    """Whether a statement in the connection's open transaction sees commits made before it starts.

    The level the transaction really runs at is asked of the database (``SET TRANSACTION`` in SQL
    is invisible to the configuration); a level that cannot be asked counts as an old snapshot.
    """
    try:
        level = connection.get_isolation_level()
    except Exception:  # noqa: BLE001 - a dialect that cannot tell: assume the snapshot may be old
        return False
    return level_allows_populate(level, connection.dialect.name, fresh=False)


def install_recording() -> None:
    """Install the process-wide ``Session`` listeners :func:`record_queries` relies on (idempotent)."""
    global _installed  # noqa: PLW0603 - one-time registration of class-level listeners
    if not _installed:
        install_session_listeners()
        event.listen(Session, "after_transaction_end", _after_transaction_end)
        event.listen(Session, "do_orm_execute", _record)
        trust_execute_listener(_record)  # it reads statements, never changes them
        _installed = True


@contextmanager
def record_queries(source: object | None = None) -> Generator[TagRecorder, None, None]:
    """Record the tags of every query run in this context until the block ends (see the module doc).

    Args:
        source: the cache whose versions, read by cached reads in the block, may label what it produces.
    """
    install_recording()
    with record_tags(source) as recorder:
        yield recorder
