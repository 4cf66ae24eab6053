"""Invalidation driven by SQLAlchemy session events.

The listeners are class-level ``Session`` listeners, so they see every session of the process. They are
installed explicitly, by :func:`install_listeners`, which :func:`bind_cache` calls: binding (of a session
factory, by the plugin or by hand, or of a session, by a cached repository) happens before a bound session
commits. Importing the package installs nothing. Once installed, writes made before a repository or cache
is attached to a session still count (a session bound to no cache: :mod:`~litestar_alchemy_kit.orm.rawdml`):

- ``after_flush`` records the tables of new, dirty and deleted instances: every table of their mapper (joined
  inheritance), many-to-many secondary tables, and tables whose foreign keys cascade from them (``ON DELETE`` /
  ``ON UPDATE`` actions change rows the ORM never sees). Its rows are known, so what it bumps is fine
  (:func:`~litestar_alchemy_kit.orm.flushtags.flush_bumps`: ``any``, the rows' ``row`` and ``part`` tags;
  coarse tags where a value is unknown or a foreign-key action fires);
- ``before_commit`` of the outermost transaction flushes, then *marks* those tags in every cache
  bound to the session that has a commit policy (:meth:`~litestar_alchemy_kit.cache.AsyncCache.mark`).
  In an ``AsyncSession`` the markers of the tags known before the flush (the rows the session holds,
  earlier flushes) are sent before it and awaited after it, so their round trip overlaps the flush's;
  what the flush writes beyond them is marked under the same marker, and all of it is acknowledged
  before the database COMMIT (a failed flush lifts them): until the marker is settled or expires, no process
  hits or populates their entries. A marker the store does not take refuses the commit under the ``"strict"`` policy
  (:class:`~litestar_alchemy_kit.exceptions.CommitRefusedError`, nothing committed) and, under
  ``"available"``, is replaced by a row in the invalidation outbox, written in the same transaction
  (:mod:`~litestar_alchemy_kit.orm.outbox`);
- ``after_commit`` of the outermost transaction bumps those tags in every cache bound to the session, settling
  the markers, and waits for it (in an ``AsyncSession`` through SQLAlchemy's greenlet bridge): invalidation is
  complete when ``commit()`` returns;
- the end of the outermost transaction forgets the tags, so a rollback leaves the cache untouched, unless something
  else committed them (``Connection.commit()``, a ``COMMIT`` statement, the driver: :mod:`.durable`,
  :mod:`.drivertx`), or a commit raised (refused, or committed with its reply lost): then they are delivered;
- a session that only joined its connections' transactions (:func:`~litestar_alchemy_kit.orm.binding.joined_only`)
  commits nothing: its tags go to those transactions' real commits, and reads on them bypass those tags.

A session whose transaction began before the listeners were installed may hold flushed writes no listener saw:
:func:`bind_cache` marks it *untracked*. Until that transaction ends its cached reads go to the database, and its
commit clears the bound caches' namespaces (an extra invalidation). Installing the listeners at startup avoids it.
Every statement but the flush's own (ORM bulk DML, ``text()``, statements on ``session.connection()``...) is
observed where the engine runs it (:mod:`.rawdml`): its rows are unknown, its coarse tags bumped.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias, cast, overload

from sqlalchemy import Table, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_scoped_session, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction, scoped_session, sessionmaker
from sqlalchemy.sql import TableClause
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from litestar_alchemy_kit.cache import AsyncCache, SyncCache
from litestar_alchemy_kit.exceptions import CommitRefusedError
from litestar_alchemy_kit.orm.binding import CACHES_KEY, install_session_listeners, joined_only
from litestar_alchemy_kit.orm.cascades import graph_state, written_tags
from litestar_alchemy_kit.orm.dependencies import table_tag
from litestar_alchemy_kit.orm.flushtags import flush_bumps, predicted_bumps
from litestar_alchemy_kit.orm.outbox import record_undelivered
from litestar_alchemy_kit.orm.partitionread import begin_flush, end_flush, watch_all
from litestar_alchemy_kit.orm.rawdml import (
    EVERYTHING,
    defer_to_commit,
    install_engine_listeners,
    register_engine,
    uncommitted_on,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy import MetaData
    from sqlalchemy.orm import Mapper, UOWTransaction
    from sqlalchemy.orm.state import InstanceState

__all__ = (
    "LISTENERS",
    "AsyncTarget",
    "SyncTarget",
    "bind_cache",
    "bound_async_caches",
    "bound_caches",
    "bound_sync_caches",
    "install_listeners",
    "pending_tags",
)

_PENDING_KEY: Final = "litestar_alchemy_kit.uncommitted_tags"
"""Coarse tags of tables with uncommitted writes of unknown rows: bumped at commit."""
_WRITTEN_KEY: Final = "litestar_alchemy_kit.flushed_tables"
"""Coarse tags of tables the unit of work wrote: not bumped (their fine tags are), but uncommitted."""
_FINE_KEY: Final = "litestar_alchemy_kit.fine_tags"
"""The fine (and, for unknown values, coarse) tags the unit of work's flushes bump at commit."""
_MARKS_KEY: Final = "litestar_alchemy_kit.invalidation_marks"
"""The markers ``before_commit`` wrote, one per cache (by position in the bound caches), settled after commit."""
_COMMITTING_KEY: Final = "litestar_alchemy_kit.invalidation_committing"
_TRACKED_KEY: Final = "litestar_alchemy_kit.tracked_transaction"
_UNTRACKED_KEY: Final = "litestar_alchemy_kit.untracked_writes"
_EMPTY: Final[frozenset[str]] = frozenset()
_installed = False


