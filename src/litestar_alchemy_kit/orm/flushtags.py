"""The tags a flushed unit of work bumps at commit: fine where its rows are known, coarse where not.

For each row the unit of work inserted, updated or deleted, and each table the row lives in:

- the table's ``any`` tag (every read that is neither a row lookup nor a proven partition);
- the ``row`` tag of its primary key, before and after (a changed key leaves one row and enters another);
- the ``part`` tags of its tenant column value, before and after (a row moved between tenants
  changes both partitions' lists); for an UPDATE or DELETE, "before" is the value read from the
  database before the flush (:mod:`~litestar_alchemy_kit.orm.partitionread`), not the session's, which
  may be stale;
- the coarse tag of everything else that changes with the table's rows (:mod:`~litestar_alchemy_kit.orm.cascades`:
  cascading foreign keys, views, declared dependencies: rows the ORM never sees), the table's own when
  one of them leads back to it (a foreign key to its own table that cascades);
- the coarse tag of many-to-many secondary tables of the row's mapper (link rows, not tracked one by one).

A value the flush does not hold (an expired attribute, a key changed from an unloaded value) or holds
in a type the database may store differently (``"5"`` on an integer column) is unknown: the table's
coarse tag is bumped instead, which invalidates every entry reading the table. So is the value before an
UPDATE of a column the UPDATE itself rewrites without the session recording the old value (a ``Computed``
or ``server_onupdate`` column, a version counter, a Python ``onupdate`` the row did not set): the flush
puts the new value in the instance over the old one (read back with ``eager_defaults``, or computed in
Python), so which partition the row left is not known.

On a table whose SQLite conflict clauses say ``REPLACE`` (``sqlite_on_conflict`` on its primary key or a
unique constraint, a column's ``sqlite_on_conflict_primary_key`` / ``sqlite_on_conflict_unique``), an
INSERT or UPDATE deletes the rows it collides with, which the flush never sees; a ``NOT NULL ON CONFLICT
REPLACE`` fine column stores its default where the flush wrote NULL. Every insert and update of such a
table bumps its coarse tag (deletes stay fine). The clause is read from the model whatever the database:
on others it only costs hit rate.
"""

from __future__ import annotations

from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Table
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.exc import UnmappedColumnError
from sqlalchemy.sql import TableClause

from litestar_alchemy_kit.orm.cascades import changed_tags, graph_state, written_tags
from litestar_alchemy_kit.orm.dependencies import table_tag
from litestar_alchemy_kit.orm.finetags import any_tag, column_kind, part_tag, row_tag, value_token
from litestar_alchemy_kit.orm.partition import declared_partitioned, is_immutable, tenant_column_of
from litestar_alchemy_kit.orm.partitionread import MOVED_UNREAD, UNWRITTEN, verified_partitions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from sqlalchemy import MetaData
    from sqlalchemy.orm import Mapper, UOWTransaction
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.sql.schema import Column

__all__ = ("flush_bumps", "predicted_bumps")


def _cascade_tags(table: Table) -> frozenset[str]:
    """Coarse tags of what else changes when ``table``'s rows do (cascades, views, declared dependencies).

    :func:`~litestar_alchemy_kit.orm.cascades.written_tags`, without the table itself unless a dependency
    leads back to it: then other rows of the table change, which the flush does not know.
    """
    own = table_tag(table)
    tags = written_tags(table)
    return tags if own in changed_tags(table) else tags - {own}


def _secondary_tags(mapper: Mapper[Any]) -> frozenset[str]:
    tags: set[str] = set()
    for rel in mapper.relationships:
        secondary = rel.secondary
        if isinstance(secondary, Table):
            tags |= written_tags(secondary)
        elif isinstance(secondary, TableClause):
            tags.add(table_tag(secondary))
    return frozenset(tags)


_NOTHING_READ: Mapping[Table, object] = MappingProxyType({})


class _Fine(NamedTuple):
    """A column whose values name fine tags: the table's one primary key column, or its tenant column."""

    column: Column[Any]
    key: str  # the mapped attribute ("" when the mapper does not map the column: never known)
    identity: int | None  # its position in the mapper's identity, if it is part of it
    make: Callable[[str, str], str]  # row_tag or part_tag
    rewritten: bool  # every UPDATE may change it (Computed, server_onupdate, version counter): the old value is lost
    defaulted: bool  # a Python onupdate: an UPDATE that does not set it overwrites it, old value unrecorded


