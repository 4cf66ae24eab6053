"""Statements calling database functions that write: the tables such a call writes (invariants 1 and 4).

``SELECT bump_stock(1)`` is a SELECT to SQLAlchemy and to the raw-SQL parser, yet its function's body
runs an ``UPDATE``. The engine listeners (:mod:`~litestar_alchemy_kit.orm.rawdml`) ask here, for every
statement they see, which tables the known writing functions it calls write
(:func:`~litestar_alchemy_kit.orm.functions.function_reads`, declared or reflected), and deliver them as
they deliver raw DML: pending in the transaction, invalidated at its commit, forgotten at its rollback.

Calls are found by name in the SQL sent to the driver, as statement analysis finds them in compiled SQL;
a name that is not a known function's (a keyword, a built-in) resolves to nothing. So are the calls a
statement makes without naming them: through a view it reads, or a written table's ``DEFAULT`` or trigger
(:func:`~litestar_alchemy_kit.orm.functions.hidden_calls`). While no known function
writes, a statement costs one truth test.
"""

from __future__ import annotations

from typing import Final

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.orm import functions
from litestar_alchemy_kit.orm.cascades import name_tags

__all__ = ("UNKNOWN", "call_writes")

UNKNOWN: Final = frozenset({"*"})
"""What :func:`call_writes` returns when a called function may write tables that cannot be told."""

_called: LRU[str, frozenset[str]] = LRU(4096)  # SQL -> names it calls (a function of the text alone: never stale)


def call_writes(sql: str) -> frozenset[str] | None:
    """The tags written by the functions ``sql`` calls that write: :data:`UNKNOWN` when untold, ``None`` for none.

    Args:
        sql: a statement as sent to the driver.

    Returns:
        The tags of the written tables and of what their writes change (as a raw write of them), or
        :data:`UNKNOWN`, or ``None`` when ``sql`` calls no function known to write.
    """
    if not functions.writers_known():
        return None
    names = _called.get(sql)
    if names is None:
        names = _called.put(sql, functions.called_names(sql))
    hidden = functions.hidden_calls(sql)  # a view's calls, a written table's DEFAULTs and triggers
    if hidden:
        names |= hidden
    found = functions.function_reads(names) if names else None
    if found is None or found.writer is None:
        return None
    if found.writes_unknown:
        return UNKNOWN
    tags: set[str] = set()
    for schema, name in found.writes:
        tags |= name_tags(name, schema)
    return frozenset(tags)
