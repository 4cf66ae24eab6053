"""Fingerprint of a mapped class's schema, so cached rows never decode into a changed model."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import inspect
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.type_api import TypeEngine

from litestar_alchemy_kit.cache.keys import digest
from litestar_alchemy_kit.canonical import Unencodable, encode_value, qualified_name
from litestar_alchemy_kit.formats import wire_format
from litestar_alchemy_kit.orm.dependencies import EAGER_STRATEGIES
from litestar_alchemy_kit.orm.typesafety import is_descriptor

if TYPE_CHECKING:
    from sqlalchemy.sql.schema import Column

__all__ = ("model_schema_fingerprint", "type_state")

_FORMAT = wire_format("schema")


def _type_repr(type_: Any, out: list[str], depth: int = 0) -> None:
    """Deterministic rendering of a type: class plus public constructor state (recursing into nested types)."""
    out.append(f"<{qualified_name(type(type_))}")
    if depth > 4:  # noqa: PLR2004 - nested types (variants of arrays of decorators) never go this deep in practice
        out.append(">")
        return
    state = cast("dict[str, Any]", vars(type_))
    cls: type[Any] = type_.__class__
    for name in sorted(state):
        value = state[name]
        if (name.startswith("_") and name != "_variant_mapping") or is_descriptor(cls, name):
            continue  # private caches and memoized properties differ between processes
        out.append(f"|{name}=")
        _value_repr(value, out, depth)
    out.append(">")


def _value_repr(value: Any, out: list[str], depth: int) -> None:
    if isinstance(value, TypeEngine):
        _type_repr(value, out, depth + 1)
    elif isinstance(value, type):
        out.append(qualified_name(value))
    elif isinstance(value, dict):
        for key in sorted(value, key=str):  # pyright: ignore[reportUnknownArgumentType,reportUnknownVariableType]
            out.append(f"{key}:")
            _value_repr(value[key], out, depth)
    elif isinstance(value, (list, tuple)):
        out.append(f"[{len(value)}:")  # pyright: ignore[reportUnknownArgumentType]
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            _value_repr(item, out, depth)
        out.append("]")
    else:
        try:
            encode_value(value, out)
        except Unencodable:
            # callables, key managers, backends: only their kind is stable across processes
            out.append(f"?{qualified_name(type(value))}")


def _column_repr(column: Column[Any], out: list[str]) -> None:
    out.append(f"col:{column.table.name}.{column.name}|null={column.nullable}|pk={column.primary_key}|")
    _type_repr(column.type, out)
    out.append(";")


def _mapper_repr(mapper: Mapper[Any], out: list[str]) -> None:
    out.append(f"map:{qualified_name(mapper.class_)}|poly={mapper.polymorphic_identity!r};")
    for prop in mapper.column_attrs:
        out.append(f"attr:{prop.key}=")
        for column in prop.columns:
            if hasattr(column, "table") and column.table is not None:
                _column_repr(column, out)  # type: ignore[arg-type]
            else:
                out.append(f"expr:{type(column).__name__};")
                _type_repr(column.type, out)
    out.extend(
        f"rel:{rel.key}->{qualified_name(rel.mapper.class_)}|list={rel.uselist}|lazy={rel.lazy};"
        for rel in sorted(mapper.relationships, key=lambda r: r.key)
    )


def type_state(type_: TypeEngine[Any]) -> str:
    """Deterministic text of a type's class and public state (nested types included).

    Args:
        type_: A type instance.

    Returns:
        The rendering; equal for identically configured instances, in any process.
    """
    out: list[str] = []
    _type_repr(type_, out)
    return "".join(out)


@lru_cache(maxsize=1024)
def model_schema_fingerprint(model: type[Any]) -> str:
    """Digest of a mapped class's schema: columns (name, type with arguments, nullability), relationships.

    Eagerly loaded related models (``lazy=`` joined/selectin/subquery/immediate, recursively) are
    included, because their rows travel inside cached entries too. Changing any column in a deploy
    changes the digest, so entries written by the old code are never decoded into the new model.
    Memoized per class.

    Args:
        model: A mapped class.

    Returns:
        A hex digest, stable across processes.
    """
    root: Mapper[Any] = inspect(model)
    out: list[str] = [_FORMAT]
    seen: set[Mapper[Any]] = set()
    pending = [root]
    while pending:
        mapper = pending.pop()
        if mapper in seen:
            continue
        seen.add(mapper)
        _mapper_repr(mapper, out)
        pending.extend(rel.mapper for rel in mapper.relationships if rel.lazy in EAGER_STRATEGIES)
    return digest("".join(out).encode("utf-8", "surrogatepass"))
