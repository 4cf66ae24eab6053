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
    from sqlalchemy.orm import MappedColumn, Mapper
    from sqlalchemy.sql import FromClause

__all__ = ("TENANT_INFO_KEY", "tenant_column", "tenant_column_of")

TENANT_INFO_KEY: Final = "litestar_alchemy_kit.tenant"
"""Key in ``Column.info`` that marks the tenant column (set by :func:`tenant_column`)."""


def tenant_column(*args: Any, **kwargs: Any) -> MappedColumn[Any]:
    """``mapped_column(...)`` that marks the model's tenant column: indexed and not nullable by default.

    Example::

        class Note(UUIDBase):
            tenant_id: Mapped[str] = tenant_column(String(64))
    """
    info = dict(kwargs.pop("info", None) or {})
    info[TENANT_INFO_KEY] = True
    kwargs.setdefault("index", True)
    kwargs.setdefault("nullable", False)
    return mapped_column(*args, info=info, **kwargs)


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