class _Table(NamedTuple):
    """A table of a mapper: its coarse tag, its fine columns, and whether its writes may replace other rows."""

    table: Table
    coarse: str
    fines: tuple[_Fine, ...]
    replaces: bool  # SQLite ON CONFLICT REPLACE: an INSERT or UPDATE may delete rows, or store other values


def _says_replace(clause: object) -> bool:
    return isinstance(clause, str) and clause.strip().upper() == "REPLACE"


@cache
def _replaces_rows(table: Table) -> bool:
    """Whether an INSERT or UPDATE of ``table`` may delete other rows on SQLite (a conflict clause ``REPLACE``).

    Every spelling of SQLAlchemy's SQLite dialect: ``sqlite_on_conflict`` on the primary key or a unique
    constraint, a column's ``sqlite_on_conflict_primary_key`` or ``sqlite_on_conflict_unique``. Only
    declarations are seen: a reflected table does not carry them.
    """
    if any(_says_replace(constraint.dialect_options["sqlite"]["on_conflict"]) for constraint in table.constraints):
        return True
    return any(
        _says_replace(column.dialect_options["sqlite"]["on_conflict_primary_key"])
        or _says_replace(column.dialect_options["sqlite"]["on_conflict_unique"])
        for column in table.columns
    )


@cache
def _fine_columns(mapper: Mapper[Any]) -> tuple[_Table, ...]:
    """Per table of ``mapper``: the table, its coarse tag, its fine columns and whether its writes replace rows.

    A column counts when its type renders exactly (:func:`column_kind`); a table without such
    columns only gets ``any`` bumped for its rows.
    """
    plan: list[_Table] = []
    version = mapper.version_id_col
    for table in mapper.tables:
        if not isinstance(table, Table):
            continue
        candidates: list[tuple[Column[Any], Callable[[str, str], str]]] = []
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and column_kind(pk[0]) is not None:
            candidates.append((pk[0], row_tag))
        tenant = tenant_column_of(table)
        if tenant is not None and column_kind(tenant) is not None:
            candidates.append((tenant, part_tag))
        fine: list[_Fine] = []
        for column, make in candidates:
            try:
                key = mapper.get_property_by_column(column).key
            except UnmappedColumnError:
                key = ""
            identity = next((i for i, c in enumerate(mapper.primary_key) if c.shares_lineage(column)), None)
            # a Computed column is a server_onupdate one too; a version counter is rewritten by every UPDATE
            rewritten = column.server_onupdate is not None or (version is not None and version.shares_lineage(column))
            fine.append(_Fine(column, key, identity, make, rewritten, column.onupdate is not None))
        # NOT NULL ON CONFLICT REPLACE stores the column's default where the flush wrote NULL (which tags nothing)
        replaces = _replaces_rows(table) or any(
            _says_replace(f.column.dialect_options["sqlite"]["on_conflict_not_null"]) for f in fine
        )
        plan.append(_Table(table, table_tag(table), tuple(fine), replaces))
    return tuple(plan)


def _values(
    state: InstanceState[Any], fine: _Fine, insert: bool, update: bool, verified: Mapping[Table, object] | None
) -> list[object] | None:
    """The column's value in the row now and, if the flush changed it, before; None if either is unknown.

    ``update``: the row is persistent and not deleted, so the flush may UPDATE it, changing a rewritten or
    defaulted column with no trace in ``committed_state`` (the value read back replaces the old one in the
    instance). Whether it did is not known here: a row flushed with no UPDATE (only its collections changed)
    bumps the coarse tag too, more than needed, never less.

    ``verified``: the row's tenant values read from the database before its UPDATE or DELETE
    (:mod:`~litestar_alchemy_kit.orm.partitionread`), by table; ``None`` to take the session's (a prediction).
    """
    if not fine.key:
        return None
    if update and (fine.rewritten or (fine.defaulted and fine.key not in state.committed_state)):
        return None
    if verified is not None and not insert and fine.make is part_tag and not is_immutable(fine.column):
        return _read_values(state, fine, verified)
    return _session_values(state, fine, insert)


