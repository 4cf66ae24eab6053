"""Two-phase invalidation of writes committed by engine connections that no session owns.

:mod:`~litestar_alchemy_kit.orm.rawdml` finds what such writes change; this module announces it the way a
session's commit does (:mod:`~litestar_alchemy_kit.orm.invalidation`), with SQLAlchemy's
``ConnectionEvents``, which fire as follows (``Connection._commit_impl`` and ``_begin_impl``, the same
for a sync engine and inside an async engine's greenlet):

- ``commit`` fires *before* the DBAPI ``COMMIT``: phase one, :func:`mark`. Every cache that has a commit
  policy gets a marker on the written tags; until it is settled or expires no process hits or populates
  their entries. A cache without a policy is bumped (the entries computed before the write stop being
  served). A marker a ``"strict"`` cache does not take refuses the commit: the markers written are lifted,
  the DBAPI transaction is rolled back and :class:`~litestar_alchemy_kit.exceptions.CommitRefusedError` is
  raised (nothing was committed; the connection's transaction must still be rolled back, which leaving an
  ``engine.begin()`` block does). Under ``"available"`` the tags go to the cache's invalidation outbox, in
  the same transaction (:mod:`~litestar_alchemy_kit.orm.outbox`).
- no event fires right after the DBAPI ``COMMIT``: phase two, :func:`settle`, runs at the first event that
  follows it, the connection's return to the pool (``checkin``, which leaving ``engine.begin()`` /
  ``engine.connect()`` blocks fires) or its next transaction (``begin``). Until then the markers hold other
  processes off those tags: a connection idle after its commit costs cache hits (at most ``marker_ttl``),
  never a stale read.
- a two-phase (XA) transaction fires ``prepare_twophase`` before the DBAPI prepare, or, committed unprepared,
  ``commit_twophase`` before the DBAPI commit: phase one runs there (a refused marker raises before the prepare,
  leaving the transaction to the caller's rollback; before an unprepared commit it rolls the XA transaction
  back); phase two as above. ``rollback_twophase`` forgets the writes.
- under ``AUTOCOMMIT`` every statement commits as it runs: :func:`mark` runs in ``before_cursor_execute``
  and :func:`settle` in ``after_cursor_execute`` (or ``handle_error``), a bracket around the statement; a
  refused marker raises before the statement runs. The outbox row, if any, commits just before it.

An async cache cannot be awaited from a sync engine (no greenlet, maybe no event loop): for it the marker
counts as not taken, so ``"strict"`` refuses such a write and ``"available"`` records it in the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from litestar_alchemy_kit.cache import AsyncCache, SyncCache
from litestar_alchemy_kit.exceptions import CommitRefusedError
from litestar_alchemy_kit.orm.outbox import record_undelivered

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.engine import Connection

__all__ = ("Phase", "mark", "mark_writes", "settle", "settle_due", "settle_later")

logger = logging.getLogger("litestar_alchemy_kit.orm.rawdml")

_Marks: TypeAlias = "list[tuple[AsyncCache | SyncCache, str | None]]"
_SETTLE_KEY: Final = "litestar_alchemy_kit.rawdml.after_commit"  # in Connection.info, shared with the pool's record


def _no_marks() -> _Marks:
    return []


@dataclass
class Phase:
    """What a commit announced before it ran, and what :func:`settle` delivers after it."""

    tags: list[str]
    """The written tags, sorted."""
    everything: bool
    """The writes could not be attributed: the whole namespace is invalidated."""
    marks: _Marks = field(default_factory=_no_marks)
    """Each cache to invalidate, with the marker it took (``None``: no policy, or not taken)."""


def _awaitable(cache: AsyncCache | SyncCache) -> bool:
    return isinstance(cache, SyncCache) or in_greenlet()


def _mark_one(cache: AsyncCache | SyncCache, phase: Phase) -> str | None:
    if not _awaitable(cache):
        return None
    if isinstance(cache, AsyncCache):
        return await_only(cache.mark(phase.tags, namespace=phase.everything))
    return cache.mark(phase.tags, namespace=phase.everything)


def _bump(cache: AsyncCache | SyncCache, phase: Phase, marker: str | None) -> None:
    if not _awaitable(cache):
        logger.error("raw write through a sync engine cannot invalidate async cache %s", cache.namespace)
        return
    if isinstance(cache, AsyncCache):
        # inside an async engine's greenlet: wait for delivery, as a session's commit does
        if phase.everything:
            await_only(cache.clear(marker=marker))
        elif phase.tags:
            await_only(cache.bump(phase.tags, marker=marker))
    elif phase.everything:
        cache.clear(marker=marker)
    elif phase.tags:
        cache.bump(phase.tags, marker=marker)


def mark(
    connection: Connection | None,
    caches: Iterable[AsyncCache | SyncCache],
    tags: Iterable[str],
    *,
    everything: bool,
    undo: Callable[[], object] | None = None,
) -> Phase:
    """Phase one, before the writes commit: mark (or, without a policy, bump) ``tags`` in every cache.

    Args:
        connection: the connection whose transaction commits the writes (``None``: none that can run anything,
            the writes are committed already; no outbox row, no rollback).
        caches: the caches to invalidate.
        tags: the written tags.
        everything: the writes cannot be attributed (whole namespaces).
        undo: rolls the transaction back when the commit is refused (default: the DBAPI rollback; a
            two-phase transaction needs the dialect's own, or none before its prepare).

    Raises:
        CommitRefusedError: a ``"strict"`` cache did not take its marker. The markers written are lifted
            and the DBAPI transaction is rolled back first (nothing is committed).
    """
    phase = Phase(sorted(tags), everything)
    for cache in caches:
        if cache.options.commit_policy is None:
            _bump(cache, phase, None)
            phase.marks.append((cache, None))
        else:
            phase.marks.append((cache, _mark_one(cache, phase)))
    refused = [cache for cache, marker in phase.marks if marker is None and cache.options.commit_policy == "strict"]
    if refused:
        settle(phase)  # nothing will be committed: lifting the markers is an extra invalidation at most
        if undo is not None:
            undo()
        elif connection is not None:
            connection.dialect.do_rollback(connection.connection)
        raise CommitRefusedError([cache.namespace for cache in refused], len(phase.tags) + phase.everything)
    for cache, marker in phase.marks:
        if marker is None and cache.options.commit_policy == "available" and connection is not None:
            record_undelivered(connection, cache, phase.tags, namespace=phase.everything)
    return phase


def mark_writes(
    connection: Connection | None,
    caches: Iterable[AsyncCache | SyncCache],
    writes: Iterable[str],
    *,
    undo: Callable[[], object] | None = None,
) -> Phase:
    """:func:`mark` for written tags among which ``"*"`` stands for writes no table accounts for (everything)."""
    tags = frozenset(writes)
    everything = "*" in tags
    return mark(connection, caches, () if everything else tags, everything=everything, undo=undo)


def settle(phase: Phase, ran_on: Connection | None = None) -> None:
    """Phase two, once the writes are committed: bump every cache, settling the markers of :func:`mark`.

    Args:
        phase: what :func:`mark` returned.
        ran_on: the connection of a statement that committed as it ran (``AUTOCOMMIT``): the outbox row
            :func:`mark` wrote for a cache that took no marker committed on its own before the statement, and a
            drain may have taken it before the write existed; a second row, written now, outlives the write.
    """
    for cache, marker in phase.marks:
        _bump(cache, phase, marker)
        if ran_on is not None and marker is None and cache.options.commit_policy == "available":
            record_undelivered(ran_on, cache, phase.tags, namespace=phase.everything)


def settle_later(info: dict[Any, Any], phase: Phase) -> None:
    """Keep ``phase`` in a connection's ``info`` until :func:`settle_due` (no event follows the DBAPI commit)."""
    info[_SETTLE_KEY] = phase


def settle_due(info: dict[Any, Any]) -> None:
    """Phase two of the commit whose phase ``info`` keeps: its connection began again, or went back to the pool."""
    phase: Phase | None = info.pop(_SETTLE_KEY, None)
    if phase is not None:
        settle(phase)
