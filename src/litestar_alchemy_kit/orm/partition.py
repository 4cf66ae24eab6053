"""The tenant (partition) column, declared once on the model.

One declaration gives the SQL filter and create stamp (providers), the cache scope (providers)
and the partition tag a write bumps (fine-grained invalidation), so the three cannot disagree.
It lives on the model, not the repository, because flush events see models, not repositories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import inspect
from sqlalchemy.orm import mapped_column
from sqlalchemy.sql.schema import Column, Table

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from sqlalchemy.orm import MappedColumn, Mapper
    from sqlalchemy.sql import FromClause

__all__ = (
    "IMMUTABLE_INFO_KEY",
    "TENANT_INFO_KEY",
    "declared_partitioned",
    "is_immutable",
    "note_partitioned",
    "tenant_column",
    "tenant_column_of",
)

TENANT_INFO_KEY: Final = "litestar_alchemy_kit.tenant"
"""Key in ``Column.info`` that marks the tenant column (set by :func:`tenant_column`)."""


def tenant_column(*args: Any, immutable: bool = False, **kwargs: Any) -> MappedColumn[Any]:
    """``mapped_column(...)`` that marks the model's tenant column: indexed and not nullable by default.

    Args:
        *args: as for ``mapped_column``.
        immutable: rows never change tenant, by any path (the kit refuses a flush that changes it; a raw
            ``UPDATE`` that does breaks the promise, and so does a primary key reused by another tenant's row
            while a session holds the old one). The session's value of a row's tenant is then never stale, so
            a flush that updates or deletes rows bumps their partitions without reading where they are.
        **kwargs: as for ``mapped_column``.

    Example::

        class Note(UUIDBase):
            tenant_id: Mapped[str] = tenant_column(String(64), immutable=True)
    """
    info = dict(kwargs.pop("info", None) or {})
    info[TENANT_INFO_KEY] = True
    if immutable:
        info[IMMUTABLE_INFO_KEY] = True
    kwargs.setdefault("index", True)
    kwargs.setdefault("nullable", False)
    return mapped_column(*args, info=info, **kwargs)


IMMUTABLE_INFO_KEY: Final = "litestar_alchemy_kit.tenant_immutable"
"""Key in ``Column.info`` set by ``tenant_column(immutable=True)``: rows never change tenant."""


def is_immutable(column: Column[Any]) -> bool:
    """Whether ``column`` is a tenant column declared ``immutable=True``."""
    return bool(column.info.get(IMMUTABLE_INFO_KEY))


def tenant_column_of(target: type[Any] | Table) -> Column[Any] | None:
    """The column of a mapped class or table declared with :func:`tenant_column`, or ``None``.

    Raises:
        TypeError: when more than one column of the table is declared (the tenant is one column).
    """
    if isinstance(target, Table):
        table: FromClause = target
    else:
        mapper: Mapper[Any] = inspect(target)
        table = mapper.local_table
    if not isinstance(table, Table):  # pragma: no cover - a mapper over a select/join
        return None
    found = [column for column in table.columns if column.info.get(TENANT_INFO_KEY)]
    if len(found) > 1:
        names = ", ".join(column.name for column in found)
        msg = f"table {table.name!r} declares more than one tenant column: {names}"
        raise TypeError(msg)
    return found[0] if found else None


_partitioned: set[str] = set()  # only grows: its size tells a plan built before a name was added


def note_partitioned(tag: str) -> None:
    """Record that a mapping of the table whose coarse tag is ``tag`` declares its tenant column.

    Reads through that mapping may depend on the table's partitions (``part`` tags). Another mapping of the
    same table that does not declare it cannot tell which partitions its writes leave or enter: they bump
    the table's coarse tag instead (see :mod:`~litestar_alchemy_kit.orm.flushtags`).
    """
    _partitioned.add(tag)


def declared_partitioned() -> AbstractSet[str]:
    """The coarse tags :func:`note_partitioned` recorded in this process (live: it grows, never shrinks)."""
    return _partitioned
