"""Whether a statement the engine is about to run is a flush's own DML for its instances (:mod:`.rawdml` asks).

A session's ``after_flush`` knows the rows its unit of work writes and bumps their fine tags; the engine
listeners must not record the same statements as raw writes (a coarse bump would undo the fine ones). Only
the call stack tells the flush's own statements from DML that user code run by the flush's events executes.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Final

from sqlalchemy.orm import persistence

from litestar_alchemy_kit.orm.binding import owning_session, session_delivers

if TYPE_CHECKING:
    from types import CodeType, FrameType

    from sqlalchemy.engine import Connection, ExecutionContext

__all__ = ("unit_of_work",)


def unit_of_work(connection: Connection, context: ExecutionContext | None, *, loose: bool) -> bool:
    """Whether this is DML a session's flush issues for its instances (run with the mapper's ``compiled_cache``).

    The session's ``after_flush`` knows those rows and bumps their fine tags (a coarse bump from here
    would undo them). Not for a session joined to a transaction it does not own, nor for one bound to no
    cache (:func:`~litestar_alchemy_kit.orm.binding.session_delivers`): the transaction's real commit must bump
    what it wrote, and only this module sees it. Nor for what the flush's mapper
    events execute (:func:`_issued_by_flush`): their rows are none of the flush's. Nor for a statement that may
    commit as it runs (``loose``: :func:`~litestar_alchemy_kit.orm.durable.loose`, or SQLite with no transaction
    open): the bracket around it needs its tags.
    """
    owner = owning_session(connection)
    return (
        owner is not None
        # set by Session._flush around the unit of work's execution only (not by the legacy bulk_* methods,
        # which fire no after_flush)
        and owner._warn_on_events  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        and session_delivers(owner, connection)
        and not loose
        and context is not None
        and context.execution_options.get("compiled_cache") is not None
        and _issued_by_flush()
    )


def _persistence_code(*names: str) -> frozenset[CodeType]:
    # A function SQLAlchemy no longer defines matches no frame: every statement of a flush is then recorded
    # as a raw write (coarse tags, an extra invalidation), never one missed.
    functions = (getattr(persistence, name, None) for name in names)
    return frozenset(code for code in (getattr(function, "__code__", None) for function in functions) if code)


# What emits the unit of work's own INSERT / UPDATE / DELETE statements, and the unit of work's calls to it.
# ORM bulk UPDATE by primary key and the legacy bulk_* methods run the same emitters (with the same
# compiled_cache) from bulk_persistence; inside a flush they can only come from user code its events run.
_EMITTERS: Final = _persistence_code(
    "_emit_insert_statements", "_emit_update_statements", "_emit_post_update_statements", "_emit_delete_statements"
)
_FLUSH_CALLERS: Final = _persistence_code("save_obj", "post_update", "delete_obj")
# Modules that run between an emitter's Connection.execute() and this listener without running user code
_PASS_THROUGH: Final = (
    "sqlalchemy.engine.",
    "sqlalchemy.event.",
    "sqlalchemy.sql.",
    "sqlalchemy.util.",
    "litestar_alchemy_kit.orm.rawdml",
    __name__,
)


def _issued_by_flush() -> bool:
    """Whether the statement about to run was issued by the unit of work's persistence for its own rows.

    Inside a flush, mapper events (``before_insert`` ... ``after_delete``) and other hooks run user code
    that may execute DML with the mapper's ``compiled_cache`` too (ORM bulk UPDATE by primary key,
    ``bulk_update_mappings``): nothing the statement carries tells it apart. The call stack does: the
    flush's own statement is executed by a persistence emitter that the unit of work called, with only
    the engine's frames in between. Anything else (user code in between, an emitter called by
    ``bulk_persistence``, no emitter found) counts as a raw write: an extra invalidation at most.
    """
    # the stack is the only record of who issued the statement (no frames at all: recorded)
    frame: FrameType | None = inspect.currentframe()
    while frame is not None:
        if frame.f_code in _EMITTERS:
            caller = frame.f_back
            return caller is not None and caller.f_code in _FLUSH_CALLERS
        if not str(frame.f_globals.get("__name__", "")).startswith(_PASS_THROUGH):
            return False
        frame = frame.f_back
    return False
