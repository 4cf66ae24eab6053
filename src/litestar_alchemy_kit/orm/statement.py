"""Statement fingerprinting, cache-bypass detection and table dependency analysis.

This is the one place that decides whether a SQLAlchemy statement may be cached, which tables
it reads (its invalidation tags) and under which deterministic fingerprint.

The fingerprint derives from SQLAlchemy's own statement cache key (the structure SQLAlchemy
trusts for its compiled cache) plus the bound parameter values. The structural part (stable
encoding of the cache key, SQL compiled for the dialect, tags, bypass verdict) is computed once
per process per (dialect, cache key) and memoized; per call only the bound values are encoded.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from types import BuiltinFunctionType, FunctionType
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import inspect
from sqlalchemy.orm import Mapper, QueryableAttribute, RelationshipProperty
from sqlalchemy.orm.util import AliasedInsp
from sqlalchemy.sql import TableClause, visitors
from sqlalchemy.sql.base import CacheableOptions
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import BindParameter, ColumnClause, TextClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.sql.selectable import Select
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.util import LRUCache

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.canonical import Unencodable, encode_value, qualified_name
from litestar_alchemy_kit.formats import wire_format
from litestar_alchemy_kit.orm import functions
from litestar_alchemy_kit.orm.calls import mapper_calls, relationship_calls
from litestar_alchemy_kit.orm.dependencies import (
    indirect_tags,
    mapper_raw_sql,
    mapper_tags,
    name_tag,
    relationship_raw_sql,
    relationship_tags,
    table_tag,
)
from litestar_alchemy_kit.orm.finetags import any_tag, part_tag, row_tag, value_token
from litestar_alchemy_kit.orm.rawtext import NONDETERMINISTIC_CALLS, NONDETERMINISTIC_SQL, raw_sql_reasons
from litestar_alchemy_kit.orm.restriction import Restrictions, restrictions
from litestar_alchemy_kit.orm.schema import model_schema_fingerprint
from litestar_alchemy_kit.orm.typesafety import unkeyed_state

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.base import Executable
    from sqlalchemy.sql.cache_key import CacheKey
    from sqlalchemy.sql.elements import ClauseElement
    from sqlalchemy.sql.schema import Column

__all__ = (
    "IGNORED_EXECUTION_OPTIONS",
    "Bypass",
    "PkLookup",
    "StatementInfo",
    "analyze",
    "canonical_options",
    "model_schema_fingerprint",
    "table_tag",
)

_FORMAT: Final = wire_format("statement").encode()

IGNORED_EXECUTION_OPTIONS: Final = frozenset(
    {
        "compiled_cache",
        "logging_token",
        "yield_per",
        "stream_results",
        "max_row_buffer",
        "preserve_rowcount",
        "insertmanyvalues_page_size",
        "autoflush",
        "populate_existing",
        "prebuffer_rows",
    }
)
"""Execution options that never change which rows or values a query returns (left out of the fingerprint)."""

_NONDETERMINISTIC_NAMES: Final = frozenset(NONDETERMINISTIC_CALLS.split("|"))
_LOCKING_SQL: Final = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b", re.IGNORECASE
)


@dataclass(frozen=True)
class PkLookup:
    """The tags of the statement narrowed to one primary key value: its one row tag replaces the table's fine tag."""

    base: tuple[str, ...]
    """The statement's tags without the entity table's fine tag (sorted)."""
    coarse: str
    """The entity table's coarse tag."""
    column: Column[Any]
    """The entity table's one primary key column."""

    def row(self, item_id: object) -> str | None:
        """The row tag of ``item_id``; None when the value has no exact token (use the statement's own tags).

        A lookup of ``item_id`` depends on :attr:`base` and this tag.
        """
        token = value_token(self.column, item_id)
        return None if token is None else row_tag(self.coarse, token)