class _AllTags(frozenset[str]):
    """Every tag: what a session with untracked writes may have changed."""

    def isdisjoint(self, other: Iterable[object], /) -> bool:
        del other
        return False


_EVERYTHING: Final = _AllTags(("*",))


AsyncTarget: TypeAlias = "AsyncSession | async_scoped_session[AsyncSession] | async_sessionmaker[AsyncSession]"
"""What an :class:`AsyncCache` binds to: an async session, scoped session or session factory."""
SyncTarget: TypeAlias = "Session | scoped_session[Session] | sessionmaker[Session]"
"""What a :class:`SyncCache` binds to: a session, scoped session or session factory."""
_AnySession: TypeAlias = "Session | AsyncSession | scoped_session[Session] | async_scoped_session[AsyncSession]"
_ASYNC_TARGETS: Final = (AsyncSession, async_sessionmaker, async_scoped_session)
_SYNC_TARGETS: Final = (Session, sessionmaker, scoped_session)


@overload
def bind_cache(target: AsyncTarget, cache: AsyncCache) -> None: ...
@overload
def bind_cache(target: SyncTarget, cache: SyncCache) -> None: ...
def bind_cache(target: AsyncTarget | SyncTarget, cache: AsyncCache | SyncCache) -> None:
    """Make commits of ``target`` invalidate ``cache`` (idempotent; a session may have several caches).

    Bind the session factory once (``sessionmaker`` / ``async_sessionmaker``) so every session it makes is bound,
    including sessions that write without a cached repository (which binds its own session).

    Args:
        target: a ``Session``, ``AsyncSession``, scoped session or session factory.
        cache: an ``AsyncCache`` for async sessions, a ``SyncCache`` for sync ones.

    Raises:
        TypeError: a sync cache with an async session (or the reverse), or an unknown target.
    """
    install_listeners()
    target_object = cast("object", target)  # checked at runtime: callers may not be type-checked
    target_name = type(target_object).__name__
    is_async = isinstance(target_object, _ASYNC_TARGETS)
    if not (is_async or isinstance(target_object, _SYNC_TARGETS)):
        msg = f"cannot bind a cache to {target_name}: expected a session or a session factory"
        raise TypeError(msg)
    cache_object = cast("object", cache)
    if is_async != isinstance(cache_object, AsyncCache) or not isinstance(cache_object, (AsyncCache, SyncCache)):
        wanted = "an async cache (AsyncCache)" if is_async else "a sync cache (SyncCache)"
        msg = f"{target_name} needs {wanted}, got {type(cache_object).__name__}"
        raise TypeError(msg)
    if isinstance(target, (sessionmaker, async_sessionmaker)):
        info: dict[Any, Any] = target.kw.setdefault("info", {})
    else:
        info = target.info
        _mark_if_untracked(target)
    caches: tuple[AsyncCache | SyncCache, ...] = info.get(CACHES_KEY, ())
    if not any(bound is cache for bound in caches):
        info[CACHES_KEY] = (*caches, cache)
    for engine in _engines_of(target):
        register_engine(engine, cache)


