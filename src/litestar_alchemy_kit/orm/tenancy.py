"""A repository bound to one tenant, from the model's one tenant declaration.

The model declares its tenant column once (:func:`~litestar_alchemy_kit.orm.partition.tenant_column`).
A repository constructed with ``tenant=`` derives from that declaration, and from nothing else:

- the base statement's filter, so every read (``get``, ``list``, ``count``, ``exists``...) and every
  read a write makes first (``update`` and ``delete`` load the row through it: another tenant's row
  is a ``NotFoundError``) sees only the tenant's rows;
- the stamp written into every instance it adds, updates or upserts, and into the row ``get_and_update``
  and ``get_or_upsert`` change or create (the bound tenant always wins, over the data and keyword arguments);
- the condition every bulk statement it runs carries (``update_many``, ``delete_many``, ``delete_where``): a key
  unique per tenant only (a slug) never reaches another tenant's row of the same key;
- the part of the cache scope that keeps tenants' entries apart.

A repository is built per request: the binding of a tenant of a scalar type (``str``, ``int``,
``UUID``) and its default statement are built once and shared (bounded memos; both are immutable),
so every request of a tenant reads through the same statement object, whose SQLAlchemy cache key
and analysis are computed once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import class_mapper

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.cache.memo import SCALAR_SCOPES
from litestar_alchemy_kit.cache.recording import current_recorder
from litestar_alchemy_kit.orm.finetags import column_kind
from litestar_alchemy_kit.orm.grouping import enclose_where, raw_clauses
from litestar_alchemy_kit.orm.partition import tenant_column_of

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Select
    from sqlalchemy.sql import ColumnElement
    from sqlalchemy.sql.schema import Column

__all__ = ("TenantBinding",)

_MEMO_SIZE = 4096
# by (model, type(tenant), tenant): exact types, so ``1`` and ``True`` never share a binding
_bindings: LRU[tuple[type[Any], type, object], TenantBinding] = LRU(_MEMO_SIZE)
_statements: LRU[tuple[type[Any], Column[Any], type, object], Select[Any]] = LRU(_MEMO_SIZE)


@dataclass(frozen=True, slots=True)
class TenantBinding:
    """The tenant a repository is bound to, and the model's declared tenant column."""

    column: Column[Any]
    """The column declared with ``tenant_column()``."""
    attribute: str
    """The mapped attribute of :attr:`column` on the model."""
    value: object
    """The tenant id."""

    @classmethod
    def of(cls, model_type: type[Any], tenant: object) -> TenantBinding:
        """The binding of ``model_type`` to ``tenant``.

        A tenant id given as text (an auth context's, which is always a ``str``) is converted to the column's
        integer or UUID type: the database compares it as such, the fine tags need it so, and a worker's ``1``
        and a request's ``"1"`` are one tenant, one cache scope.

        Raises:
            TypeError: the model declares no tenant column (declare it with ``tenant_column()``).
            ValueError: ``tenant`` is empty, or text that is not a value of the column's integer or UUID type.
        """
        recorder = current_recorder()
        if recorder is not None:  # a response rendered here holds this tenant's rows (response cache, invariant 6)
            recorder.bind(tenant)
        memo_key = (model_type, type(tenant), tenant) if type(tenant) in SCALAR_SCOPES else None
        found = None if memo_key is None else _bindings.get(memo_key)
        if found is not None:
            return found
        column = tenant_column_of(model_type)
        if column is None:
            msg = (
                f"{model_type.__name__} declares no tenant column: declare it once with "
                "litestar_alchemy_kit.orm.tenant_column() to bind a repository to a tenant"
            )
            raise TypeError(msg)
        if tenant is None or tenant == "":
            msg = f"a tenant binding of {model_type.__name__} needs a tenant id, got {tenant!r}"
            raise ValueError(msg)
        attribute = class_mapper(model_type).get_property_by_column(column).key
        binding = cls(column=column, attribute=attribute, value=_of_column_type(model_type, column, tenant))
        return binding if memo_key is None else _bindings.put(memo_key, binding)

    @property
    def scope(self) -> tuple[object, ...]:
        """The part of the cache scope that keeps entries of two tenants apart (they never share a key)."""
        return (("tenant", self.value),)

    def condition(self) -> ColumnElement[bool]:
        """``tenant_column == tenant``."""
        return self.column == self.value

    def restrict(self, model_type: type[Any], statement: Select[Any] | None) -> Select[Any]:
        """``statement`` (default ``select(model_type)``, built once per tenant) restricted to the tenant's rows.

        A caller's statement whose ``WHERE`` holds raw SQL that renders bare (``literal_column("a OR b")``:
        see ``litestar_alchemy_kit.orm.grouping``) has that ``WHERE`` put in parentheses first (a copy;
        the caller's object is left alone), so the tenant condition is AND-ed with all of it. Refusing such
        statements would break working code; parentheses keep its meaning, and only the tenant's rows match.

        Raises:
            ValueError: ``statement`` has raw SQL no parentheses can hold (``prefix_with``, ``suffix_with``,
                ``with_hint``, ``with_statement_hint``): a suffix renders after the ``WHERE``.
        """
        if statement is not None:
            raw = raw_clauses(statement)
            if raw:
                msg = (
                    f"a repository bound to a tenant of {model_type.__name__} refuses a statement with raw SQL "
                    f"around its clauses ({', '.join(raw)}): it renders outside the WHERE the tenant condition "
                    "is AND-ed to, where it may undo it (a suffix 'OR ...'); filter the tenant yourself on an "
                    "unbound repository"
                )
                raise ValueError(msg)
            return enclose_where(statement).where(self.condition())
        value = self.value
        if type(value) not in SCALAR_SCOPES:
            return select(model_type).where(self.condition())
        memo_key = (model_type, self.column, type(value), value)
        found = _statements.get(memo_key)
        if found is None:
            found = _statements.put(memo_key, select(model_type).where(self.condition()))
        return found

    def stamp(self, instance: object) -> None:
        """Write the bound tenant into ``instance`` (a value already there is replaced: nothing leaves the tenant)."""
        if getattr(instance, self.attribute, None) != self.value:
            setattr(instance, self.attribute, self.value)

    def stamp_all(self, instances: Iterable[object]) -> None:
        """:meth:`stamp` each of ``instances``."""
        for instance in instances:
            self.stamp(instance)


def _of_column_type(model_type: type[Any], column: Column[Any], tenant: object) -> object:
    """``tenant``, or the text of an integer or UUID tenant column's value converted to it."""
    if not isinstance(tenant, str):
        return tenant
    kind = column_kind(column)
    try:
        if kind == "i":
            return int(tenant)
        if kind == "u":
            return uuid.UUID(tenant)
    except ValueError:
        name = "an integer" if kind == "i" else "a UUID"
        msg = f"a tenant binding of {model_type.__name__} needs {name} tenant id (its tenant column's), got {tenant!r}"
        raise ValueError(msg) from None
    return tenant