@dataclass(frozen=True)
class StatementInfo:
    """What the cache needs to know about a cacheable statement."""

    fingerprint: str
    """Digest of the statement structure, loader and execution options, and bound values; stable across processes."""
    tags: frozenset[str]
    """For every table the statement reads (eagerly loaded relationships included) its coarse :func:`table_tag`
    and one fine tag: a partition tag when the statement is proven restricted to one partition of it, else ``any``."""
    row: tuple[str, Column[Any]] | None = None
    """The entity table's coarse tag and primary key column, when a primary-key equality added to this
    statement would restrict it to one row (see :attr:`pk_lookup`)."""

    @cached_property
    def pk_lookup(self) -> PkLookup | None:
        """How the tags narrow for a lookup by primary key (``get(pk)`` on this base statement), if they do.

        Memoized by what it derives from (the tags and the row), so a base statement analysed per request
        (a repository built per request with its own statement) does not sort its tags again.
        """
        if self.row is None:
            return None
        coarse, column = self.row
        # the column by identity (its == builds SQL); the entry holds it, so its id is not reused meanwhile
        memo_key = (self.tags, coarse, id(column))
        found = _pk_lookups.get(memo_key)
        if found is None:
            fine = (f"{coarse}:any", f"{coarse}:part=")
            base = tuple(sorted(tag for tag in self.tags if not tag.startswith(fine)))
            found = _pk_lookups.put(memo_key, PkLookup(base, coarse, column))
        return found


_pk_lookups: LRU[tuple[frozenset[str], str, int], PkLookup] = LRU(4096)


@dataclass(frozen=True)
class Bypass:
    """A statement that must not be cached; the reason is meant for telemetry and logs."""

    reason: str
    """Why the statement cannot be fingerprinted safely."""


class _Walk:
    """Accumulator for one pass over a cache key."""

    __slots__ = ("aliases", "calls", "mappers", "out", "reasons", "relationships", "tables", "tags", "wildcard")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.tags: set[str] = set()
        self.mappers: set[Mapper[Any]] = set()
        self.relationships: set[tuple[Mapper[Any], str]] = set()
        self.reasons: list[str] = []
        self.wildcard = False
        self.aliases: dict[str, Mapper[Any]] = {}
        self.tables: set[TableClause] = set()
        self.calls: set[str] = set()  # names called in the compiled SQL (database functions may read tables)


def _attr(node: tuple[Any, ...], name: str) -> Any:
    for index in range(2, len(node) - 1, 2):
        if node[index] == name and type(node[index]) is str:
            return node[index + 1]
    return None


def _check_raw_sql(text: str, walk: _Walk) -> None:
    walk.reasons.extend(raw_sql_reasons(text))


def _note_attribute(node: tuple[Any, ...], walk: _Walk, parent_attr: str) -> None:
    """Relationships in loader paths, and attributes used as join targets: ``join(Book.author)``."""
    parent: Any = _attr(node, parent_attr)
    key: Any = _attr(node, "key")
    if not (isinstance(parent, tuple) and parent and isinstance(key, str)):
        return
    parts: tuple[Any, ...] = parent  # pyright: ignore[reportUnknownVariableType]
    head: Any = parts[0]
    # an aliased entity is a node defined earlier in the key; later mentions are bare ("3", AliasedInsp)
    mapper: Any = walk.aliases.get(head) if isinstance(head, str) else getattr(head, "mapper", None)
    if isinstance(mapper, Mapper):
        walk.relationships.add((mapper, key))  # pyright: ignore[reportUnknownArgumentType]
    else:
        walk.reasons.append(f"cannot resolve the entity of attribute {key}")


