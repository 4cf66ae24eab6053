"""What the async scenarios need that unasyncd cannot translate."""

from __future__ import annotations

import inspect
from typing import Any

from sqlalchemy.util import await_only


def run_inline(outcome: Any) -> Any:
    """Run ``outcome`` to completion from inside a SQLAlchemy event handler.

    Async scenarios hand in a coroutine (awaited through SQLAlchemy's greenlet bridge, as the
    handler runs inside ``AsyncSession``'s greenlet); sync scenarios have already run the call.
    """
    if inspect.isawaitable(outcome):
        return await_only(outcome)
    return outcome


def sync_session_of(session: Any) -> Any:
    """The ``Session`` events are attached to (an ``AsyncSession`` wraps one)."""
    return getattr(session, "sync_session", session)


async def sync_call_async(target: Any, fn: Any) -> Any:
    """``await target.run_sync(fn)`` on an async connection or session (sync twin: :func:`sync_call`)."""
    return await target.run_sync(fn)


def sync_call(target: Any, fn: Any) -> Any:
    """``fn(target)`` on a sync connection or session (what :func:`sync_call_async` becomes in sync code)."""
    return fn(target)
