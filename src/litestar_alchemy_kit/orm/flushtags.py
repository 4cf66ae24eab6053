"""The tags a flushed unit of work bumps at commit: fine where its rows are known, coarse where not.

For each row the unit of work inserted, updated or deleted, and each table the row lives in:

- the table's ``any`` tag (every read that is neither a row lookup nor a proven partition);
- the ``row`` tag of its primary key, before and after (a changed key leaves one row and enters another);
- the ``part`` tags of its tenant column value, before and after (a row moved between tenants
  changes both partitions' lists);
- the coarse tag of everything else that changes with the table's rows (:mod:`~litestar_alchemy_kit.orm.cascades`:
  cascading foreign keys, views, declared dependencies: rows the ORM never sees), the table's own when
  one of them leads back to it (a foreign key to its own table that cascades);
- the coarse tag of many-to-many secondary tables of the row's mapper (link rows, not tracked one by one).

A value the flush does not hold (an expired attribute, a key changed from an unloaded value) or holds
in a type the database may store differently (``"5"`` on an integer column) is unknown: the table's
coarse tag is bumped instead, which invalidates every entry reading the table.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Table
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.exc import UnmappedColumnError
from sqlalchemy.sql import TableClause

from litestar_alchemy_kit.orm.cascades import changed_tags, written_tags
from litestar_alchemy_kit.orm.dependencies import table_tag
from litestar_alchemy_kit.orm.finetags import any_tag, column_kind, part_tag, row_tag, value_token
from litestar_alchemy_kit.orm.partition import tenant_column_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Mapper, UOWTransaction
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.sql.schema import Column

__all__ = ("flush_bumps",)


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


class _Fine(NamedTuple):
    """A column whose values name fine tags: the table's one primary key column, or its tenant column."""

    column: Column[Any]
    key: str  # the mapped attribute ("" when the mapper does not map the column: never known)
    identity: int | None  # its position in the mapper's identity, if it is part of it
    make: Callable[[str, str], str]  # row_tag or part_tag


@cache
def _fine_columns(mapper: Mapper[Any]) -> tuple[tuple[Table, str, tuple[_Fine, ...]], ...]:
    """Per table of ``mapper``: the table, its coarse tag and its fine columns.

    A column counts when its type renders exactly (:func:`column_kind`); a table without such
    columns only gets ``any`` bumped for its rows.
    """
    plan: list[tuple[Table, str, tuple[_Fine, ...]]] = []
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
            fine.append(_Fine(column, key, identity, make))
        plan.append((table, table_tag(table), tuple(fine)))
    return tuple(plan)


def _values(state: InstanceState[Any], fine: _Fine, insert: bool) -> list[object] | None:
    """The column's value in the row now and, if the flush changed it, before; None if either is unknown."""
    if not fine.key:
        return None
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


def _row_bumps(state: InstanceState[Any], isdelete: bool, tags: set[str]) -> None:
    mapper = state.mapper
    insert = state.key is None and not isdelete
    for table, coarse, fines in _fine_columns(mapper):
        tags.add(any_tag(coarse))
        tags.update(_cascade_tags(table))  # views read inserted rows too
        for fine in fines:
            values = _values(state, fine, insert)
            # NULL equals nothing: no read is restricted to it, so it needs no tag
            tokens = None if values is None else [value_token(fine.column, v) for v in values if v is not None]
            if tokens is None or None in tokens:
                tags.add(coarse)  # which rows or partitions this write touched is not known exactly
                break
            tags.update(fine.make(coarse, token) for token in tokens if token is not None)
    tags.update(_secondary_tags(mapper))
    tags.update(_other_tags(mapper))


@cache
def _other_tags(mapper: Mapper[Any]) -> frozenset[str]:
    """Coarse tags of the mapper's tables that are not plain tables (``table()`` clauses): no fine tags there."""
    return frozenset(table_tag(table) for table in mapper.tables if not isinstance(table, Table))


def flush_bumps(flush_context: UOWTransaction) -> set[str]:
    """Every tag the flush's writes require bumping at commit (see the module doc)."""
    tags: set[str] = set()
    states: dict[InstanceState[Any], tuple[bool, bool]] = flush_context.states  # pyright: ignore[reportAssignmentType,reportUnknownMemberType]
    for state, (isdelete, listonly) in states.items():
        if listonly:
            # registered for its collections only: its own row is not written, link rows may be
            tags.update(_secondary_tags(state.mapper))
            continue
        _row_bumps(state, isdelete, tags)
    return tags
