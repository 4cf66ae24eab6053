"""The tenant values of the rows a flush updates or deletes, read from the database.

A session's value of a row's tenant column may be stale: another transaction can move the row to
another tenant after this session loaded it, and the flush's ``UPDATE`` / ``DELETE`` finds the row by
its primary key alone, wherever it is now. The partition tags a write bumps must name the partition the
row is in, not the one the session remembers, or the lists of the row's real partition keep serving it.

So, in a flush of a session with a cache bound, each written row of a tenant-owned table is read on the
connection and in the order the flush writes it (mapper events: the right engine or shard, and locks
taken in the unit of work's own order):

- an UPDATE that leaves the tenant column alone: the row's tenant, read right *after* its UPDATE (a plain
  read: the UPDATE holds the row, and a transaction sees its own writes);
- an UPDATE that sets the tenant column, and a DELETE: the row's tenant *before* the statement, read with
  the lock the statement itself is about to take (``FOR NO KEY UPDATE`` on PostgreSQL for an UPDATE,
  ``FOR UPDATE`` otherwise; SQLite and DuckDB have no row locks: SQLite serialises writers once the
  transaction has begun, DuckDB aborts one of two transactions that write the same row);
- a row with no net change to its columns (only its collections changed): nothing is read, and it bumps
  no partition (it is not written).

:func:`~litestar_alchemy_kit.orm.flushtags.flush_bumps` takes a written row's partitions from here: the one
read, and the one the flush set if it changed the column. A written row this did not read (a
``post_update`` row, one another transaction deleted, one whose key is not loaded) bumps its table's
coarse tag. One statement per such row: the cost of knowing where it is.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from advanced_alchemy.exceptions import IntegrityError
from sqlalchemy import Table, bindparam, event, select
from sqlalchemy.orm import Mapper, mapperlib
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.exc import UnmappedColumnError

from litestar_alchemy_kit.orm.finetags import column_kind
from litestar_alchemy_kit.orm.partition import is_immutable, tenant_column_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.sql import Select
    from sqlalchemy.sql.schema import Column

__all__ = (
    "UNWRITTEN",
    "VERIFIED_KEY",
    "after_update",
    "before_delete",
    "before_update",
    "verified_partitions",
    "watch",
    "watch_all",
)

VERIFIED_KEY: Final = "litestar_alchemy_kit.verified_partitions"
"""``Session.info`` key of the tenant values read during the current flush, by instance state and table."""

UNWRITTEN: Final = object()
"""The value recorded for a row the flush does not write (no net change to its columns)."""

_LOCKING_DIALECTS: Final = frozenset({"postgresql", "mysql", "mariadb", "oracle"})

Verified = dict["InstanceState[Any]", dict[Table, object]]


class _Partitioned(NamedTuple):
    """A table of a mapper with a fine tenant column, and the attributes its key and tenant are mapped to."""

    table: Table
    tenant: Column[Any]
    tenant_key: str
    key: tuple[Column[Any], ...]
    key_attributes: tuple[str, ...]
    immutable: bool  # tenant_column(immutable=True): never read, a change refused


@cache
def _partitioned(mapper: Mapper[Any]) -> tuple[_Partitioned, ...]:
    """The tables of ``mapper`` with a tenant column that has fine tags (a table with unmapped ones is left out)."""
    found: list[_Partitioned] = []
    for table in mapper.tables:
        if not isinstance(table, Table):
            continue
        tenant = tenant_column_of(table)
        key = tuple(table.primary_key.columns)
        if tenant is None or column_kind(tenant) is None or not key:
            continue
        try:
            tenant_key = mapper.get_property_by_column(tenant).key
            attributes = tuple(mapper.get_property_by_column(column).key for column in key)
        except UnmappedColumnError:
            continue
        found.append(_Partitioned(table, tenant, tenant_key, key, attributes, is_immutable(tenant)))
    return tuple(found)


def _verified(state: InstanceState[Any]) -> Verified | None:
    session: Session | None = state.session
    return None if session is None else session.info.get(VERIFIED_KEY)


def _written(mapper: Mapper[Any], state: InstanceState[Any], target: object) -> bool:
    """Whether the flush writes the row: a net change to a column (a version counter is bumped regardless)."""
    session = state.session
    return (
        mapper.version_id_col is not None or session is None or session.is_modified(target, include_collections=False)  # pyright: ignore[reportUnknownMemberType]
    )


@cache
def _statement(entry: _Partitioned, *, lock: bool, key_share: bool) -> Select[tuple[Any]]:
    """The read of a row's tenant by its key, built once per table and lock (a new one per row costs more than the read)."""
    statement = select(entry.tenant).where(
        *(column == bindparam(f"lak_key_{index}", type_=column.type) for index, column in enumerate(entry.key))
    )
    return statement.with_for_update(key_share=key_share) if lock else statement


