"""Which tables a SELECT provably reads in one partition only, or one row only.

A table counts as restricted to a partition only when the proof is structural and simple: the
table is read exactly once, as a plain (unaliased) table in the top-level ``FROM`` list or its
joins, nowhere else (no subquery, CTE, alias, eager or relationship load, column property,
loader-option criteria or aliased class on a loader option's path mentions it), and the top-level
``WHERE`` holds, AND-ed, an equality of its declared
:func:`~litestar_alchemy_kit.orm.partition.tenant_column` with a bound value whose name no other bind
of the statement shares (SQLAlchemy sends one value for binds of one name). A ``WHERE`` with a term
that renders bare (:func:`~litestar_alchemy_kit.orm.grouping.renders_bare`: raw SQL whose ``OR`` would
bind to the terms beside it) proves nothing, neither a partition nor the row of an added pk equality, and
neither does a statement with raw SQL around its clauses (:func:`~litestar_alchemy_kit.orm.grouping.raw_clauses`:
a ``suffix_with("OR ...")`` renders right after the ``WHERE``).
Anything else is an ordinary read (``any``): a missed proof costs hit rate, a wrong one would
serve stale data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.orm import Mapper, RelationshipProperty
from sqlalchemy.orm.strategy_options import Load, _WildcardLoad  # pyright: ignore[reportPrivateUsage]
from sqlalchemy.sql import TableClause, operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, Grouping
from sqlalchemy.sql.schema import Column
from sqlalchemy.sql.selectable import AliasedReturnsRows, FromClause, Join, Select, SelectBase
from sqlalchemy.sql.util import find_tables

from litestar_alchemy_kit.orm.dependencies import entity_tags, loaded_tags, table_tag
from litestar_alchemy_kit.orm.finetags import column_kind, exact_on, type_kind
from litestar_alchemy_kit.orm.grouping import raw_clauses, renders_bare
from litestar_alchemy_kit.orm.partition import note_partitioned, tenant_column_of

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.elements import ClauseElement

__all__ = ("Restrictions", "restrictions")


@dataclass(frozen=True)
class Restrictions:
    """What :func:`restrictions` proved about one statement structure."""

    partitions: tuple[tuple[str, int, Column[Any]], ...] = ()
    """``(coarse tag, bind position, tenant column)``: the table is restricted to that bind's value."""
    row: tuple[str, Column[Any]] | None = None
    """``(coarse tag, primary key column)`` of the one entity table, when adding a primary-key
    equality would restrict the statement to one row of it (used by ``get(pk)``)."""


_NOTHING = Restrictions()


def _tags(element: ClauseElement) -> set[str]:
    # loose ``column()`` objects have no table
    tables: list[Any] = find_tables(element, check_columns=True)
    return {table_tag(table) for table in tables if isinstance(table, TableClause)}


def _flatten(from_: FromClause, direct: Counter[str], other: set[str]) -> None:
    if isinstance(from_, Join):
        _flatten(from_.left, direct, other)
        _flatten(from_.right, direct, other)
    elif isinstance(from_, Table):
        direct[table_tag(from_)] += 1
    else:  # an alias, subquery, lateral, table-valued function: another way of reading its tables
        other.update(_tags(from_))


def _option_sites(statement: Select[Any], other: set[str]) -> bool:
    """Add tables loader options read to ``other``; False for an option this cannot see into.

    That is their criteria, their relationships and the selectables of the aliased classes on their paths.
    """
    for option in statement._with_options:  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        if isinstance(option, _WildcardLoad):
            continue  # "*" loads: every relationship is already among the indirect tables
        if not isinstance(option, Load):
            return False  # with_loader_criteria, user options: opaque
        for element in option.context:
            for criterion in element._extra_criteria:  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
                other.update(_tags(criterion))
            for step in element.path.path:
                if isinstance(step, RelationshipProperty):
                    other.update(loaded_tags(step))  # pyright: ignore[reportUnknownArgumentType]
                else:  # an entity: an aliased class (``of_type``) reads whatever its selectable reads
                    other.update(entity_tags(step))
    return True


def _conjuncts(clause: ClauseElement | None) -> Iterator[ClauseElement]:
    """The AND-ed terms of ``clause`` as rendered (a parenthesized term other than an ``AND`` stays whole)."""
    if clause is None:
        return
    inner: Any = clause.element if isinstance(clause, Grouping) else clause  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
    if isinstance(inner, BooleanClauseList) and inner.operator is operators.and_:
        for term in inner.clauses:
            yield from _conjuncts(term)
    else:
        yield clause


def _equality(term: ClauseElement) -> tuple[Column[Any], BindParameter[Any]] | None:
    clause: Any = term
    while isinstance(clause, Grouping):
        clause = clause.element  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
    if not (isinstance(clause, BinaryExpression) and clause.operator is operators.eq):
        return None
    left: Any = clause.left
    right: Any = clause.right
    if isinstance(right, Column) and isinstance(left, BindParameter):
        left, right = right, left  # pyright: ignore[reportUnknownVariableType]
    if isinstance(left, Column) and isinstance(right, BindParameter) and not right.expanding:
        return left, right  # pyright: ignore[reportUnknownVariableType,reportUnknownArgumentType]
    return None