def _engines_of(target: AsyncTarget | SyncTarget) -> list[Engine]:
    """The engines a session or factory is bound to (raw writes through them invalidate its caches)."""
    if isinstance(target, (sessionmaker, async_sessionmaker)):
        binds: list[Any] = [target.kw.get("bind"), *(target.kw.get("binds") or {}).values()]
    else:
        current = target() if isinstance(target, (scoped_session, async_scoped_session)) else target
        session = current.sync_session if isinstance(current, AsyncSession) else current
        binds = [session.bind]
    engines: list[Engine] = []
    for bind in binds:
        if isinstance(bind, (AsyncEngine, AsyncConnection)):
            bind = bind.sync_engine  # noqa: PLW2901
        if isinstance(bind, Connection):
            bind = bind.engine  # noqa: PLW2901
        if isinstance(bind, Engine):
            engines.append(bind)
    return engines


def _mark_if_untracked(target: _AnySession) -> None:
    """Mark a session whose transaction began before the listeners were installed (see the module doc)."""
    current = target() if isinstance(target, (scoped_session, async_scoped_session)) else target
    session = current.sync_session if isinstance(current, AsyncSession) else current
    root = session.get_transaction()
    if root is not None and session.info.get(_TRACKED_KEY) is not root:
        session.info[_UNTRACKED_KEY] = True


def bound_caches(session: _AnySession) -> tuple[AsyncCache | SyncCache, ...]:
    """The caches ``session`` (a session of any flavour, or a scoped session) invalidates when it commits."""
    caches: tuple[AsyncCache | SyncCache, ...] = session.info.get(CACHES_KEY, ())
    return caches


def bound_async_caches(session: AsyncSession | async_scoped_session[AsyncSession]) -> tuple[AsyncCache, ...]:
    """The async caches ``session`` invalidates when it commits (:func:`bind_cache` binds no other kind)."""
    caches = bound_caches(session)
    for cache in caches:  # asked per repository built: the tuple itself when every cache is async
        if not isinstance(cache, AsyncCache):
            return tuple(cache for cache in caches if isinstance(cache, AsyncCache))
    return cast("tuple[AsyncCache, ...]", caches)


def bound_sync_caches(session: Session | scoped_session[Session]) -> tuple[SyncCache, ...]:
    """The sync caches ``session`` invalidates when it commits (:func:`bind_cache` binds no other kind)."""
    return tuple(cache for cache in bound_caches(session) if isinstance(cache, SyncCache))


