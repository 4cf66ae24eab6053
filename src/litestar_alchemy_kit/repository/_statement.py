"""Statement fingerprinting, cache-bypass detection and table dependency analysis.

This is the ONE place that decides whether a SQLAlchemy statement may be cached, which
tables it reads (its invalidation tags) and under which deterministic fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.sql import TableClause

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.base import Executable

__all__ = ("Bypass", "StatementInfo", "analyze", "model_schema_fingerprint", "table_tag")


def table_tag(table: Table | TableClause) -> str:
    """Return the invalidation tag of a table: ``"t:"`` plus its schema-qualified name.

    Args:
        table: The table (or lightweight table clause).

    Returns:
        The tag string.
    """
    schema = getattr(table, "schema", None)
    return f"t:{schema}.{table.name}" if schema else f"t:{table.name}"


@dataclass(frozen=True)
class StatementInfo:
    """What the cache needs to know about a cacheable statement."""

    fingerprint: str
    """Deterministic digest of the statement structure and its bound values, stable across processes."""
    tags: frozenset[str]
    """:func:`table_tag` of every table the statement reads, including eager loads."""


@dataclass(frozen=True)
class Bypass:
    """A statement that must not be cached."""

    reason: str
    """Why the statement cannot be fingerprinted safely."""


def analyze(
    statement: Executable,
    *,
    dialect: Dialect,
    execution_options: Mapping[str, Any] | None = None,
) -> StatementInfo | Bypass:
    """Fingerprint ``statement`` and collect the tables it reads, or explain why it cannot be cached.

    Args:
        statement: The statement about to be executed.
        dialect: The dialect it will be compiled for.
        execution_options: Execution options passed along with the statement.

    Returns:
        A :class:`StatementInfo` or a :class:`Bypass`.
    """
    # naive placeholder implementation; replaced behind the same signature
    cache_key = statement._generate_cache_key()  # pyright: ignore[reportPrivateUsage]
    if cache_key is None:
        return Bypass("statement has no sqlalchemy cache key")
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    digest = hashlib.sha256(str(compiled).encode())
    for bind in cache_key.bindparams:
        digest.update(repr(bind.effective_value).encode())
    digest.update(repr(sorted((execution_options or {}).items())).encode())
    tags = frozenset(table_tag(t) for t in getattr(statement, "get_final_froms", list)() if isinstance(t, TableClause))
    return StatementInfo(fingerprint=digest.hexdigest(), tags=tags)


def model_schema_fingerprint(model: type) -> str:
    """Digest of a mapped class's columns (name, type, nullability) and relationship names.

    Args:
        model: A mapped class.

    Returns:
        A hex digest that changes whenever the mapped schema changes.
    """
    from sqlalchemy import inspect

    mapper = inspect(model)
    parts = [f"{c.key}:{c.type!r}:{c.nullable}" for c in mapper.columns]
    parts.extend(sorted(mapper.relationships.keys()))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