def _single_table_entity(statement: Select[Any]) -> Mapper[Any] | None:
    descriptions = statement.column_descriptions
    if len(descriptions) != 1:
        return None
    entity = descriptions[0].get("entity")
    mapper: Any = getattr(entity, "__mapper__", None)
    if not isinstance(mapper, Mapper) or descriptions[0].get("expr") is not entity:
        return None
    table = mapper.local_table  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(table, Table):
        return None
    for sub in mapper.self_and_descendants:  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
        if list(sub.tables) != [table]:  # pyright: ignore[reportUnknownMemberType,reportUnknownArgumentType]
            return None  # joined inheritance: a row spans tables
    return mapper  # pyright: ignore[reportUnknownVariableType]


def _single_sites(select: Select[Any], indirect: set[str]) -> set[str] | None:
    """Tags of the tables read exactly once, as plain tables in the top-level FROM list (None: opaque options)."""
    other = set(indirect)
    if not _option_sites(select, other):
        return None
    direct: Counter[str] = Counter()
    for from_ in select.get_final_froms():
        _flatten(from_, direct, other)
    for element in visitors.iterate(select):
        if element is not select and isinstance(element, (SelectBase, AliasedReturnsRows)):
            other.update(_tags(element))
    return {tag for tag, count in direct.items() if count == 1 and tag not in other}


def _partitions(
    conjuncts: Sequence[ClauseElement], single: set[str], bindparams: Sequence[BindParameter[Any]], dialect: Dialect
) -> tuple[tuple[str, int, Column[Any]], ...]:
    positions = {id(bind): position for position, bind in enumerate(bindparams)}
    # Binds of one name compile to one parameter, sent with one of their values (the last SQLAlchemy
    # meets): a bind sharing its name proves nothing about the value the database compares with.
    # By name alone (the structure): equal values would do, but they are per call and this is memoized.
    names = Counter(bind.key for bind in bindparams)
    partitions: dict[str, tuple[str, int, Column[Any]]] = {}
    for clause in conjuncts:
        found = _equality(clause)
        if found is None:
            continue
        column, bind = found
        table: Any = column.table
        if not isinstance(table, Table) or id(bind) not in positions or names[bind.key] > 1:
            continue
        tag = table_tag(table)
        tenant = tenant_column_of(table)
        if (
            tag in single
            and tenant is not None
            and column.name == tenant.name
            and exact_on(tenant, dialect)
            and _sent_as_is(bind, tenant)
        ):
            note_partitioned(tag)  # a write through a mapping that does not declare the tenant bumps the table
            partitions.setdefault(tag, (tag, positions[id(bind)], tenant))
    return tuple(partitions.values())


def _sent_as_is(bind: BindParameter[Any], column: Column[Any]) -> bool:
    """Whether ``bind`` sends its value as the column's own type would (a bind of another type may rewrite it)."""
    return bind.type is column.type or type_kind(bind.type) == column_kind(column)


def _row(select: Select[Any], single: set[str], dialect: Dialect) -> tuple[str, Column[Any]] | None:
    mapper = _single_table_entity(select)
    if mapper is None:
        return None
    table = mapper.local_table
    if not isinstance(table, Table):  # pragma: no cover - _single_table_entity checked it
        return None
    pk: list[Column[Any]] = list(table.primary_key)
    if table_tag(table) in single and len(pk) == 1 and list(mapper.primary_key) == pk and exact_on(pk[0], dialect):
        return table_tag(table), pk[0]
    return None


def restrictions(
    statement: ClauseElement, bindparams: Sequence[BindParameter[Any]], indirect: set[str], dialect: Dialect
) -> Restrictions:
    """Prove which tables ``statement`` reads in one partition (and whether a pk lookup on it reads one row).

    Args:
        statement: The statement.
        bindparams: Its cache key's bound parameters (positions refer to these).
        indirect: Tags of tables the statement reads through its entities' mappers other than
            through its ``FROM`` list: eager relationships, column properties, subclasses.
        dialect: The dialect, which decides whether string equality is exact.

    Returns:
        The proven restrictions (none when the statement is not a plain ``Select``).
    """
    if not isinstance(statement, Select):
        return _NOTHING
    select: Select[Any] = statement  # pyright: ignore[reportUnknownVariableType]
    if raw_clauses(select):
        return _NOTHING  # raw SQL around the clauses (a suffix's OR extends the WHERE): nothing is proven
    single = _single_sites(select, indirect)
    if not single:
        return _NOTHING
    conjuncts = list(_conjuncts(select.whereclause))
    if any(renders_bare(conjunct) for conjunct in conjuncts):
        # raw SQL AND-ed bare (``tenant_id = :t AND a OR b``) may bind to the terms beside it with its
        # own OR: no term is then AND-ed with the whole WHERE, and neither is an added pk equality
        return _NOTHING
    return Restrictions(_partitions(conjuncts, single, bindparams, dialect), _row(select, single, dialect))
