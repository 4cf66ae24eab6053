"""Application ``do_orm_execute`` listeners: a cached read cannot see what they do to its statement.

A cached repository keys and tags a statement *before* ``Session.execute``. A ``do_orm_execute``
listener runs inside ``execute`` and may replace the statement (SQLAlchemy's global-filter recipe adds
``with_loader_criteria`` for the tenant in a context variable), add loader options that read other
tables, or answer with rows of its own; a cache hit does not run it at all. Neither the key nor the
tags would show its change: one tenant's entry would be served to another (invariant 6, scope
isolation), or a table the statement reads go untagged (invariant 5). So a read through a session
with such a listener bypasses the cache, and :func:`~litestar_alchemy_kit.orm.record_queries` refuses
to record it, unless the listener is declared with :func:`trust_execute_listener` as one that never
changes what a statement reads or returns (logging, timing, tracing).

A tenant filter belongs in the tenant declaration instead
(:func:`~litestar_alchemy_kit.orm.tenant_column` and repositories bound with ``tenant=``): the kit
applies the same filter and keys the cache on it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

__all__ = ("trust_execute_listener", "untrusted_execute_listener")

logger = logging.getLogger("litestar_alchemy_kit.cache")

_trusted: set[Callable[..., Any]] = set()
_warned: set[Callable[..., Any]] = set()


def trust_execute_listener(listener: Callable[..., Any]) -> None:
    """Declare that the ``do_orm_execute`` listener ``listener`` never changes a statement or its result.

    Cached reads then go on in sessions where it is installed. Declare only listeners that observe
    (log, time, trace). One that filters rows (a tenant filter through ``with_loader_criteria``) or adds
    loader options must not be declared: the cache would serve what it keyed without the filter.

    Args:
        listener: the function passed to ``event.listen(..., "do_orm_execute", listener)``.
    """
    _trusted.add(listener)


def _name(listener: Callable[..., Any]) -> str:
    return f"{getattr(listener, '__module__', '?')}.{getattr(listener, '__qualname__', repr(listener))}"


def untrusted_execute_listener(session: Session) -> str | None:
    """Why a read through ``session`` must bypass the cache: a ``do_orm_execute`` listener not declared trusted.

    ``None`` when the session has none (the common case costs one truth test of SQLAlchemy's listener
    collection). The first time a listener causes a bypass, a warning names it.
    """
    listeners = session.dispatch.do_orm_execute
    if not listeners:
        return None
    for listener in listeners:
        if listener not in _trusted:
            name = _name(listener)
            if listener not in _warned:
                _warned.add(listener)
                logger.warning(
                    "cached reads bypass the cache in sessions with the do_orm_execute listener %s: it may change"
                    " statements after they were keyed. If it only observes (logging, timing), declare it with"
                    " litestar_alchemy_kit.orm.trust_execute_listener(); a tenant filter belongs in tenant_column()",
                    name,
                )
            return f"do_orm_execute listener {name}"
    return None
