"""Database functions whose bodies read or write tables: what a call reads (invariant 5) and writes (invariant 4).

A statement that calls ``order_total(customer_id)`` reads ``orders`` although it names only
``customers``. The kit knows a function's reads when they are declared (:func:`declare_function`) or
reflected from the database (:func:`~litestar_alchemy_kit.orm.cascades.reflect_dependencies`):

- a read calling a known function depends on the tables the function reads, and on those of the
  functions it calls, recursively (added by the statement analysis: any writer bumps them, even one
  that knows nothing of the function);
- a view whose definition calls a known function changes whenever those tables do (edges of the
  dependency graph, :func:`graph_edges`);
- a function whose body cannot be analysed (language C, ``internal``, dynamic SQL, a body the
  database does not show) may read any table: a read calling it depends on :data:`OPAQUE`, a node
  every write changes, as a view whose definition cannot be analysed does;
- a function whose body calls a non-deterministic function (``now()``) makes the read bypass the cache;
- a function whose body writes (``INSERT``, ``UPDATE``, ``DELETE``...), or calls one that does, makes the
  statement calling it bypass the cache, and running it is a write of the tables it writes, invalidated at
  commit as raw DML is (:mod:`~litestar_alchemy_kit.orm.functionwrites`); when those tables are unknown
  (an unanalysable body that may write), a write of the whole namespace;
- functions a statement runs without naming them count as called (:func:`hidden_calls`): those the
  definition of a view it reads calls (through the views that view reads too), and, for a statement that
  writes, those a written table's column ``DEFAULT`` or trigger runs (:func:`note_write_calls`).

A function neither declared nor reflected is taken to read no table (``count``, ``lower``: built-ins).

Names are keyed lower case without their schema, as the dependency graph keys tables: PostgreSQL folds
unquoted names to lower case, MySQL / MariaDB compare them ignoring case, and two functions sharing a
name (overloads, schemas, case) share their reads, an extra invalidation, never a missing one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable  # at run time: the docs resolve declare_function's hints
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, cast

from sqlalchemy import Table
from sqlalchemy.sql import TableClause

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.orm.dependencies import name_tag

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "OPAQUE",
    "FunctionReads",
    "Learnt",
    "called_names",
    "declare_function",
    "either",
    "forget_functions",
    "function_reads",
    "generation",
    "graph_edges",
    "hidden_calls",
    "learn",
    "note_view_calls",
    "note_write_calls",
    "view_calls",
    "write_call_edges",
    "writers_known",
)

OPAQUE: Final = "*()"
"""The graph node a read of an unanalysable function depends on: every write changes it (its tag is ``t:*()``)."""
_EVERY_WRITE: Final = "*"  # cascades' key for "changed by every write" (a view it could not analyse)

# the last identifier before "(" (a call), optionally quoted, in raw SQL; keywords (IN, EXISTS) match too,
# harmless: only known functions resolve
_CALL: Final = re.compile(r"([A-Za-z_][\w$]*)[\"`]?\s*\(")


@dataclass(frozen=True)
class Learnt:
    """What one function reads, as declared or as its body tells."""

    reads: frozenset[tuple[str | None, str]]
    """``(schema, name)`` of the tables and views it reads (names lower case)."""
    calls: frozenset[str] = frozenset()
    """Lower-case names of the functions it calls."""
    opaque: bool = False
    """Its body cannot be analysed: it may read any table."""
    varies: bool = False
    """Its body calls a non-deterministic function: a read calling it must not be cached."""
    writes: frozenset[tuple[str | None, str]] = frozenset()
    """``(schema, name)`` of the tables it writes (names lower case)."""
    writes_unknown: bool = False
    """It may write tables that cannot be told (an unanalysable body): a write of the whole namespace."""


@dataclass(frozen=True)
class FunctionReads:
    """What calling a set of functions reads, recursively."""

    names: frozenset[tuple[str | None, str]]
    """``(schema, name)`` of every table and view read (:data:`OPAQUE` among them when one may read any)."""
    varies: str | None
    """The name of a function whose result varies per call, if one does."""
    writer: str | None = None
    """The name of a function that writes, if one does: a statement calling it is a write, never cached."""
    writes: frozenset[tuple[str | None, str]] = frozenset()
    """``(schema, name)`` of every table written."""
    writes_unknown: bool = False
    """A function may write tables that cannot be told: the write cannot be attributed."""

    @property
    def tags(self) -> frozenset[str]:
        """The coarse tags of what is read: the bare name (every write to a table of that name bumps it) and the qualified one."""
        tags = {name_tag(name) for _, name in self.names}
        tags.update(name_tag(f"{schema}.{name}") for schema, name in self.names if schema)
        return frozenset(tags)


_lock = threading.Lock()
_declared: dict[str, Learnt] = {}
_reflected: dict[str, Learnt] = {}
_view_calls: dict[str, frozenset[str]] = {}  # view name -> functions its definition calls (reflected)
_view_reads: dict[str, frozenset[str]] = {}  # view name -> relations its definition reads (reflected)
_write_calls: dict[str, frozenset[str]] = {}  # table name -> functions its writes run: DEFAULTs, triggers (reflected)
_generation = 0
_writers = False  # whether any known function writes: statements are checked for calls only then
# both valid for one generation: every change clears them (under _lock)
_memo: dict[frozenset[str], FunctionReads | None] = {}
_edges: list[tuple[dict[str, set[str]], dict[str, set[str]]]] = []
_hidden: list[_Hidden] = []
# a statement that may run a table's DEFAULTs or triggers (a SELECT ... FOR UPDATE too: an extra invalidation at most)
_WRITING_SQL: Final = re.compile(r"\b(?:insert|update|delete|merge|replace|upsert|copy|truncate)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Hidden:
    """What statements run without naming it, for one generation (see :func:`hidden_calls`)."""

    views: dict[str, frozenset[str]]
    """View name -> the functions reading it calls (its definition's, and those of the views it reads), for the views
    whose calls write."""
    read_pattern: re.Pattern[str] | None
    """Finds the names of views whose calls write."""
    on_write: dict[str, frozenset[str]]
    """Table name -> the functions its writes run (:func:`note_write_calls`)."""
    write_pattern: re.Pattern[str] | None
    """Finds the names of tables whose writes run a function that writes."""
    memo: LRU[str, frozenset[str]]
    """SQL -> what :func:`hidden_calls` found in it (this generation's)."""


def _changed() -> None:
    """Called under ``_lock`` by every change: memos of reads and edges are stale, and so are the callers' (generation)."""
    global _generation, _writers  # noqa: PLW0603 - statement and graph memos key by it
    _generation += 1
    _writers = any(each.writes or each.writes_unknown for each in {**_reflected, **_declared}.values())  # declared win
    _memo.clear()
    _edges.clear()
    _hidden.clear()


def _key(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower()


def _read_name(table: object, what: str = "a read") -> tuple[str | None, str]:
    if isinstance(table, TableClause):
        return (table.schema.lower() if table.schema else None), table.name.lower()
    if not isinstance(table, str) or not table.strip(".").strip():
        msg = f"declare_function: {what} must be a Table or a table name, not {table!r}"
        raise TypeError(msg) if not isinstance(table, str) else ValueError(msg)
    schema, _, name = table.lower().rpartition(".")
    return schema or None, name


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str):
        msg = f"declare_function: {what} must be a str (the function's name), not {name!r}"
        raise TypeError(msg)
    if not _key(name).strip() or "(" in name or ")" in name:
        msg = f"declare_function: {what} {name!r} is not a function name (no parentheses, not empty)"
        raise ValueError(msg)
    return _key(name)


def _listed(given: object, label: str) -> tuple[object, ...]:
    # one string or one table where a list is meant would be read item by item (characters, or an error)
    if isinstance(given, (str, TableClause)) or not isinstance(given, Iterable):
        msg = f"declare_function: {label} must be a list, not {given!r}"
        raise TypeError(msg)
    return tuple(cast("Iterable[object]", given))


def declare_function(
    name: str, *reads: Table | str, calls: Iterable[str] = (), writes: Iterable[Table | str] = ()
) -> None:
    """Declare the tables the database function ``name`` reads and writes.

    Reads calling it depend on the tables it reads. A statement calling a function that writes (or one
    whose ``calls`` do) is never cached, and running it writes those tables: they are invalidated when
    its transaction commits, as raw DML on them is (forgotten at rollback).

    Like :func:`~litestar_alchemy_kit.orm.declare_dependency` (a name and what it touches, as
    ``Table`` objects or names) and additive like it: declaring a function again adds to its reads and
    writes. A declaration overrides what reflection learns of the same name: declaring a function with
    no table says it reads and writes none (a C function reflection cannot analyse, known to be pure).

    Example::

        declare_function("order_total", orders_table)
        declare_function("customer_rank", "billing.orders", calls=["order_total"])
        declare_function("bump_stock", writes=[items_table])

    Args:
        name: the function's name, optionally schema-qualified (the schema is ignored, as for tables;
            compared ignoring case, as PostgreSQL folds unquoted names and MySQL ignores case).
        *reads: the tables (or views) its body reads.
        calls: names of the functions its body calls (their reads and writes count too).
        writes: the tables its body writes (``INSERT``, ``UPDATE``, ``DELETE``, ``TRUNCATE``, ``MERGE``).

    Raises:
        TypeError: a name, read or write of the wrong type (``calls`` or ``writes`` given as one string
            or one table, not a list).
        ValueError: an empty name or one with parentheses; nothing is declared then.
    """
    key = _check_name(name, "name")
    called = frozenset(_check_name(call, "a call") for call in _listed(calls, "calls"))
    names = frozenset(_read_name(table) for table in reads)
    written = frozenset(_read_name(table, "a write") for table in _listed(writes, "writes"))
    with _lock:
        known = _declared.get(key)
        if known is not None:
            names, called, written = names | known.reads, called | known.calls, written | known.writes
        _declared[key] = Learnt(names, called, writes=written)
        _changed()


def either(first: Learnt, second: Learnt) -> Learnt:
    """What a call of a name two functions share (overloads, schemas) may do: what either reads, calls, varies or writes."""
    return Learnt(
        reads=first.reads | second.reads,
        calls=first.calls | second.calls,
        opaque=first.opaque or second.opaque,
        varies=first.varies or second.varies,
        writes=first.writes | second.writes,
        writes_unknown=first.writes_unknown or second.writes_unknown,
    )


def learn(functions: Mapping[str, Learnt]) -> None:
    """Record what reflection found of functions' bodies.

    A name already known (another schema's, an earlier reflection's) is joined to it (:func:`either`): a call by
    name may be any of them. ``forget_functions()`` starts over.
    """
    with _lock:
        for name, learnt in functions.items():
            known = _reflected.get(_key(name))
            _reflected[_key(name)] = learnt if known is None else either(known, learnt)
        _changed()


def note_view_calls(view: str, sql: str, reads: Iterable[str] = ()) -> None:
    """Record the functions a reflected view's definition calls (their tables change the view), and what it reads.

    Args:
        view: the view's name.
        sql: its definition.
        reads: the names of the relations it reads (a view among them passes its calls on).
    """
    calls = called_names(sql)
    with _lock:
        _view_calls[view.lower()] = calls
        _view_reads[view.lower()] = frozenset(name.lower() for name in reads)
        _changed()


def note_write_calls(table: str, calls: Iterable[str]) -> None:
    """Record the functions a write to ``table`` runs without naming them: its column ``DEFAULT``s, its triggers.

    A statement writing ``table`` then writes what those functions write. Added to what was noted: tables of
    the same name in two schemas share it (an extra invalidation, never a missing one), as they share a tag.
    """
    names = frozenset(_key(name) for name in calls)
    if not names:
        return
    with _lock:
        _write_calls[_key(table)] = _write_calls.get(_key(table), frozenset()) | names
        _changed()


def forget_functions() -> None:
    """Forget every declared and reflected function (see ``forget_dependencies``)."""
    with _lock:
        _declared.clear()
        _reflected.clear()
        _view_calls.clear()
        _view_reads.clear()
        _write_calls.clear()
        _changed()


def writers_known() -> bool:
    """Whether any declared or reflected function writes (else no statement needs checking for calls)."""
    return _writers


def generation() -> int:
    """Changes whenever what a function reads may have: memos of reads and of the graph key by it."""
    return _generation


def called_names(sql: str) -> frozenset[str]:
    """Lower-case names of what ``sql`` (a raw fragment, a view or function body) calls."""
    return frozenset(match.lower() for match in _CALL.findall(sql))


def _resolve(names: Iterable[str]) -> FunctionReads | None:
    """What calling ``names`` reads; None when none of them is a known function. Called under ``_lock``."""
    found: set[tuple[str | None, str]] = set()
    written: set[tuple[str | None, str]] = set()
    varies: str | None = None
    writer: str | None = None
    unknown = known = False
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        learnt = _declared.get(name) or _reflected.get(name)
        if learnt is None:
            continue
        known = True
        found.update(learnt.reads)
        if learnt.opaque:
            found.add((None, OPAQUE))
        if learnt.varies and varies is None:
            varies = name
        if (learnt.writes or learnt.writes_unknown) and writer is None:
            writer = name
        written.update(learnt.writes)
        unknown = unknown or learnt.writes_unknown
        todo.extend(learnt.calls)
    return FunctionReads(frozenset(found), varies, writer, frozenset(written), unknown) if known else None


def function_reads(names: frozenset[str]) -> FunctionReads | None:
    """What calling the functions ``names`` reads, recursively; None when none is known (memoized).

    Statement analysis calls it once per statement structure (its memo is keyed by :func:`generation`).
    """
    with _lock:
        if names not in _memo:
            if len(_memo) > 4096:  # noqa: PLR2004 - a bound: the caller memoizes per statement structure anyway
                _memo.clear()
            _memo[names] = _resolve(names)
        return _memo[names]


def graph_edges() -> dict[str, set[str]]:
    """Edges "a write to X changes Y" that functions add: a view calling a function changes with its tables.

    A view calling a function that may read any table changes with every write (keyed ``"*"``).
    """
    return _edges_now()[0]


def write_call_edges() -> dict[str, set[str]]:
    """Edges "a write to X writes Y": what a relation's DEFAULTs, triggers and rules write (``"*"``: untold tables).

    A view's run only when the view itself is written (see :mod:`~litestar_alchemy_kit.orm.cascades`).
    """
    return _edges_now()[1]


def _edges_now() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    with _lock:
        if _edges:
            return _edges[0]
        edges: dict[str, set[str]] = {}
        for view, calls in _view_calls.items():
            reads = _resolve(calls)
            for _, name in reads.names if reads is not None else ():
                edges.setdefault(_EVERY_WRITE if name == OPAQUE else name, set()).add(view)
        if any(learnt.opaque for learnt in (*_declared.values(), *_reflected.values())):
            edges.setdefault(_EVERY_WRITE, set()).add(OPAQUE)
        # however the relation is written (a statement, a cascade, a function, another trigger)
        runs: dict[str, set[str]] = {}
        for table, calls in _write_calls.items():
            found = _resolve(calls)
            for _, name in found.writes if found is not None else ():
                runs.setdefault(table, set()).add(name)
            if found is not None and found.writes_unknown:
                runs.setdefault(table, set()).add(_EVERY_WRITE)
        _edges.append((edges, runs))
        return edges, runs


def _names_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern finding any of ``names`` as a word of SQL (quoted or not, in any case); None for no name."""
    listed = sorted(set(names), key=len, reverse=True)
    if not listed:
        return None
    return re.compile(r"(?<![\w$])(" + "|".join(map(re.escape, listed)) + r")(?![\w$])", re.IGNORECASE)


def _hidden_now() -> _Hidden:
    """This generation's :class:`_Hidden`. Called under ``_lock``."""
    if _hidden:
        return _hidden[0]
    views: dict[str, frozenset[str]] = {}
    for view in _view_calls:
        calls: set[str] = set()
        seen: set[str] = set()
        todo = [view]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                calls |= _view_calls.get(name, frozenset())
                todo.extend(_view_reads.get(name, ()))
        if calls:
            views[view] = frozenset(calls)

    def writes(calls: frozenset[str]) -> bool:
        found = _resolve(calls)
        return found is not None and found.writer is not None

    writing = {view: calls for view, calls in views.items() if writes(calls)}
    hidden = _Hidden(
        writing,
        _names_pattern(writing),
        dict(_write_calls),
        _names_pattern(table for table, calls in _write_calls.items() if writes(calls)),
        LRU(4096),
    )
    _hidden.append(hidden)
    return hidden


def view_calls(tags: Iterable[str]) -> frozenset[str]:
    """The functions a read of the relations tagged ``tags`` runs through the views among them that write.

    Statement analysis adds them to the read's calls: the read is a write then, never cached. A view calling
    functions that only read changes with their tables (:func:`graph_edges`), and is cached as any view.
    """
    with _lock:
        if not _view_calls:
            return frozenset()
        views = _hidden_now().views
    found: set[str] = set()
    for view, calls in views.items():
        if name_tag(view) in tags:
            found |= calls
    return frozenset(found)


def hidden_calls(sql: str) -> frozenset[str]:
    """The writing functions ``sql`` runs without naming them (raw SQL as sent to the driver).

    Those a view it names calls, and, when it may write, those the DEFAULTs or triggers of a table it names
    run. Names are matched as words of the text: a name in a string literal or a comment counts too (an
    extra invalidation at most).
    """
    with _lock:
        if not _view_calls and not _write_calls:
            return frozenset()
        hidden = _hidden_now()
    if hidden.read_pattern is None and hidden.write_pattern is None:
        return frozenset()
    memo = hidden.memo.get(sql)
    if memo is not None:
        return memo
    found: set[str] = set()
    if hidden.read_pattern is not None:
        for name in hidden.read_pattern.findall(sql):
            found |= hidden.views.get(name.lower(), frozenset())
    if hidden.write_pattern is not None and _WRITING_SQL.search(sql):
        for name in hidden.write_pattern.findall(sql):
            found |= hidden.on_write.get(name.lower(), frozenset())
    return hidden.memo.put(sql, frozenset(found))