def pending_tags(
    session: Session | AsyncSession | scoped_session[Session] | async_scoped_session[AsyncSession],
    connection: Connection | None = None,
) -> frozenset[str] | set[str]:
    """Tags of tables with uncommitted changes in ``session`` (flushed or pending), and on ``connection``.

    Cached reads of these tables neither hit nor populate: the session must see its own writes and must not
    publish them before commit. ``connection`` (the read's, when known) adds the writes its open transaction
    holds for its real commit (``rawdml.uncommitted_on``).
    """
    info = session.info
    if _UNTRACKED_KEY in info:
        return _EVERYTHING
    held = None if connection is None else uncommitted_on(connection)
    if held is not None:
        rest = _EVERYTHING if held is EVERYTHING else pending_tags(session)
        return rest if rest is _EVERYTHING else held | rest
    flushed: set[str] | None = info.get(_PENDING_KEY)
    written: set[str] | None = info.get(_WRITTEN_KEY)
    if written:
        flushed = written | flushed if flushed else written
    if not _has_changes(session):
        return flushed or _EMPTY
    tags = set(flushed or ())
    tags.update(_instance_tags(session.new, session.dirty, session.deleted))
    return _EVERYTHING if "*" in tags else tags  # a write reaching "*" (cascades): the reads of every table


def _has_changes(
    session: Session | AsyncSession | scoped_session[Session] | async_scoped_session[AsyncSession],
) -> bool:
    """Whether ``session`` holds new, dirty or deleted instances (``bool(session.new or session.dirty or ...)``).

    Asked on every cached read: a plain or async session is looked at without building the three
    identity sets SQLAlchemy's properties return (``dirty`` is the identity map's modified states).
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if isinstance(sync, Session):
        new: dict[Any, Any] = sync._new  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        deleted: dict[Any, Any] = sync._deleted  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        return bool(new or deleted or sync.identity_map.check_modified())
    return bool(session.new or session.dirty or session.deleted)


_mapper_memo: dict[Mapper[Any], tuple[tuple[int, int, int], frozenset[str]]] = {}
_MAPPER_MEMO_LIMIT: Final = 4096


def _mapper_tags(
    mapper: Mapper[Any], graph: tuple[tuple[int, int, int], list[MetaData]] | None = None
) -> frozenset[str]:
    """Tags a write through ``mapper`` changes, memoized while the dependency graph is in the same state.

    The state is :func:`~litestar_alchemy_kit.orm.cascades.graph_state`'s (pass it as ``graph`` when asking
    for many mappers): it counts tables added later to a ``MetaData`` already known, whose cascading foreign
    keys change what a write to the mapper's tables changes.
    """
    state, metadata = graph_state() if graph is None else graph
    memo = _mapper_memo.get(mapper)
    if memo is not None and memo[0] == state:
        return memo[1]
    tags: set[str] = set()
    tables: list[Table] = []
    for table in mapper.tables:
        if isinstance(table, Table):
            tags |= written_tags(table)
            tables.append(table)
    for rel in mapper.relationships:
        secondary = rel.secondary
        if isinstance(secondary, Table):
            tags |= written_tags(secondary)
            tables.append(secondary)
        elif isinstance(secondary, TableClause):
            tags.add(table_tag(secondary))
    result = frozenset(tags)
    # a table of a MetaData the state does not count could gain dependencies unseen: not memoized
    if all(any(table.metadata is meta for meta in metadata) for table in tables):
        if len(_mapper_memo) >= _MAPPER_MEMO_LIMIT:
            _mapper_memo.clear()
        _mapper_memo[mapper] = (state, result)
    return result


def _instance_tags(*groups: Iterable[Any]) -> set[str]:
    tags: set[str] = set()
    graph = graph_state()
    for group in groups:
        for obj in group:
            tags |= _mapper_tags(sa_inspect(obj).mapper, graph)
    return tags


def _add_pending(session: Session, tags: Iterable[str], key: str = _PENDING_KEY) -> None:
    tags = set(tags)
    if "*" in tags:  # a dependency reached tables no one can tell (cascades.written_tags): the whole namespace
        session.info[_UNTRACKED_KEY] = True
    session.info.setdefault(key, set()).update(tags)


def _before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:  # noqa: ARG001
    # The flush's mapper events read the partitions its rows are in (partitionread): the session's may be stale.
    if bound_caches(session):
        begin_flush(session)
    else:
        end_flush(session)


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    # Every state the unit of work registered: the new, dirty and deleted instances it flushed, and
    # rows never modified in Python (a child moved between parents through a one-to-many collection
    # with no back reference, delete-orphans). States registered only for reference count too:
    # over-invalidation is harmless. One lookup per mapper, not per instance.
    tags: set[str] = set()
    graph = graph_state()
    for mapper in flush_context.mappers:
        tags |= _mapper_tags(mapper, graph)
    if tags:
        _add_pending(session, tags, _WRITTEN_KEY)
        _add_pending(session, flush_bumps(flush_context), _FINE_KEY)
    end_flush(session)  # read for this flush only: holds its states


def _raw_writes(session: Session, writes: frozenset[str]) -> None:
    """Writes the engine saw on a connection of ``session``'s transaction (:mod:`~litestar_alchemy_kit.orm.rawdml`)."""
    if writes is EVERYTHING:
        session.info[_UNTRACKED_KEY] = True
    else:
        _add_pending(session, writes)


