"""Invalidation driven by SQLAlchemy session events.

The listeners are class-level ``Session`` listeners, so they see every session of the process.
They are installed explicitly, by :func:`install_listeners`, which :func:`bind_cache` calls: a
session's writes only matter to caches bound to it, and binding (of a session factory, by the
plugin or by hand, or of a session, by a cached repository) happens before such a session
commits. Importing the package installs nothing. Once installed, writes made before a
repository or cache is attached to a session still count:

- ``after_flush`` records the tables of new, dirty and deleted instances: every table of their
  mapper (joined inheritance), many-to-many secondary tables, and tables whose foreign keys
  cascade from them (``ON DELETE`` / ``ON UPDATE`` actions change rows the ORM never sees);
- ``do_orm_execute`` records the target tables of INSERT / UPDATE / DELETE statements run
  through ``Session.execute`` (ORM bulk operations, AA's upserts and ``delete_where``);
- ``after_commit`` of the outermost transaction bumps those tags in every cache bound to the
  session, and waits for it (inside an ``AsyncSession`` through SQLAlchemy's greenlet bridge), so
  invalidation is complete when ``commit()`` returns;
- the end of the outermost transaction forgets the tags, so a rollback leaves the cache untouched.

A session whose transaction began before the listeners were installed may hold flushed writes
no listener saw. When :func:`bind_cache` binds such a session it marks it *untracked*: until that
transaction ends its cached reads go to the database, and its commit clears the bound caches'
namespaces (an extra invalidation, never a missing one). Installing the listeners at startup
(binding the session factory, or :func:`install_listeners`) avoids it.

Statements run with ``text()`` or on a connection obtained from the session are not seen.
"""

from __future__ import annotations

import inspect as _inspect
from functools import cache
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import Table, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction, scoped_session, sessionmaker
from sqlalchemy.sql import TableClause
from sqlalchemy.util import await_only

from litestar_alchemy_kit.orm.dependencies import table_tag

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.orm import Mapper, ORMExecuteState, UOWTransaction

__all__ = ("LISTENERS", "bind_cache", "bound_caches", "install_listeners", "pending_tags")

CACHES_KEY: Final = "litestar_alchemy_kit.caches"
"""``Session.info`` key holding the tuple of caches the session invalidates on commit."""
_PENDING_KEY: Final = "litestar_alchemy_kit.uncommitted_tags"
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


def _is_async_cache(cache: Any) -> bool:
    return _inspect.iscoroutinefunction(getattr(cache, "bump", None))


def bind_cache(target: Any, cache: Any) -> None:
    """Make commits of ``target`` invalidate ``cache`` (idempotent; a session may have several caches).

    Bind the session factory once (``sessionmaker`` / ``async_sessionmaker``) so every session it
    makes is bound, including sessions that write without going through a cached repository.
    Cached repositories bind their own session automatically.

    Args:
        target: a ``Session``, ``AsyncSession``, scoped session or session factory.
        cache: an ``AsyncCache`` for async sessions, a ``SyncCache`` for sync ones.

    Raises:
        TypeError: a sync cache with an async session (or the reverse), or an unknown target.
    """
    install_listeners()
    is_async = isinstance(target, (AsyncSession, async_sessionmaker, async_scoped_session))
    if not is_async and not isinstance(target, (Session, sessionmaker, scoped_session)):
        msg = f"cannot bind a cache to {type(target).__name__}: expected a session or a session factory"
        raise TypeError(msg)
    if is_async != _is_async_cache(cache):
        wanted = "an async cache (AsyncCache)" if is_async else "a sync cache (SyncCache)"
        msg = f"{type(cast('object', target)).__name__} needs {wanted}, got {type(cast('object', cache)).__name__}"
        raise TypeError(msg)
    if isinstance(target, (sessionmaker, async_sessionmaker)):
        info: dict[Any, Any] = target.kw.setdefault("info", {})  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
    else:
        info = target.info  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
    caches: tuple[Any, ...] = info.get(CACHES_KEY, ())  # pyright: ignore[reportUnknownMemberType]
    if not any(bound is cache for bound in caches):
        info[CACHES_KEY] = (*caches, cache)
    if not isinstance(target, (sessionmaker, async_sessionmaker)):
        _mark_if_untracked(cast("Session", target))


def _mark_if_untracked(
    target: Session | AsyncSession | scoped_session[Session] | async_scoped_session[AsyncSession],
) -> None:
    """Mark a session whose transaction began before the listeners were installed (see the module doc)."""
    current = target() if isinstance(target, (scoped_session, async_scoped_session)) else target
    session = current.sync_session if isinstance(current, AsyncSession) else current
    root = session.get_transaction()
    if root is not None and session.info.get(_TRACKED_KEY) is not root:
        session.info[_UNTRACKED_KEY] = True


