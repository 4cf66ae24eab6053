"""Which database functions a statement calls where its cache key does not show them: mappers and relationships.

The statement analysis sees the calls in a statement's cache key (``FunctionElement`` nodes, raw
fragments); an entity's column properties and the relationships it loads are not in that key, so
they are collected here, per mapper and relationship, as :mod:`~litestar_alchemy_kit.orm.dependencies`
collects their tables. Only names: what each function reads changes with declarations and is
resolved by :func:`~litestar_alchemy_kit.orm.functions.function_reads`, so these memos never go stale.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.sql.elements import ColumnClause, TextClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import iterate

from litestar_alchemy_kit.orm.dependencies import EAGER_STRATEGIES, order_by_clauses
from litestar_alchemy_kit.orm.functions import called_names

if TYPE_CHECKING:
    from sqlalchemy.orm import Mapper, RelationshipProperty
    from sqlalchemy.sql.elements import ClauseElement

__all__ = ("element_calls", "mapper_calls", "relationship_calls")


def element_calls(element: ClauseElement | None) -> frozenset[str]:
    """Lower-case names of the functions called anywhere inside ``element``, raw SQL fragments included."""
    if element is None:
        return frozenset()
    names: set[str] = set()
    node: Any
    for node in iterate(element):
        if issubclass(type(node), FunctionElement):  # not isinstance: its generic parameter is unknown here
            name: Any = getattr(node, "name", None)
            if isinstance(name, str):
                names.add(name.lower())
        elif isinstance(node, TextClause):
            names.update(called_names(node.text))
        elif isinstance(node, ColumnClause) and node.is_literal:
            names.update(called_names(node.name))
    return frozenset(names)


def _own(mapper: Mapper[Any]) -> set[str]:
    names: set[str] = set()
    for sub in mapper.self_and_descendants:
        if not isinstance(sub.persist_selectable, Table):
            names.update(element_calls(sub.persist_selectable))
        for prop in sub.column_attrs:
            for column in prop.columns:
                names.update(element_calls(column))
    return names


def _relationship(prop: RelationshipProperty[Any], seen: set[Mapper[Any]]) -> set[str]:
    entity: Any = prop.entity
    names: set[str] = set()
    for element in (
        prop.secondary,
        prop.primaryjoin,
        prop.secondaryjoin,
        entity.selectable if entity.is_aliased_class else None,
        *order_by_clauses(prop),
    ):
        names.update(element_calls(element))
    return names | _closure(prop.mapper, seen)


def _closure(mapper: Mapper[Any], seen: set[Mapper[Any]]) -> set[str]:
    if mapper in seen:
        return set()
    seen.add(mapper)
    names = _own(mapper)
    for sub in mapper.self_and_descendants:
        for prop in sub.relationships:
            if prop.lazy in EAGER_STRATEGIES:
                names |= _relationship(prop, seen)
    return names


@lru_cache(maxsize=4096)
def mapper_calls(mapper: Mapper[Any], *, eager: bool = True, all_relationships: bool = False) -> frozenset[str]:
    """Functions called when loading entities of ``mapper``: as :func:`~.dependencies.mapper_tags` follows tables.

    Args:
        mapper: The mapper.
        eager: Follow relationships whose ``lazy=`` default loads eagerly (recursively).
        all_relationships: Follow every relationship (a ``"*"`` loader option may load any).

    Returns:
        Lower-case function names.
    """
    if not eager:
        return frozenset(_own(mapper))
    names = _closure(mapper, set())
    if all_relationships:
        for sub in mapper.self_and_descendants:
            for prop in sub.relationships:
                names |= relationship_calls(prop)
    return frozenset(names)


@lru_cache(maxsize=4096)
def relationship_calls(prop: RelationshipProperty[Any]) -> frozenset[str]:
    """Functions called to load (or join) one relationship, and its target's eager defaults, recursively."""
    return frozenset(_relationship(prop, set()))