def _inspect_node(node: tuple[Any, ...], walk: _Walk) -> None:  # noqa: C901 - one branch per element kind
    cls: type[Any] = node[1]
    if issubclass(cls, UpdateBase):
        # a data-modifying CTE: answering from the cache would skip the write
        walk.reasons.append(f"select writes ({cls.__name__.lower()} inside it)")
    elif issubclass(cls, FunctionElement):
        name: Any = _attr(node, "name") or cls.__dict__.get("name")
        if isinstance(name, str) and name.lower() in _NONDETERMINISTIC_NAMES:
            walk.reasons.append(f"non-deterministic function {name}()")
    elif issubclass(cls, (TextClause, ColumnClause)):
        text = _attr(node, "text") if issubclass(cls, TextClause) else _attr(node, "name")
        if issubclass(cls, TextClause) or _attr(node, "is_literal") is True:
            _check_raw_sql(str(text), walk)
    elif issubclass(cls, TableClause):
        name = _attr(node, "name")
        if isinstance(name, str):  # later mentions of the same table are bare back-references
            walk.tags.add(name_tag(name))  # the key holds the schema (the node is walked); a tag names none
    elif issubclass(cls, AliasedInsp):
        target = _attr(node, "_target")
        if isinstance(target, tuple) and target and isinstance(target[0], Mapper):
            walk.aliases[node[0]] = target[0]
    elif issubclass(cls, (RelationshipProperty, QueryableAttribute)):
        _note_attribute(node, walk, "parent" if issubclass(cls, RelationshipProperty) else "_parententity")
    if "_for_update_arg" in node[2::2]:
        walk.reasons.append("locking read (with_for_update)")


def _attribute_name(item: Any) -> str:
    return item[0] if isinstance(item, tuple) and item and isinstance(item[0], str) else ""


def _is_default_options(node: tuple[Any, ...]) -> bool:
    """Whether ``node`` is the key of compile options that all hold their class defaults.

    Copying an ORM select after it was compiled swaps ``SelectState``'s default options for an
    ``ORMCompileState`` options object carrying the same default values, which changes the cache
    key but not the statement; both must encode alike.
    """
    items = node[1:] if node and type(node[0]) is str else node
    if not items or not (isinstance(items[0], type) and issubclass(items[0], CacheableOptions)):
        return False
    options, pairs = items[0], items[1:]
    if pairs in {(), ((),)}:
        return True
    if len(pairs) % 2:
        return False
    for attr, value in zip(pairs[::2], pairs[1::2], strict=True):
        default = getattr(options, attr, _NO_DEFAULT)
        # Same type first: a PathRegistry default compared with a tuple emits an SAWarning (and is never equal).
        if type(value) is type(default) and value == default:
            continue
        # a default registry object appears in the key as (anon id, its class)
        parts: tuple[Any, ...] = value if isinstance(value, tuple) else ()  # pyright: ignore[reportUnknownVariableType]
        if tuple(part for part in parts if type(part) is not str) != (type(default),):
            return False
    return True


_NO_DEFAULT: Final = object()


def _walk(node: Any, walk: _Walk) -> None:  # noqa: C901, PLR0912
    out = walk.out
    cls: type[Any] = node.__class__
    if cls is tuple:
        if _is_default_options(node):
            out.append("d;")
            return
        out.append(f"({len(node)}:")
        if len(node) >= 2 and type(node[0]) is str and isinstance(node[1], type):  # noqa: PLR2004
            _inspect_node(node, walk)
        elif node and isinstance(node[0], type) and issubclass(node[0], TypeEngine):
            # a type's static key lists its attributes in set order, which follows the hash seed
            node = (node[0], *sorted(node[1:], key=_attribute_name))
        for item in node:
            _walk(item, walk)
        out.append(")")
    elif cls is str:
        if node.startswith("relationship:"):  # loader wildcard ("*" / default token): any relationship may load
            walk.wildcard = True
        encode_value(node, out)
    elif cls is int or cls is bool or cls is float or node is None:
        encode_value(node, out)
    elif isinstance(node, type):
        out.append(f"c{qualified_name(node)};")
    elif isinstance(node, str):  # quoted_name, labels
        encode_value(str(node), out)
    elif isinstance(node, TableClause):
        walk.tags.add(table_tag(node))
        walk.tables.add(node)
        # the tag names no schema and no case: the key must, or two tables of one name share entries (invariant 6)
        out.append("T")
        encode_value(None if node.schema is None else str(node.schema), out)
        encode_value(str(node.name), out)
    elif isinstance(node, Mapper):
        walk.mappers.add(node)  # pyright: ignore[reportUnknownArgumentType]
        out.append(f"M{qualified_name(node.class_)};")  # pyright: ignore[reportUnknownMemberType,reportUnknownArgumentType]
    elif isinstance(node, (FunctionType, BuiltinFunctionType)):
        name = qualified_name(node)
        if "<lambda>" in name or "<locals>" in name:
            msg = f"cache key holds an anonymous function {name}"
            raise Unencodable(msg)
        out.append(f"g{name};")
    elif isinstance(node, custom_op):
        out.append("o")
        _walk(node._hash_key(), walk)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    elif isinstance(node, enum.Enum):
        out.append(f"E{qualified_name(cls)}|{node.name};")  # enums: label styles, join flags
    else:
        msg = f"cache key holds a {qualified_name(cls)} with no deterministic encoding"
        raise Unencodable(msg)