def _commit_tags(info: dict[Any, Any]) -> tuple[list[str], bool]:
    """The tags a commit of the session bumps (sorted), and whether it clears whole namespaces."""
    tags: set[str] | None = info.get(_PENDING_KEY)
    fine: set[str] | None = info.get(_FINE_KEY)
    if fine:
        tags = fine | tags if tags else fine
    return sorted(tags) if tags else [], bool(info.get(_UNTRACKED_KEY, False))


def _take_tags(session: Session, forget: bool) -> tuple[list[str], bool]:
    """:func:`_commit_tags`; with ``forget``, the session no longer holds them (durable: committed by its connection)."""
    found = _commit_tags(session.info)
    for key in (_PENDING_KEY, _FINE_KEY, _WRITTEN_KEY, _UNTRACKED_KEY) if forget else ():
        session.info.pop(key, None)
    return found


def _before_commit(session: Session) -> None:
    """Phase one: mark the commit's tags in the store before the database commits (see the module doc)."""
    if session.in_nested_transaction():
        return  # a SAVEPOINT release commits nothing yet
    # Until after_commit: a commit that raises may have committed (its reply lost), _after_transaction_end delivers
    session.info[_COMMITTING_KEY] = True
    caches = bound_caches(session)
    if not any(cache_.options.commit_policy is not None for cache_ in caches):
        return
    if joined_only(session) is not None:
        session.flush()  # the commit's flush, which might begin a transaction the session owns
        if joined_only(session) is not None:
            return  # it commits nothing: the connections' real commits mark and bump (_after_commit defers)
    found = _phase_one(session, caches)
    if found is None:
        return
    tags, untracked, marks = found
    refused = [
        cache_
        for cache_, marker in zip(caches, marks, strict=True)
        if marker is None and cache_.options.commit_policy == "strict"
    ]
    if refused:
        # Lift the markers that were written (and, once the store answers again, any that arrive late):
        # nothing will be committed, so this extra invalidation is all they cause.
        for cache_, marker in zip(caches, marks, strict=True):
            _deliver(cache_, tags, untracked, marker)
        session.info.pop(_COMMITTING_KEY, None)  # delivered: nothing is committed
        raise CommitRefusedError([cache_.namespace for cache_ in refused], len(tags) + untracked)
    for cache_, marker in zip(caches, marks, strict=True):
        if marker is None and cache_.options.commit_policy == "available":
            record_undelivered(session, cache_, tags, namespace=untracked)
    session.info[_MARKS_KEY] = marks