def bound_caches(session: Any) -> tuple[Any, ...]:
    """The caches ``session`` (a session of any flavour, or a scoped session) invalidates when it commits."""
    caches: tuple[Any, ...] = session.info.get(CACHES_KEY, ())
    return caches


def pending_tags(session: Any) -> frozenset[str] | set[str]:
    """Tags of tables with uncommitted changes in ``session``: flushed, or still pending in memory.

    Cached reads of these tables neither hit nor populate: the session must see its own writes
    and must not publish them before commit.
    """
    if _UNTRACKED_KEY in session.info:
        return _EVERYTHING
    flushed: set[str] | None = session.info.get(_PENDING_KEY)
    if not (session.new or session.dirty or session.deleted):
        return flushed or _EMPTY
    tags = set(flushed or ())
    tags.update(_instance_tags(session.new, session.dirty, session.deleted))
    return tags


@cache
def _table_tags(table: Table) -> frozenset[str]:
    """The table and every table whose rows change when its rows do (FK cascades), transitively."""
    tags = {table_tag(table)}
    todo = [table]
    seen = {table}
    while todo:
        current = todo.pop()
        metadata = current.metadata
        for other in metadata.tables.values():
            if other in seen:
                continue
            for fk in other.foreign_keys:
                if fk.column.table is current and (
                    (fk.ondelete or "").upper() not in {"", "RESTRICT", "NO ACTION"}
                    or (fk.onupdate or "").upper() not in {"", "RESTRICT", "NO ACTION"}
                ):
                    seen.add(other)
                    tags.add(table_tag(other))
                    todo.append(other)
                    break
    return frozenset(tags)


@cache
def _mapper_tags(mapper: Mapper[Any]) -> frozenset[str]:
    tags: set[str] = set()
    for table in mapper.tables:
        if isinstance(table, Table):
            tags |= _table_tags(table)
    for rel in mapper.relationships:
        secondary = rel.secondary
        if isinstance(secondary, Table):
            tags |= _table_tags(secondary)
        elif isinstance(secondary, TableClause):
            tags.add(table_tag(secondary))
    return frozenset(tags)


def _instance_tags(*groups: Iterable[Any]) -> set[str]:
    tags: set[str] = set()
    for group in groups:
        for obj in group:
            tags |= _mapper_tags(sa_inspect(obj).mapper)
    return tags


def _add_pending(session: Session, tags: Iterable[str]) -> None:
    pending: set[str] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        session.info[_PENDING_KEY] = set(tags)
    else:
        pending.update(tags)


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    # Every state the unit of work registered: the new, dirty and deleted instances it flushed, and
    # rows never modified in Python (a child moved between parents through a one-to-many collection
    # with no back reference, delete-orphans). States registered only for reference count too:
    # over-invalidation is harmless. One lookup per mapper, not per instance.
    tags: set[str] = set()
    for mapper in flush_context.mappers:
        tags |= _mapper_tags(mapper)
    if tags:
        _add_pending(session, tags)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    tags: set[str] = set()
    target = getattr(state.statement, "table", None)
    if isinstance(target, Table):
        tags |= _table_tags(target)
    elif isinstance(target, TableClause):
        tags.add(table_tag(target))
    for mapper in state.all_mappers:
        tags |= _mapper_tags(mapper)
    if tags:
        _add_pending(state.session, tags)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT release: the outer transaction may still roll back
    tags: set[str] | None = session.info.pop(_PENDING_KEY, None)
    untracked = session.info.pop(_UNTRACKED_KEY, False)
    if not (tags or untracked):
        return
    for cache_ in bound_caches(session):
        outcomes = [cache_.clear()] if untracked else []
        if tags:
            outcomes.append(cache_.bump(sorted(tags)))
        for outcome in outcomes:
            if _inspect.isawaitable(outcome):
                # Runs inside AsyncSession.commit()'s greenlet: wait for delivery before commit() returns.
                await_only(outcome)  # pyright: ignore[reportUnknownArgumentType]


def _after_transaction_create(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info[_TRACKED_KEY] = transaction


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_UNTRACKED_KEY, None)
        session.info.pop(_TRACKED_KEY, None)


LISTENERS: Final[tuple[tuple[str, Callable[..., None]], ...]] = (
    ("after_flush", _after_flush),
    ("do_orm_execute", _do_orm_execute),
    ("after_commit", _after_commit),
    ("after_transaction_create", _after_transaction_create),
    ("after_transaction_end", _after_transaction_end),
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
    for name, handler in LISTENERS:
        event.listen(Session, name, handler)
    _installed = True