@dataclass(frozen=True)
class _Structure:
    """Memoized per-process analysis of one statement structure."""

    digest: bytes
    info: StatementInfo
    # positions of binds whose type keeps state outside its cache key, and the ids of the table column
    # types such binds may carry (the tables, held by the memo key, keep those ids alive)
    guarded_binds: tuple[int, ...]
    anchored_types: frozenset[int]
    # tags without the fine tag of the tables proven restricted to a partition (added per call)
    fixed_tags: frozenset[str]
    restricted: Restrictions


_MEMO: LRUCache[Any, _Structure | Bypass] = LRUCache(2000)


def _entity_mappers(statement: ClauseElement, walk: _Walk) -> set[Mapper[Any]]:
    """Mappers whose full entities the statement loads (their eager relationships load too)."""
    if not isinstance(statement, Select):
        return set(walk.mappers)  # compound / textual / ORM-from-statement: assume every mapper is an entity
    mappers: set[Mapper[Any]] = set()
    for description in statement.column_descriptions:
        expr = description.get("expr")
        if description.get("entity") is None or expr is None:
            continue
        insp: Any = inspect(expr, raiseerr=False)
        mapper = getattr(insp, "mapper", None)
        if isinstance(mapper, Mapper) and (insp is mapper or getattr(insp, "is_aliased_class", False)):
            mappers.add(mapper)  # pyright: ignore[reportUnknownArgumentType]
    return mappers


def _guarded_binds(
    statement: ClauseElement, bindparams: Sequence[BindParameter[Any]], walk: _Walk
) -> tuple[tuple[int, ...], frozenset[int]] | Bypass:
    """Find binds whose type keeps state outside its cache key.

    Such a bind is unambiguous only when its type is the very type object of a column of a table in
    the statement (``Token.id == value``): tables are identified by identity in the cache key, so that
    type is fixed for the key. Anything else (``literal(value, GUID(binary=True))``) may share the key
    with a differently configured type, so it is checked on every call against the anchored types.
    """
    anchored = frozenset(
        id(column.type) for table in walk.tables for column in table.columns if unkeyed_state(column.type)
    )
    for element in visitors.iterate(statement):
        type_: Any = getattr(element, "type", None)
        if (
            type_ is not None
            and not isinstance(element, (BindParameter, ColumnClause))
            and unkeyed_state(type_)
            and id(type_) not in anchored
        ):
            return Bypass(
                f"type {qualified_name(type(type_))} keeps state {', '.join(unkeyed_state(type_))} "
                "outside sqlalchemy's cache key"
            )
    guarded = tuple(position for position, bind in enumerate(bindparams) if unkeyed_state(bind.type))
    return guarded, anchored


