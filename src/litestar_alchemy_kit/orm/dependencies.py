"""Which tables a query reads through the ORM: inheritance, column properties and eager loads.

Everything here over-approximates on purpose: a spurious tag only costs an extra invalidation,
a missing one serves stale data.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Table
from sqlalchemy.sql import TableClause
from sqlalchemy.sql.elements import ColumnClause, TextClause
from sqlalchemy.sql.selectable import AliasedReturnsRows, SelectBase
from sqlalchemy.sql.util import find_tables
from sqlalchemy.sql.visitors import iterate

from litestar_alchemy_kit.orm.rawtext import raw_sql_reasons

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Mapper, RelationshipProperty
    from sqlalchemy.sql.elements import ClauseElement

__all__ = (
    "EAGER_STRATEGIES",
    "entity_tags",
    "expression_tags",
    "indirect_tags",
    "legacy_tags",
    "loaded_tags",
    "mapper_raw_sql",
    "mapper_tags",
    "name_tag",
    "order_by_clauses",
    "relationship_raw_sql",
    "relationship_tags",
    "table_tag",
    "target_tags",
)

EAGER_STRATEGIES = frozenset({"joined", "selectin", "subquery", "immediate", False})
"""``relationship(lazy=...)`` values that load the related rows together with the parent."""


def table_tag(table: Table | TableClause) -> str:
    """Return the invalidation tag of a table: ``"t:"`` plus its bare name in lower case, schema left out.

    Invariant 1 is enforced here: every spelling of one database table must share its tags, or a write
    through one leaves cached reads through another stale. The bare name and the name qualified with the
    default schema (``public``, the connection's database, ``main``), a write under a
    ``schema_translate_map``, another case where the database matches names case-insensitively, a
    mapping only another process holds: one tag, fine tags included (they are built on it). Writes need
    not know the other spellings, and reads depend on one tag per table. Tables of one name in different
    schemas share it: more invalidation, never less. The cache *key* still tells them apart
    (the statement fingerprint encodes the schema).

    Writes and reads must agree on it: every tag of a table is named here or by ``name_tag``.

    Args:
        table: The table (or lightweight ``table()`` clause).

    Returns:
        The tag string.
    """
    return name_tag(table.name)


@lru_cache(maxsize=4096)
def legacy_tags(name: str, schema: str | None = None) -> frozenset[str]:
    """The tags statement format 1 gave the table ``schema.name``, where they differ from :func:`name_tag`'s.

    Format 1 named a table by its schema-qualified name in its own case. Writes bump these beside the
    table's tag, so that during a rolling deploy the entries of processes still on format 1, which depend
    on them, see this version's writes (invariant 1 across versions; :mod:`litestar_alchemy_kit.formats`).
    Coarse tags only: those entries lose their fine tags' precision for the deploy's duration.
    """
    spellings = {name, f"{schema}.{name}"} if schema else {name}
    current = name_tag(name)
    return frozenset(
        tag for tag in ("t:" + s.replace("%", "%25").replace(":", "%3A") for s in spellings) if tag != current
    )


def name_tag(name: str) -> str:
    """The tag of the table called ``name`` (bare: a schema is no part of a tag), as :func:`table_tag` names it.

    ``:`` separates a tag's parts (``t:users:any``, ``t:users:row=...``), so it is escaped in the
    name, and ``%`` with it: a table called ``users:any`` must not share a tag with the ``any`` reads
    of ``users``, nor be taken for one of them (invariant 1).
    """
    return "t:" + name.lower().replace("%", "%25").replace(":", "%3A")


def expression_tags(element: ClauseElement | None) -> frozenset[str]:
    """Tags of every table referenced anywhere inside a SQL expression.

    Args:
        element: Any clause (join condition, column property, selectable) or None.

    Returns:
        The table tags.
    """
    if element is None:
        return frozenset()
    tables: list[Any] = find_tables(element, check_columns=True)
    # a loose ``literal_column()`` / ``column()`` has no table
    return frozenset(table_tag(t) for t in tables if isinstance(t, TableClause))


@lru_cache(maxsize=4096)
def _own_tags(mapper: Mapper[Any]) -> frozenset[str]:
    """Tables the mapper's rows come from: inheritance chain, subclasses, column property expressions."""
    tags: set[str] = set()
    for sub in mapper.self_and_descendants:
        tags.update(table_tag(t) for t in sub.tables)
        tags.update(expression_tags(sub.persist_selectable))
        for prop in sub.column_attrs:
            for column in prop.columns:
                tags.update(expression_tags(column))
    return frozenset(tags)


@lru_cache(maxsize=4096)
def relationship_tags(prop: RelationshipProperty[Any]) -> frozenset[str]:
    """Tables read to load one relationship, plus the eager defaults of its target, recursively.

    Args:
        prop: The relationship.

    Returns:
        The table tags.
    """
    return _relationship_closure(prop, set())


def _relationship_closure(prop: RelationshipProperty[Any], seen: set[Mapper[Any]]) -> frozenset[str]:
    tags: set[str] = set()
    if prop.secondary is not None:
        tags.update(expression_tags(prop.secondary))
    tags.update(expression_tags(prop.primaryjoin))
    tags.update(expression_tags(prop.secondaryjoin))
    tags.update(target_tags(prop))
    for clause in order_by_clauses(prop):
        tags.update(expression_tags(clause))
    tags.update(_closure(prop.mapper, seen))
    return frozenset(tags)


def order_by_clauses(prop: RelationshipProperty[Any]) -> tuple[ClauseElement, ...]:
    """The relationship's ``order_by`` expressions (none when it has no ``order_by``)."""
    clauses: Any = prop.order_by
    return tuple(clauses) if clauses else ()  # pyright: ignore[reportUnknownArgumentType]


def target_tags(prop: RelationshipProperty[Any]) -> frozenset[str]:
    """Tables the relationship's target reads beyond its mapper: an aliased class's selectable.

    A relationship to ``aliased(B, select(B).where(...).subquery())`` loads rows through that subquery,
    which may read any table, the parent's included; its join condition names only the alias's columns.
    """
    return entity_tags(prop.entity)


def entity_tags(entity: Any) -> frozenset[str]:
    """Tables an aliased entity's selectable reads (an empty set for a mapper: its own tags name them).

    Args:
        entity: A mapper or an ``AliasedInsp`` (a step of a loader path, a relationship's entity).

    Returns:
        The table tags.
    """
    if getattr(entity, "is_aliased_class", False):
        return expression_tags(entity.selectable)
    return frozenset()


def _closure(mapper: Mapper[Any], seen: set[Mapper[Any]]) -> frozenset[str]:
    if mapper in seen:
        return frozenset()
    seen.add(mapper)
    tags = set(_own_tags(mapper))
    for sub in mapper.self_and_descendants:
        for prop in sub.relationships:
            if prop.lazy in EAGER_STRATEGIES:
                tags.update(_relationship_closure(prop, seen))
    return frozenset(tags)


@lru_cache(maxsize=4096)
def mapper_tags(mapper: Mapper[Any], *, eager: bool = True, all_relationships: bool = False) -> frozenset[str]:
    """Tables read when loading entities of ``mapper``.

    Args:
        mapper: The mapper.
        eager: Follow relationships whose ``lazy=`` default loads eagerly (recursively).
        all_relationships: Follow every relationship (a ``"*"`` loader option may load any).

    Returns:
        The table tags.
    """
    if not eager:
        return _own_tags(mapper)
    tags = set(_closure(mapper, set()))
    if all_relationships:
        for sub in mapper.self_and_descendants:
            for prop in sub.relationships:
                tags.update(relationship_tags(prop))
    return frozenset(tags)


@lru_cache(maxsize=4096)
def indirect_tags(mapper: Mapper[Any], *, eager: bool = True, all_relationships: bool = False) -> frozenset[str]:
    """Tables read when loading entities of ``mapper`` other than through the rows of its own tables.

    Subclass tables, column property expressions (a correlated subquery over the mapper's own table
    counts), and the relationships :func:`mapper_tags` follows. A table here is read in ways a
    ``WHERE`` on the statement does not restrict, so it never counts as restricted to a partition.

    Args:
        mapper: The mapper.
        eager: Follow relationships whose ``lazy=`` default loads eagerly.
        all_relationships: Follow every relationship.

    Returns:
        The table tags.
    """
    own = set(mapper.tables)
    tags: set[str] = set()
    for sub in mapper.self_and_descendants:
        tags.update(table_tag(t) for t in sub.tables if t not in own)
        if not isinstance(sub.persist_selectable, Table):
            tags.update(expression_tags(sub.persist_selectable))
        for prop in sub.column_attrs:
            for column in prop.columns:
                if not (isinstance(column, Column) and column.table in own):
                    tags.update(expression_tags(column))
        for rel in sub.relationships:
            if all_relationships:
                tags.update(relationship_tags(rel))
            elif eager and rel.lazy in EAGER_STRATEGIES:
                tags.update(loaded_tags(rel))
    return frozenset(tags)


@lru_cache(maxsize=4096)
def loaded_tags(prop: RelationshipProperty[Any]) -> frozenset[str]:
    """Tables read to load one relationship for parents the statement already loaded.

    :func:`relationship_tags`, except the parent's own tables when nothing but the join condition
    names them: the loader reads them (if at all) only for the parents' own rows, which the
    statement's restriction already covers. The target's mapper, an aliased target's selectable, a
    secondary table and the subqueries of the join condition and ``order_by`` read any rows.

    Args:
        prop: The relationship.

    Returns:
        The table tags.
    """
    tags = set(relationship_tags(prop))
    parent = {table_tag(t) for t in prop.parent.tables}
    elsewhere = set(mapper_tags(prop.mapper))
    elsewhere |= expression_tags(prop.secondary) | expression_tags(prop.secondaryjoin) | target_tags(prop)
    for clause in (prop.primaryjoin, *order_by_clauses(prop)):
        for element in iterate(clause):
            if isinstance(element, (SelectBase, AliasedReturnsRows)):
                elsewhere |= expression_tags(element)
    if parent.isdisjoint(elsewhere):
        tags -= parent
    return frozenset(tags)


def _raw_reason(element: ClauseElement | None) -> str | None:
    """The bypass reason of the first raw SQL fragment inside ``element`` that may read tables or vary."""
    if element is None:
        return None
    for node in iterate(element):
        if isinstance(node, TextClause):
            text: Any = node.text
        elif isinstance(node, ColumnClause) and node.is_literal:
            text = node.name
        else:
            continue
        reasons = raw_sql_reasons(str(text))
        if reasons:
            return reasons[0]
    return None


def _first(reasons: Iterable[str | None]) -> str | None:
    return next((reason for reason in reasons if reason is not None), None)


def _own_raw(mapper: Mapper[Any]) -> str | None:
    return _first(
        _raw_reason(element)
        for sub in mapper.self_and_descendants
        for element in (
            None if isinstance(sub.persist_selectable, Table) else sub.persist_selectable,
            *(column for prop in sub.column_attrs for column in prop.columns),
        )
    )


def _relationship_raw(prop: RelationshipProperty[Any], seen: set[Mapper[Any]]) -> str | None:
    entity: Any = prop.entity
    selectable = entity.selectable if entity.is_aliased_class else None
    found = _first(
        _raw_reason(element)
        for element in (prop.secondary, prop.primaryjoin, prop.secondaryjoin, selectable, *order_by_clauses(prop))
    )
    return found or _raw_closure(prop.mapper, seen)


def _raw_closure(mapper: Mapper[Any], seen: set[Mapper[Any]]) -> str | None:
    if mapper in seen:
        return None
    seen.add(mapper)
    return _own_raw(mapper) or _first(
        _relationship_raw(prop, seen)
        for sub in mapper.self_and_descendants
        for prop in sub.relationships
        if prop.lazy in EAGER_STRATEGIES
    )


@lru_cache(maxsize=4096)
def mapper_raw_sql(mapper: Mapper[Any], *, all_relationships: bool = False) -> str | None:
    """Why loading entities of ``mapper`` may read tables no one can name, or vary per call, if it may.

    Raw SQL (``text()``, ``literal_column()``) in its column properties or in the relationships it loads
    (join conditions, ``order_by``, an aliased target's selectable), followed as :func:`mapper_tags` does.
    It is not in a statement's cache key, so the statement analysis never sees it; memoized per mapper.

    Args:
        mapper: The mapper of an entity the statement loads.
        all_relationships: Follow every relationship (a ``"*"`` loader option may load any).

    Returns:
        The bypass reason a raw SQL fragment in a statement would get, or None.
    """
    found = _raw_closure(mapper, set())
    if found is None and all_relationships:
        found = _first(relationship_raw_sql(prop) for sub in mapper.self_and_descendants for prop in sub.relationships)
    return found


@lru_cache(maxsize=4096)
def relationship_raw_sql(prop: RelationshipProperty[Any]) -> str | None:
    """:func:`mapper_raw_sql` for loading (or joining) one relationship: its own SQL, then its target's.

    Args:
        prop: The relationship.

    Returns:
        The bypass reason, or None.
    """
    return _relationship_raw(prop, set())