def _phase_one(
    session: Session, caches: tuple[AsyncCache | SyncCache, ...]
) -> tuple[list[str], bool, list[str | None]] | None:
    """Flush, then the commit's tags, whether it clears namespaces, and each cache's acknowledged marker (``None``: not taken).

    ``None`` when the commit bumps nothing. Markers of the tags known before the flush go out first (their round
    trip overlaps the flush's), the rest after it; all are acknowledged when this returns, before the COMMIT.
    """
    early = _mark_early(session, caches)
    # The commit flushes after this hook: flush now, so that the last flush's writes are marked too.
    try:
        session.flush()
    except Exception:
        if early is not None:
            _lift_early(caches, early)
        raise
    if early is None:
        tags, untracked = _commit_tags(session.info)
        if not (tags or untracked):
            return None
        return tags, untracked, [_mark(cache_, tags, untracked) for cache_ in caches]
    _add_pending(session, early.tags, _FINE_KEY)  # settled after the commit, written or not
    tags, untracked = _commit_tags(session.info)
    return tags, untracked, _complete_early(caches, early, tags, untracked)


class _Early(NamedTuple):
    """Markers sent before the commit's flush, on the tags its rows are known to bump: their replies still due."""

    tags: frozenset[str]
    replies: list[asyncio.Task[str | None] | None]  # per bound cache; None: no policy


def _mark_early(session: Session, caches: tuple[AsyncCache | SyncCache, ...]) -> _Early | None:
    """Send the markers of the tags known before the flush, so their round trip overlaps the flush's.

    Only for async caches inside an ``AsyncSession``'s greenlet, and only while the session has changes
    to flush. The markers are not acknowledged yet: :func:`_complete_early` waits for them (and marks
    what the flush wrote beyond them) before the database COMMIT.
    """
    info = session.info
    if _UNTRACKED_KEY in info or not in_greenlet() or not _has_changes(session):
        return None
    if not all(isinstance(cache_, AsyncCache) for cache_ in caches):
        return None
    deleted: dict[InstanceState[Any], Any] = session._deleted  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    new: dict[InstanceState[Any], Any] = session._new  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    states = [(state, False) for state in new]
    states += [(state, False) for state in session.identity_map._modified if state not in deleted]  # noqa: SLF001  # pyright: ignore[reportPrivateUsage]
    states += [(state, True) for state in deleted]
    known, _ = _commit_tags(info)  # earlier flushes of the transaction
    tags = frozenset(known).union(predicted_bumps(states))
    if not tags:
        return None
    loop = asyncio.get_running_loop()
    ordered = sorted(tags)
    early = _Early(
        tags,
        [
            loop.create_task(cache_.mark(ordered))
            if cache_.options.commit_policy is not None and isinstance(cache_, AsyncCache)
            else None
            for cache_ in caches
        ],
    )
    # One pass of the event loop: the tasks write their commands before the flush writes its first statement, so
    # the markers' round trips overlap the whole flush (without it they start after that statement is sent, and
    # on a fast database its reply is often back by then).
    await_only(asyncio.sleep(0))
    return early


def _complete_early(
    caches: tuple[AsyncCache | SyncCache, ...], early: _Early, tags: list[str], untracked: bool
) -> list[str | None]:
    """Each cache's marker once acknowledged, extended to what the flush wrote beyond the prediction (before COMMIT)."""
    rest = [tag for tag in tags if tag not in early.tags]
    marks: list[str | None] = []
    for cache_, reply in zip(caches, early.replies, strict=True):
        marker = None if reply is None else await_only(reply)
        if marker is not None and (rest or untracked):
            # Same marker id: one settle lifts both. A failed extension leaves the id pending in the cache,
            # which its next delivery settles, and the cache counts as not marked (its policy decides).
            marker = await_only(cast("AsyncCache", cache_).mark(rest, namespace=untracked, marker=marker))
        marks.append(marker)
    return marks


def _lift_early(caches: tuple[AsyncCache | SyncCache, ...], early: _Early) -> None:
    """The flush failed after the early markers went out: nothing will commit, settle them (an extra bump at most)."""
    tags = sorted(early.tags)
    for cache_, reply in zip(caches, early.replies, strict=True):
        if reply is not None:
            _deliver(cache_, tags, untracked=False, marker=await_only(reply))


