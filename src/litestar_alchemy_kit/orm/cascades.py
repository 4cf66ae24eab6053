"""What else changes when a table's rows change: dependencies the model metadata does not show.

A write to a table also changes:

- tables whose foreign keys cascade from it (``ON DELETE`` / ``ON UPDATE`` ``CASCADE``, ``SET NULL``,
  ``SET DEFAULT``), declared in *any* ``MetaData`` this process knows (every ORM registry's, those
  passed to :func:`declare_metadata`) or reflected from the database (:func:`reflect_dependencies`);
- views that read it: declared on the model mapped onto the view (:func:`view_of`), or reflected
  from the database's view definitions where the dialect exposes them;
- anything a trigger or another hidden mechanism changes: :func:`declare_dependency`;
- views whose definition calls a database function that reads it (:mod:`~litestar_alchemy_kit.orm.functions`).

A write *to* a view (an updatable one, or one with ``INSTEAD OF`` triggers) writes the tables it reads: they are
where its closure starts, besides the view. Only the written view's: a view changed by a write to one of its
tables does not write its other tables.

``"*"`` in the graph is every table: a view whose definition cannot be analysed reads it (every write changes the
view) and a write through it writes it, and a table whose triggers write tables no one can tell changes it. A
closure reaching it holds the raw tag ``"*"``, which the callers turn into a write of the whole namespace.

The graph is keyed by table name, schemas aside, as tags are (:func:`~litestar_alchemy_kit.orm.dependencies.table_tag`),
so two schemas holding the same table name share their dependencies: an over-approximation (an extra
invalidation), never a missing one. A view
definition that cannot be analysed makes the view depend on every table (conservative).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import mapperlib

from litestar_alchemy_kit.orm import functions
from litestar_alchemy_kit.orm.dependencies import legacy_tags, name_tag, table_tag
from litestar_alchemy_kit.orm.functionreflect import reflect_functions, reflect_write_calls

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine.reflection import Inspector

__all__ = (
    "VIEW_INFO_KEY",
    "changed_tags",
    "declare_dependency",
    "declare_metadata",
    "forget_dependencies",
    "generation",
    "graph_state",
    "name_tags",
    "reflect_dependencies",
    "view_of",
    "written_tags",
)

VIEW_INFO_KEY: Final = "litestar_alchemy_kit.view_of"
"""Key in ``Table.info`` naming the tables a view reads (set by :func:`view_of`)."""

_INERT_ACTIONS: Final = frozenset({"", "NO ACTION", "RESTRICT"})


def _cascades(*actions: object) -> bool:
    """Whether a foreign key action writes the referring rows: anything but none, ``NO ACTION`` and ``RESTRICT``.

    Compared as the database reads them (case and runs of blanks aside), and any other action counts: ``SET NULL
    (col)`` (PostgreSQL 15), a phrase spelled ``SET  NULL``, one this list does not know yet.
    """
    return any(" ".join(str(action or "").split()).upper() not in _INERT_ACTIONS for action in actions)


_ALL: Final = "*"

_lock = threading.Lock()
_metadata: list[MetaData] = []
_declared: dict[str, set[str]] = {}  # written table name -> names of what else changes
_reflected: dict[str, set[str]] = {}
_reflected_bases: dict[str, set[str]] = {}  # view name -> the relations it reads (a write to it writes them)
_reflected_kinds: dict[str, set[bool]] = {}  # relation name -> whether it is a view, per schema reflected
_generation = 0
_PG_INHERITS: Final = (
    "SELECT parent.relname, child.relname FROM pg_inherits i JOIN pg_class parent ON parent.oid = i.inhparent "
    "JOIN pg_class child ON child.oid = i.inhrelid JOIN pg_namespace n ON n.oid = parent.relnamespace "
    "WHERE n.nspname = COALESCE(:schema, current_schema())"
)
_memo: dict[tuple[object, ...], frozenset[str]] = {}
_memo_state: tuple[int, int, int] = (-1, -1, -1)


def _name(table_name: str) -> str:
    return table_name.lower()


def view_of(*tables: Table | str) -> dict[str, Any]:
    """``Table.info`` for a model mapped onto a database view: writes to ``tables`` change the view.

    Example::

        class ActiveUser(Base):
            __tablename__ = "active_users"  # a view over "users"
            __table_args__ = {"info": view_of("users")}

    Args:
        *tables: the tables (or table names) the view reads.

    Returns:
        The ``info`` dict to pass to the view's table.
    """
    return {VIEW_INFO_KEY: tuple(t.name if isinstance(t, Table) else t.rsplit(".", 1)[-1] for t in tables)}


def declare_dependency(written: Table | str, *changed: Table | str) -> None:
    """Declare that writing ``written`` changes ``changed`` (a trigger, a rule, a materialized copy...).

    Args:
        written: the table whose writes have the hidden effect.
        *changed: the tables (or views) those writes change.
    """
    global _generation  # noqa: PLW0603 - the memo below depends on the declarations
    key = _name(written.name if isinstance(written, Table) else written.rsplit(".", 1)[-1])
    with _lock:
        _declared.setdefault(key, set()).update(
            _name(t.name if isinstance(t, Table) else t.rsplit(".", 1)[-1]) for t in changed
        )
        _generation += 1


def forget_dependencies() -> None:
    """Forget every declared and reflected dependency (tests; a process that reflects again after a migration)."""
    global _generation  # noqa: PLW0603
    with _lock:
        _declared.clear()
        _reflected.clear()
        _reflected_bases.clear()
        _reflected_kinds.clear()
        _generation += 1
    functions.forget_functions()


def declare_metadata(metadata: MetaData) -> None:
    """Make the foreign keys and views of a ``MetaData`` that no ORM registry holds count (idempotent)."""
    global _generation  # noqa: PLW0603
    with _lock:
        if not any(known is metadata for known in _metadata):
            _metadata.append(metadata)
            _generation += 1


def generation() -> int:
    """Changes whenever the dependency graph may have: a declaration, a reflection, a new ORM registry.

    Callers memoizing tags per mapper key their memo by it (cheap: no graph is built).
    """
    return _state_generation() * 1_000_003 + len(mapperlib._mapper_registries)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001


def graph_state() -> tuple[tuple[int, int, int], list[MetaData]]:
    """The state the memo of closures is valid for (see :func:`_closure`), and the ``MetaData`` objects it covers.

    A caller memoizing closures of tables whose ``MetaData`` is among them may reuse them while the state
    is unchanged: the closures would come from the same memo.
    """
    metadata = _all_metadata()
    return (_state_generation(), len(metadata), sum(len(meta.tables) for meta in metadata)), metadata


def _state_generation() -> int:
    """Declarations and reflections here and of functions (views calling them): both change the graph."""
    return _generation + functions.generation()


def _all_metadata(extra: MetaData | None = None) -> list[MetaData]:
    # By identity, in a dict: a process with many registries (a test suite's) must not pay for their pairs.
    found: dict[int, MetaData] = {} if extra is None else {id(extra): extra}
    for registry in mapperlib._all_registries():  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        found.setdefault(id(registry.metadata), registry.metadata)
    for metadata in _metadata:
        found.setdefault(id(metadata), metadata)
    return list(found.values())


def _fk_target(fullname: str) -> str:
    """``schema.table.column`` / ``table.column`` -> the bare table name."""
    parts = fullname.split(".")
    return _name(parts[-2]) if len(parts) >= 2 else ""  # noqa: PLR2004


class _Graph(NamedTuple):
    edges: dict[str, set[str]]  # a write to X changes Y
    bases: dict[str, set[str]]  # a write to X writes Y: a view's bases, a parent table's children
    runs: dict[str, set[str]]  # what a write to X runs (DEFAULTs, triggers, rules) writes
    views: set[str]  # names that are only ever views: a change to them writes no row, and runs nothing


def _graph(metadata: Iterable[MetaData]) -> _Graph:
    """The dependency graph by relation name (see :class:`_Graph`)."""
    edges: dict[str, set[str]] = {}
    bases: dict[str, set[str]] = {view: set(read) for view, read in _reflected_bases.items()}
    # a view's name: reflected as a view (or declared with view_of on a model) and never as a table in any schema;
    # a model's table neither declared nor reflected a view is taken for a table (its triggers run on any change)
    views = {name for name, kinds in _reflected_kinds.items() if kinds == {True}}
    tables = {name for name, kinds in _reflected_kinds.items() if False in kinds}
    for meta in metadata:
        for table in meta.tables.values():
            for fk in table.foreign_keys:
                if _cascades(fk.ondelete, fk.onupdate):
                    edges.setdefault(_fk_target(fk.target_fullname), set()).add(_name(table.name))
            for base in table.info.get(VIEW_INFO_KEY, ()):
                edges.setdefault(_name(base), set()).add(_name(table.name))
                bases.setdefault(_name(table.name), set()).add(_name(base))
            if VIEW_INFO_KEY in table.info:
                views.add(_name(table.name))
    for source in (_declared, _reflected, functions.graph_edges()):
        for written, changed in source.items():
            edges.setdefault(written, set()).update(changed)
    return _Graph(edges, bases, functions.write_call_edges(), views - tables)


def _written_through(start: str, bases: dict[str, set[str]]) -> set[str]:
    """``start`` and, if it is a view, the relations a write to it writes (through views of views)."""
    written = {start}
    todo = [start]
    while todo:
        for base in bases.get(todo.pop(), ()):
            if base not in written:
                written.add(base)
                todo.append(base)
    return written


def _closure(start: str, extra: MetaData | None, *, itself: bool = True) -> frozenset[str]:
    """Tags of ``start`` (unless ``itself`` is False: only when an edge leads back to it) and of what it changes."""
    global _memo_state  # noqa: PLW0603
    metadata = _all_metadata(extra)
    state = (_state_generation(), len(metadata), sum(len(meta.tables) for meta in metadata))
    with _lock:
        if state != _memo_state:
            _memo.clear()
            _memo_state = state
        # the MetaData itself, not its id(): a collected one's id is reused by the next (its closure is another)
        memo_key = (start, extra, itself)
        found = _memo.get(memo_key)
    if found is not None:
        return found
    edges, bases, runs, views = _graph(metadata)
    # a write to a view writes its tables: they are written, not merely changed (so itself or not, they count)
    written = _written_through(start, bases)
    names: set[str] = written - ({start} if not itself else set())
    todo = list(written)
    # views whose definition could not be analysed may read any table: every write changes them
    for changed in edges.get(_ALL, ()):
        names.add(changed)
        todo.append(changed)
    while todo:
        node = todo.pop()
        reached = set(edges.get(node, ()))
        # what a relation's DEFAULTs, triggers and rules write, when its rows are written: a table's whenever it
        # changes, a view's only when written (a write to its tables changes it, and runs none of its triggers)
        if node not in views or node in written:
            for target in runs.get(node, ()):
                through = _written_through(target, bases)
                now = through - written
                written |= now
                reached |= through
                todo.extend(now & names)  # reached before as merely changed: now written, its own runs count
        for changed in reached:
            if changed not in names:
                names.add(changed)
                todo.append(changed)
    # a name's one tag covers every table of that name, in any schema (table_tag leaves the schema out); "*" reached
    # (a trigger whose writes cannot be told, a view whose bases cannot) is every table: the raw "*" that the
    # callers turn into a write of the whole namespace
    result = frozenset(name_tag(name) if name != _ALL else _ALL for name in names)
    with _lock:
        _memo[memo_key] = result
    return result


def written_tags(table: Table) -> frozenset[str]:
    """Tags of ``table`` and of everything its writes change, transitively (see the module doc)."""
    own = frozenset({table_tag(table)}) | legacy_tags(table.name, table.schema)
    return own | _closure(_name(table.name), table.metadata)


def changed_tags(table: Table) -> frozenset[str]:
    """Tags of what a write to ``table`` changes besides the rows it writes (see the module doc), transitively.

    ``table``'s own tag is among them when a dependency leads back to it: a foreign key to its own
    table that cascades (deleting a parent deletes its children), or a trigger declared on itself.
    """
    return _closure(_name(table.name), table.metadata, itself=False)


def name_tags(name: str, schema: str | None = None) -> frozenset[str]:
    """Tags a write to the table called ``name`` (raw SQL: no ``Table`` object) may change, in any schema.

    The table's tag (a tag names no schema), what its writes change, and the tags an earlier version gave
    ``schema.name`` (:func:`~litestar_alchemy_kit.orm.dependencies.legacy_tags`).
    """
    return _closure(_name(name), None) | legacy_tags(name, schema)


def reflect_dependencies(connection: Connection, schema: str | None = None) -> int:
    """Learn cascading foreign keys, view definitions and function bodies from the database (sync; ``run_sync`` on async).

    Foreign keys with cascading actions and, where the dialect exposes them, view definitions: a view
    depends on every table its definition names (parsed with ``sqlglot``, the ``sql`` extra; without
    it, on every table whose name appears in the definition), and on what the functions it calls read.
    Functions' bodies where the database shows them (PostgreSQL, MySQL, MariaDB; see
    ``litestar_alchemy_kit.orm.functionreflect``): a read calling a function depends on the tables
    its body reads, and one calling a function that writes (directly, through a view, or through a written
    table's column ``DEFAULT`` or trigger: PostgreSQL, MySQL, MariaDB, SQLite) is a write of what it writes.

    Args:
        connection: a connection to the database.
        schema: the schema to reflect (``None``: the default one).

    Returns:
        The number of dependencies learnt.
    """
    global _generation  # noqa: PLW0603
    inspector = inspect(connection)
    learnt: dict[str, set[str]] = {}
    written_through: dict[str, set[str]] = {}
    table_names = list(inspector.get_table_names(schema=schema))
    view_names = list(inspector.get_view_names(schema=schema))
    for referred, table_name in _cascading(inspector, table_names, schema):
        learnt.setdefault(referred, set()).add(table_name)
    known = [*table_names, *view_names]
    kinds = [(_name(name), False) for name in table_names] + [(_name(name), True) for name in view_names]
    for view_name in view_names:
        try:
            definition = inspector.get_view_definition(view_name, schema=schema)
        except NotImplementedError:
            definition = None
        bases = _view_bases(str(definition or ""), known, connection.dialect.name)
        for base in bases:
            learnt.setdefault(base, set()).add(_name(view_name))
            # a write through an updatable view writes its base tables (and runs their triggers); through one
            # whose bases cannot be told, anything ("*")
            written_through.setdefault(_name(view_name), set()).add(base)
        functions.note_view_calls(view_name, str(definition or ""), bases)
    for parent, child in _children(connection, schema):
        written_through.setdefault(parent, set()).add(child)
        learnt.setdefault(child, set()).add(parent)  # a write to a partition (or child) changes its parent's reads
    functions_learnt = reflect_functions(connection, schema) + reflect_write_calls(connection, schema)
    with _lock:
        for written, changed in learnt.items():
            _reflected.setdefault(written, set()).update(changed)
        for view, read in written_through.items():
            _reflected_bases.setdefault(view, set()).update(read)
        for name, is_view in kinds:
            _reflected_kinds.setdefault(name, set()).add(is_view)
        _generation += 1
    return sum(len(changed) for changed in learnt.values()) + functions_learnt


def _cascading(inspector: Inspector, table_names: list[str], schema: str | None) -> list[tuple[str, str]]:
    """(referred, referring) of each foreign key whose actions cascade (a write to the first changes the second)."""
    found: list[tuple[str, str]] = []
    for table_name in table_names:
        for fk in inspector.get_foreign_keys(table_name, schema=schema):
            options = fk.get("options") or {}
            if _cascades(options.get("ondelete"), options.get("onupdate")):
                found.append((_name(fk["referred_table"]), _name(table_name)))
    return found


def _children(connection: Connection, schema: str | None) -> list[tuple[str, str]]:
    """PostgreSQL: (parent, child) of each partition and inheriting table: a write to the parent writes the child."""
    if connection.dialect.name != "postgresql":
        return []
    return [
        (_name(str(parent)), _name(str(child)))
        for parent, child in connection.execute(text(_PG_INHERITS), {"schema": schema})
    ]


def _view_bases(definition: str, known: list[str], dialect_name: str) -> set[str]:
    if not definition.strip():
        return {_ALL}  # a view whose definition the database does not show may read anything
    try:
        from litestar_alchemy_kit.orm._sqlparse import referenced_tables  # noqa: PLC0415 - optional extra
    except ImportError:
        lowered = definition.lower()
        return {_name(name) for name in known if _name(name) in lowered}
    names = referenced_tables(definition, dialect_name)
    return {_ALL} if names is None else {_name(name) for _, name in names}