def _structure_tags(statement: ClauseElement, walk: _Walk) -> tuple[frozenset[str], set[str]]:
    """The coarse tags of every table read, and of those read other than through the ``FROM`` list."""
    tags = set(walk.tags)
    indirect: set[str] = set()
    calls = set(walk.calls)
    entities = _entity_mappers(statement, walk)
    for mapper in walk.mappers:
        eager = mapper in entities
        # raw SQL in what loading an entity runs: a column property, an eager relationship (not in the cache key)
        raw = mapper_raw_sql(mapper, all_relationships=walk.wildcard) if eager else None
        if raw is not None:
            raise Unencodable(raw)
        tags.update(mapper_tags(mapper, eager=eager, all_relationships=walk.wildcard))
        calls.update(mapper_calls(mapper, eager=eager, all_relationships=walk.wildcard))
        indirect.update(indirect_tags(mapper, eager=eager, all_relationships=walk.wildcard))
    for parent, attr_key in walk.relationships:
        prop = parent.attrs.get(attr_key)
        if prop is None:
            msg = f"unknown attribute {attr_key} on {parent}"
            raise Unencodable(msg)
        if isinstance(prop, RelationshipProperty):
            raw = relationship_raw_sql(prop)  # pyright: ignore[reportUnknownArgumentType]
            if raw is not None:
                raise Unencodable(raw)
            # a join target is read through the FROM list; loader options are seen by restrictions()
            tags.update(relationship_tags(prop))  # pyright: ignore[reportUnknownArgumentType]
            calls.update(relationship_calls(prop))  # pyright: ignore[reportUnknownArgumentType]
    # invariant 5: a function's body reads tables the statement does not name; read wholesale, never
    # restricted by the statement's WHERE (indirect). A view's calls are the read's too (invariant 4: a
    # view calling a writing function is a write)
    calls.update(functions.view_calls(tags))
    called = _function_tags(calls)
    tags.update(called)
    indirect.update(called)
    if not tags:
        msg = "statement reads no table that can be tracked"
        raise Unencodable(msg)
    return frozenset(tags), indirect


def _function_tags(calls: set[str]) -> frozenset[str]:
    """The tags of what the functions ``calls`` read; raises :class:`Unencodable` when one writes or varies."""
    reads = functions.function_reads(frozenset(calls)) if calls else None
    if reads is None:
        return frozenset()
    if reads.writer is not None:  # answering from the cache would skip the write (invariant 4)
        msg = f"function {reads.writer}() writes tables"
        raise Unencodable(msg)
    if reads.varies is not None:
        msg = f"function {reads.varies}() calls a non-deterministic function"
        raise Unencodable(msg)
    return reads.tags


def _compiled_sql(statement: ClauseElement, dialect: Dialect) -> str:
    try:
        sql = str(statement.compile(dialect=dialect))
    except Exception as exc:
        msg = f"statement does not compile for {dialect.name}: {exc}"
        raise Unencodable(msg) from exc
    if NONDETERMINISTIC_SQL.search(sql):
        msg = "non-deterministic sql function"
        raise Unencodable(msg)
    if _LOCKING_SQL.search(sql):
        msg = "locking read (with_for_update)"
        raise Unencodable(msg)
    return sql


def _analyze_structure(
    statement: ClauseElement, key: tuple[Any, ...], bindparams: Sequence[BindParameter[Any]], dialect: Dialect
) -> _Structure | Bypass:
    walk = _Walk()
    try:
        _walk(key, walk)
        if walk.reasons:
            return Bypass(walk.reasons[0])
        guarded = _guarded_binds(statement, bindparams, walk)
        if isinstance(guarded, Bypass):
            return guarded
        sql = _compiled_sql(statement, dialect)
        # every call, raw fragments and column properties included, wherever it sits (not all are in the key)
        walk.calls.update(functions.called_names(sql))
        coarse, indirect = _structure_tags(statement, walk)
    except Unencodable as exc:
        return Bypass(str(exc))
    restricted = restrictions(statement, bindparams, indirect, dialect)
    partitioned = {tag for tag, _, _ in restricted.partitions}
    fixed = frozenset({*coarse, *(any_tag(tag) for tag in coarse if tag not in partitioned)})
    hasher = hashlib.blake2b(_FORMAT, digest_size=20)
    hasher.update(f"{dialect.name}\x00{len(sql)}:{sql}\x00".encode("utf-8", "surrogatepass"))
    hasher.update("".join(walk.out).encode("utf-8", "surrogatepass"))
    digest = hasher.digest()
    # the structure's own tags stand alone: every table with its ``any`` tag, never a coarse tag alone
    info = StatementInfo(digest.hex(), frozenset({*coarse, *map(any_tag, coarse)}), restricted.row)
    return _Structure(digest, info, *guarded, fixed, restricted)