def _mark(cache_: AsyncCache | SyncCache, tags: list[str], untracked: bool) -> str | None:
    """The marker written for the commit in ``cache_``, ``None`` if its store did not take it (or it has no policy)."""
    if cache_.options.commit_policy is None:
        return None
    if isinstance(cache_, AsyncCache):
        return await_only(cache_.mark(tags, namespace=untracked))
    return cache_.mark(tags, namespace=untracked)


def _deliver(cache_: AsyncCache | SyncCache, tags: list[str], untracked: bool, marker: str | None) -> None:
    if isinstance(cache_, AsyncCache):
        # Runs inside AsyncSession.commit()'s greenlet: wait for delivery before commit() returns.
        if untracked:
            await_only(cache_.clear(marker=marker))
        if tags:
            await_only(cache_.bump(tags, marker=marker))
    else:
        if untracked:
            cache_.clear(marker=marker)
        if tags:
            cache_.bump(tags, marker=marker)


def _marks(session: Session) -> tuple[tuple[AsyncCache | SyncCache, ...], list[str | None]]:
    """The bound caches and the commit's marker in each (taken; ``None``: none, or bound after before_commit)."""
    caches = bound_caches(session)
    marks: list[str | None] = session.info.pop(_MARKS_KEY, None) or []
    return caches, marks if len(marks) == len(caches) else [None] * len(caches)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT release: the outer transaction may still roll back
    session.info.pop(_COMMITTING_KEY, None)
    tags, untracked = _take_tags(session, forget=True)
    caches, marks = _marks(session)
    if not (tags or untracked):
        return
    connections = joined_only(session)
    if (
        connections is not None
        and defer_to_commit(connections, caches, tags, everything=untracked)
        and all(marker is None for marker in marks)
    ):
        return
    for cache_, marker in zip(caches, marks, strict=True):
        _deliver(cache_, tags, untracked, marker)


def _after_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    """Register the session's caches for the connection's database: raw writes through any engine there reach them."""
    # invariant 1: a factory bound before it had an engine registered none; a joined transaction's commit reaches them
    del transaction
    for cache_ in bound_caches(session):
        register_engine(connection.engine, cache_)


def _after_transaction_create(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info[_TRACKED_KEY] = transaction


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # A flush that raised never reached after_flush (a savepoint or a bulk_* subtransaction may end inside a flush)
    if not previous_transaction.nested:
        end_flush(session)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        end_flush(session)  # whatever a flush left (a before_flush listener raised after the kit's)
        tags, untracked = _take_tags(session, forget=True)
        session.info.pop(_TRACKED_KEY, None)
        if session.info.pop(_COMMITTING_KEY, None) and (tags or untracked):
            # the commit raised: refused, or committed with its reply lost: delivered (an extra invalidation at most)
            for cache_, marker in zip(*_marks(session), strict=True):
                _deliver(cache_, tags, untracked, marker)
        session.info.pop(_MARKS_KEY, None)


LISTENERS: Final[tuple[tuple[str, Callable[..., None]], ...]] = (
    ("after_begin", _after_begin),
    ("before_flush", _before_flush),
    ("after_flush", _after_flush),
    ("before_commit", _before_commit),
    ("after_commit", _after_commit),
    ("after_transaction_create", _after_transaction_create),
    ("after_transaction_end", _after_transaction_end),
    ("after_soft_rollback", _after_soft_rollback),
)
"""The ``Session`` events :func:`install_listeners` listens to, and their handlers."""


def install_listeners() -> None:
    """Install the process-wide ``Session`` listeners that drive invalidation (idempotent).

    :func:`bind_cache` calls it, so users only need it to track sessions before any cache is
    bound (for instance at the start of a worker whose sessions bind caches later).
    """
    global _installed  # noqa: PLW0603 - one-time registration of class-level listeners
    if _installed:
        return
    install_session_listeners()
    install_engine_listeners(_raw_writes, _take_tags)
    for name, handler in LISTENERS:
        event.listen(Session, name, handler)
    watch_all()  # the mappers of tenant-owned tables: their written rows' partitions are read
    _installed = True
