"""Audit column types for SQLAlchemy statement-cache safety.

SQLAlchemy compiles a statement once per cache key and reuses the compiled form, including the
bind and result processors of every type in it. A type is unsafe when:

- it is a ``TypeDecorator`` / ``UserDefinedType`` whose class does not declare ``cache_ok = True``
  (SQLAlchemy warns and disables caching for every statement using it; this library's cache
  bypasses those statements too), or
- its behaviour depends on state that is not part of its cache key, so two differently
  configured instances share one compiled statement. Advanced Alchemy's ``GUID(binary=...)`` is
  such a type: after a ``binary=True`` statement ran, a ``binary=False`` parameter is bound as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import MetaData
from sqlalchemy.orm import registry as orm_registry
from sqlalchemy.sql.type_api import ExternalType, TypeDecorator, TypeEngine

from litestar_alchemy_kit.canonical import qualified_name
from litestar_alchemy_kit.orm.schema import type_state
from litestar_alchemy_kit.orm.typesafety import (
    cache_ok_flag,
    impl_differs_from_default,
    instance_unkeyed_state,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sqlalchemy import Column

__all__ = ("AuditFinding", "AuditProblem", "audit_statement_cache")

AuditProblem = Literal[
    "cache_ok_missing",
    "cache_ok_false",
    "state_not_in_cache_key",
    "impl_not_in_cache_key",
    "unhashable_cache_key",
    "cache_key_collision",
]
"""Kinds of statement-cache hazards the audit reports."""


@dataclass(frozen=True)
class AuditFinding:
    """One column type that makes SQLAlchemy's statement cache unsafe or disabled."""

    table: str
    """Schema-qualified table name."""
    column: str
    """Column name."""
    type_name: str
    """``module:qualname`` of the offending type (may be nested inside the column's type)."""
    problem: AuditProblem
    """Kind of hazard."""
    detail: str
    """Human-readable explanation with the fix."""

    def __str__(self) -> str:
        return f"{self.table}.{self.column} ({self.type_name}): {self.problem}: {self.detail}"


def _metadatas(target: Any) -> list[MetaData]:
    if isinstance(target, MetaData):
        return [target]
    if isinstance(target, orm_registry):
        return [target.metadata]
    metadata = getattr(target, "metadata", None)
    if isinstance(metadata, MetaData):
        return [metadata]
    if isinstance(target, (list, tuple, set, frozenset)):
        return [m for item in target for m in _metadatas(item)]  # pyright: ignore[reportUnknownVariableType]
    msg = f"cannot audit {target!r}: expected a MetaData, a declarative base, a registry or a sequence of them"
    raise TypeError(msg)


def _nested_types(type_: TypeEngine[Any], depth: int = 0) -> Iterator[TypeEngine[Any]]:
    """The type itself plus every type it wraps (decorator impl, variants, array items)."""
    yield type_
    if depth > 4:  # noqa: PLR2004 - real nesting is at most a variant of an array of a decorator
        return
    state: dict[str, Any] = dict(vars(type_))
    if isinstance(type_, TypeDecorator) and "impl" not in state:
        state["impl"] = type_.impl_instance
    for name, value in state.items():
        if name == "_variant_mapping":
            for variant in value.values():
                yield from _nested_types(variant, depth + 1)
        elif not name.startswith("_") and isinstance(value, TypeEngine):
            yield from _nested_types(value, depth + 1)  # pyright: ignore[reportUnknownArgumentType]


def _type_findings(type_: TypeEngine[Any]) -> Iterator[tuple[AuditProblem, str]]:
    if not isinstance(type_, ExternalType):
        return
    flag = cache_ok_flag(type(type_))
    if flag is None:
        yield (
            "cache_ok_missing",
            (
                "the class does not declare cache_ok; sqlalchemy warns and never caches statements using it "
                "(neither does this library). declare cache_ok = True once every attribute that changes "
                "behaviour is named after an __init__ parameter"
            ),
        )
        return
    if not flag:
        yield (
            "cache_ok_false",
            "cache_ok = False: statements using this type are never cached by sqlalchemy or by this library",
        )
        return
    unkeyed = instance_unkeyed_state(type_)
    if unkeyed:
        yield (
            "state_not_in_cache_key",
            (
                f"attribute(s) {', '.join(unkeyed)} change behaviour but are not in the type's cache key "
                "(they are not named after __init__ parameters), so differently configured instances share one "
                "compiled statement and its bind processors"
            ),
        )
    if impl_differs_from_default(type_):
        yield (
            "impl_not_in_cache_key",
            (
                "impl was built with non-default arguments, which are not part of the cache key; "
                "expose them as __init__ parameters stored under the same names"
            ),
        )
    try:
        hash(type_._static_cache_key)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
    except TypeError:
        yield ("unhashable_cache_key", "the cache key holds unhashable state (dict/list); store tuples instead")


def _columns(metadatas: Iterable[MetaData]) -> Iterator[Column[Any]]:
    seen: set[int] = set()
    for metadata in metadatas:
        for table in metadata.sorted_tables:
            if id(table) in seen:
                continue
            seen.add(id(table))
            yield from table.columns


def audit_statement_cache(target: Any) -> list[AuditFinding]:
    """Report every column type that makes SQLAlchemy's statement cache unsafe or disabled.

    Args:
        target: A ``MetaData``, a declarative base (anything with ``.metadata``), a ``registry``,
            or a list/tuple of those.

    Returns:
        Findings sorted by table, column and problem; empty when the model set is safe.

    Raises:
        TypeError: ``target`` is none of the accepted kinds.
    """
    findings: set[AuditFinding] = set()
    by_key: dict[Any, tuple[str, Column[Any], TypeEngine[Any]]] = {}
    for column in _columns(_metadatas(target)):
        table = column.table.fullname
        for type_ in _nested_types(column.type):
            type_name = qualified_name(type(type_))
            for problem, detail in _type_findings(type_):
                findings.add(AuditFinding(table, column.name, type_name, problem, detail))
            if not isinstance(type_, ExternalType) or not cache_ok_flag(type(type_)):
                continue
            try:
                key: Any = type_._static_cache_key  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
                other = by_key.setdefault(key, (type_state(type_), column, type_))
            except TypeError:
                continue
            if other[0] != type_state(type_):
                detail = (
                    f"same cache key as {other[1].table.fullname}.{other[1].name} but configured differently; "
                    "whichever statement compiles first decides how the other binds and reads values"
                )
                findings.add(AuditFinding(table, column.name, type_name, "cache_key_collision", detail))
    return sorted(findings, key=lambda f: (f.table, f.column, f.problem, f.type_name))