def _read_values(state: InstanceState[Any], fine: _Fine, verified: Mapping[Table, object]) -> list[object] | None:
    """The tenant value the row had in the database before the flush, and the one the flush set if it changed it."""
    table: Any = fine.column.table
    if table not in verified:
        return None  # not read: the session's value may be stale
    read = verified[table]
    if read is UNWRITTEN:
        return []  # the flush does not write the row: no partition changes
    if read is MOVED_UNREAD:
        return None  # moved where the partitions could not be read (a SQL expression, a later listener)
    return [read, state.dict.get(fine.key)] if fine.key in state.committed_state else [read]


def _session_values(state: InstanceState[Any], fine: _Fine, insert: bool) -> list[object] | None:
    """The column's value in the session now and, if changed since loaded, as loaded; None if either is unknown."""
    current = state.dict.get(fine.key, NO_VALUE)
    if current is NO_VALUE and fine.identity is not None and state.key is not None:
        current = state.key[1][fine.identity]  # an expired primary key: the identity still holds it
    if current is NO_VALUE:
        return None
    values = [current]
    if not insert and fine.key in state.committed_state:
        before = state.committed_state[fine.key]
        if before is NO_VALUE:
            return None
        values.append(before)
    return values


class _Plan(NamedTuple):
    """What a row of a mapper bumps whatever its values.

    Per table: its coarse tag, the tags every row bumps, its fine columns; and the tags of the mapper's link
    and non-``Table`` tables.
    """

    tables: tuple[tuple[str, frozenset[str], tuple[_Fine, ...], bool], ...]  # coarse, every row, fines, replaces
    extra: frozenset[str]


_plans: dict[Mapper[Any], tuple[tuple[tuple[int, int, int], int], _Plan]] = {}


def _plan(mapper: Mapper[Any], graph: tuple[int, int, int], metadata: list[MetaData]) -> _Plan:
    """``mapper``'s plan, memoized while the dependency graph is in the state ``graph`` (its closures' own memo key).

    Built per row otherwise, as before: a mapper with a table of a ``MetaData`` the state does not cover.
    """
    partitioned = declared_partitioned()
    state = (graph, len(partitioned))  # the set only grows: its size tells whether a table was added to it
    memo = _plans.get(mapper)
    if memo is not None and memo[0] == state:
        return memo[1]
    fine_columns = _fine_columns(mapper)
    plan = _Plan(
        tuple(
            (
                coarse,
                # views read inserted rows; a table another mapping declares the tenant of, when this one does not:
                # which partitions its rows leave or enter is not known here, and reads there depend on them
                frozenset(
                    {
                        any_tag(coarse),
                        *_cascade_tags(table),
                        *((coarse,) if coarse in partitioned and tenant_column_of(table) is None else ()),
                    }
                ),
                fines,
                replaces,
            )
            for table, coarse, fines, replaces in fine_columns
        ),
        _secondary_tags(mapper) | _other_tags(mapper),
    )
    tables = [entry.table for entry in fine_columns]
    tables.extend(rel.secondary for rel in mapper.relationships if isinstance(rel.secondary, Table))
    if all(any(table.metadata is meta for meta in metadata) for table in tables):
        _plans[mapper] = (state, plan)
    return plan


def _row_bumps(
    state: InstanceState[Any],
    isdelete: bool,
    tags: set[str],
    plan: _Plan,
    verified: Mapping[Table, object] | None = None,
) -> None:
    insert = state.key is None and not isdelete
    update = not insert and not isdelete
    for coarse, every_row, fines, replaces in plan.tables:
        tags.update(every_row)
        if replaces and not isdelete:
            tags.add(coarse)  # the rows it replaced are not known
            continue
        for fine in fines:
            values = _values(state, fine, insert, update, verified)
            # NULL equals nothing: no read is restricted to it, so it needs no tag
            tokens = None if values is None else [value_token(fine.column, v) for v in values if v is not None]
            if tokens is None or None in tokens:
                tags.add(coarse)  # which rows or partitions this write touched is not known exactly
                break
            tags.update(fine.make(coarse, token) for token in tokens if token is not None)
    tags.update(plan.extra)