def _structure(statement: Executable, dialect: Dialect) -> tuple[_Structure | Bypass, Sequence[BindParameter[Any]]]:
    if not getattr(statement, "is_select", False):
        return Bypass(f"{type(statement).__name__.lower()} is not a select"), ()
    element = cast("ClauseElement", statement)
    cache_key: CacheKey | None = element._generate_cache_key()  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    if cache_key is None:
        return Bypass("statement has no sqlalchemy cache key (an element or type is not cache_ok)"), ()
    # what a called function reads may be declared or reflected later: structures are valid for one generation
    memo_key = (dialect, cache_key.key, functions.generation())
    try:
        structure = _MEMO.get(memo_key)
    except TypeError:
        return Bypass("sqlalchemy cache key is not hashable"), ()
    if structure is None:
        structure = _analyze_structure(element, cache_key.key, cache_key.bindparams, dialect)
        _MEMO[memo_key] = structure
    return structure, cache_key.bindparams


def _encode_call(
    statement: Executable,
    bindparams: Sequence[BindParameter[Any]],
    execution_options: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
) -> str:
    out: list[str] = []
    for bind in bindparams:
        encode_value(bind.effective_value, out)
    if params:
        out.append("P")
        encode_value(dict(params), out)
    options: dict[str, Any] = dict(getattr(statement, "_execution_options", None) or ())
    if execution_options:
        options.update(execution_options)
    relevant = canonical_options({k: v for k, v in options.items() if k not in IGNORED_EXECUTION_OPTIONS})
    if relevant:
        out.append("X")
        encode_value(relevant, out)
    return "".join(out)


def canonical_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with one spelling per meaning, so equal options give equal keys.

    SQLAlchemy adds ``"_none"`` (its own spelling of the ``None`` key) to a ``schema_translate_map``
    it has executed with, in place: before and after the first execution the map must read alike.
    """
    translate = options.get("schema_translate_map")
    if isinstance(translate, dict):
        options["schema_translate_map"] = {
            None if schema == "_none" else schema: target
            for schema, target in translate.items()  # pyright: ignore[reportUnknownVariableType]
        }
    return options


def analyze(
    statement: Executable,
    *,
    dialect: Dialect,
    execution_options: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> StatementInfo | Bypass:
    """Fingerprint a SELECT and collect the tables it reads, or explain why it must not be cached.

    Args:
        statement: The statement about to be executed.
        dialect: The dialect it will be compiled for.
        execution_options: Execution options passed along with the statement (merged over the
            statement's own; options in :data:`IGNORED_EXECUTION_OPTIONS` are left out).
        params: Parameters passed to ``execute()`` separately from the statement, if any.

    Returns:
        A :class:`StatementInfo`, or a :class:`Bypass` carrying a lowercase reason.
    """
    structure, bindparams = _structure(statement, dialect)
    if isinstance(structure, Bypass):
        return structure
    for position in structure.guarded_binds:
        if id(bindparams[position].type) not in structure.anchored_types:
            type_ = bindparams[position].type
            return Bypass(
                f"bound parameter of type {qualified_name(type(type_))} keeps state "
                f"{', '.join(unkeyed_state(type_))} outside sqlalchemy's cache key"
            )
    try:
        encoded = _encode_call(statement, bindparams, execution_options, params)
    except Unencodable as exc:
        return Bypass(str(exc))
    if structure.restricted.partitions:
        tags = _partition_tags(structure, bindparams, params)
    elif not encoded:
        return structure.info
    else:
        tags = structure.info.tags
    hasher = hashlib.blake2b(structure.digest, digest_size=20)
    hasher.update(encoded.encode("utf-8", "surrogatepass"))
    return StatementInfo(hasher.hexdigest(), tags, structure.restricted.row)


def _partition_tags(
    structure: _Structure, bindparams: Sequence[BindParameter[Any]], params: Mapping[str, Any] | None
) -> frozenset[str]:
    """The fixed tags plus, per partition-restricted table, the tag of this call's partition value."""
    tags = set(structure.fixed_tags)
    for coarse, position, column in structure.restricted.partitions:
        # parameters passed beside the statement may replace the bound value: no proof then
        token = None if params else value_token(column, bindparams[position].effective_value)
        tags.add(any_tag(coarse) if token is None else part_tag(coarse, token))
    return frozenset(tags)