def _read(
    connection: Connection,
    state: InstanceState[Any],
    entry: _Partitioned,
    *,
    committed: bool,
    lock: bool,
    key_share: bool = False,
) -> object:
    """The row's tenant value in the database (``NO_VALUE``: its key is not loaded, or the row is not there)."""
    values: dict[str, Any] = {}
    for index, attribute in enumerate(entry.key_attributes):
        value = state.committed_state.get(attribute, NO_VALUE) if committed else NO_VALUE
        if value is NO_VALUE:
            value = state.dict.get(attribute, NO_VALUE)
        if value is NO_VALUE or value is None:
            return NO_VALUE
        values[f"lak_key_{index}"] = value
    lock = lock and connection.dialect.name in _LOCKING_DIALECTS
    row = connection.execute(_statement(entry, lock=lock, key_share=key_share and lock), values).first()
    return NO_VALUE if row is None else row[0]


def _keep(verified: Verified, state: InstanceState[Any], table: Table, found: object) -> None:
    if found is not NO_VALUE:  # not read: the table's coarse tag is bumped for the row
        verified.setdefault(state, {})[table] = found


def before_update(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """``before_update``: a row whose UPDATE sets its tenant column is read, locked, before the UPDATE moves it.

    Raises:
        IntegrityError: the UPDATE would change a tenant column declared ``immutable=True``.
    """
    state: InstanceState[Any] = instance_state(target)
    for entry in _partitioned(mapper):
        if entry.immutable and entry.tenant_key in state.committed_state and _written(mapper, state, target):
            msg = (
                f"tenant column {entry.table.name}.{entry.tenant.name} is declared immutable: "
                f"a flush may not change it (row {state.key[1] if state.key else None})"
            )
            raise IntegrityError(msg)
    verified = _verified(state)
    if verified is None:
        return
    if not _written(mapper, state, target):
        for entry in _partitioned(mapper):
            verified.setdefault(state, {})[entry.table] = UNWRITTEN
        return
    for entry in _partitioned(mapper):
        if entry.tenant_key in state.committed_state and not entry.immutable:
            # the lock its UPDATE takes on PostgreSQL when no key column changes (FOR NO KEY UPDATE)
            found = _read(connection, state, entry, committed=True, lock=True, key_share=True)
            _keep(verified, state, entry.table, found)


def after_update(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """``after_update``: a written row that kept its tenant column is read where its UPDATE left it."""
    state: InstanceState[Any] = instance_state(target)
    verified = _verified(state)
    if verified is None:
        return
    have = verified.get(state, {})
    for entry in _partitioned(mapper):
        if entry.table not in have and entry.tenant_key not in state.committed_state and not entry.immutable:
            found = _read(connection, state, entry, committed=False, lock=False)
            _keep(verified, state, entry.table, found)


def before_delete(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """``before_delete``: a row about to be deleted is read with the lock its DELETE takes."""
    state: InstanceState[Any] = instance_state(target)
    verified = _verified(state)
    if verified is None:
        return
    for entry in _partitioned(mapper):
        if entry.immutable:
            continue
        found = _read(connection, state, entry, committed=True, lock=True)
        _keep(verified, state, entry.table, found)


def watch(mapper: Mapper[Any], class_: object = None) -> None:  # noqa: ARG001 - mapper_configured's signature
    """Listen to the writes of ``mapper`` if it has a tenant-owned table (idempotent).

    Only there: AA's ``upsert_many`` takes its ORM path for a mapper with insert or update listeners, so
    listening to every mapper would slow every model's upserts.
    """
    try:
        partitioned = _partitioned(mapper)
    except TypeError:  # a table declaring two tenant columns: refused where the model is written
        return
    if not partitioned:
        return
    for name, handler in (
        ("before_update", before_update),
        ("after_update", after_update),
        ("before_delete", before_delete),
    ):
        if not event.contains(mapper, name, handler):
            event.listen(mapper, name, handler)


def watch_all() -> None:
    """:func:`watch` every mapper configured now, and every one configured later."""
    if not event.contains(Mapper, "mapper_configured", watch):
        event.listen(Mapper, "mapper_configured", watch)
    for registry in mapperlib._all_registries():  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        for mapper in registry.mappers:
            if mapper.configured:
                watch(mapper)


def verified_partitions(session: Session) -> Mapping[InstanceState[Any], Mapping[Table, object]]:
    """What the current flush read (empty when no cache was bound to the session when the flush began)."""
    found: Verified | None = session.info.get(VERIFIED_KEY)
    return {} if found is None else found