@cache
def _switched_tags(mapper: Mapper[Any]) -> frozenset[str]:
    """Coarse tags of the mapper's tenant-owned tables, for an instance a row switch replaced.

    A flush that deletes an instance and adds one with its primary key saves the pair as one UPDATE of the
    stored row, and leaves the deleted instance unwritten (list-only: the only deleted state SQLAlchemy
    registers so). Nothing reads the partition the stored row was in (no ``before_update`` runs), and the new
    instance's values name only the one it enters, immutable tenant or not.
    """
    return frozenset(coarse for _, coarse in _tenant_tables(mapper))


@cache
def _tenant_tables(mapper: Mapper[Any]) -> tuple[tuple[Table, str], ...]:
    """The mapper's tables with a tenant column that has fine tags, and their coarse tags."""
    return tuple(
        (table, coarse) for table, coarse, fines, _ in _fine_columns(mapper) if any(f.make is part_tag for f in fines)
    )


@cache
def _other_tags(mapper: Mapper[Any]) -> frozenset[str]:
    """Coarse tags of the mapper's tables that are not plain tables (``table()`` clauses): no fine tags there."""
    return frozenset(table_tag(table) for table in mapper.tables if not isinstance(table, Table))


def flush_bumps(flush_context: UOWTransaction) -> set[str]:
    """Every tag the flush's writes require bumping at commit (see the module doc)."""
    tags: set[str] = set()
    states: dict[InstanceState[Any], tuple[bool, bool]] = flush_context.states  # pyright: ignore[reportAssignmentType,reportUnknownMemberType]
    graph, metadata = graph_state()  # once per flush: the plans of its mappers are reused while it holds
    verified = verified_partitions(flush_context.session)
    for state, (isdelete, listonly) in states.items():
        if listonly:
            # registered for its collections only: its own row is not written, link rows may be
            tags.update(_secondary_tags(state.mapper))
            if isdelete:
                tags.update(_switched_tags(state.mapper))
            continue
        _row_bumps(state, isdelete, tags, _plan(state.mapper, graph, metadata), verified.get(state, _NOTHING_READ))
    _post_update_bumps(flush_context, verified, tags)
    return tags


def _post_update_bumps(
    flush_context: UOWTransaction, verified: Mapping[InstanceState[Any], Mapping[Table, object]], tags: set[str]
) -> None:
    """The coarse tag of each tenant-owned table a ``post_update`` rewrote rows of that were read as unwritten.

    A one-to-many relationship with ``post_update=True`` sets the children's foreign key in a second UPDATE, after
    their own saves and with no mapper event: a child otherwise unchanged was found unwritten (no partition
    bumped), yet its row changes, and with a foreign key holding the tenant it moves. A child written anyway is
    bumped from the values the flush leaves it (the foreign key's among its changes), as any row.
    """
    post_updates = cast(
        "Mapping[Any, tuple[set[InstanceState[Any]], set[Column[Any]]]]",
        flush_context.post_update_states,  # pyright: ignore[reportUnknownMemberType]
    )
    for states, _ in post_updates.values():
        for state in states:
            read = verified.get(state, _NOTHING_READ)
            tags.update(coarse for table, coarse in _tenant_tables(state.mapper) if read.get(table) is UNWRITTEN)


def predicted_bumps(states: Iterable[tuple[InstanceState[Any], bool]]) -> set[str]:
    """What :func:`flush_bumps` will find for these ``(state, isdelete)`` pairs, known before the flush runs.

    The rows a session holds as new, dirty or deleted have their fine values already, except new rows
    whose values the flush itself generates (a default primary key): such a row would predict its
    table's coarse tag where the flush finds its fine tags, so it is left out (the caller marks what
    the flush writes beyond the prediction). The flush may also write rows no session list holds
    (delete-orphans, link rows, what ``before_flush`` adds): a prediction is a head start, never the
    whole answer.
    """
    tags: set[str] = set()
    graph, metadata = graph_state()
    for state, isdelete in states:
        plan = _plan(state.mapper, graph, metadata)
        if state.key is None and not isdelete:
            row: set[str] = set()
            _row_bumps(state, isdelete, row, plan)
            if any(coarse in row for coarse, _, _, _ in plan.tables):
                continue  # a value the flush generates: its fine tags are known after it
            tags |= row
        else:
            _row_bumps(state, isdelete, tags, plan)
    return tags
