"""The tenant values of the rows a flush updates or deletes, read from the database.

A session's value of a row's tenant column may be stale: another transaction can move the row to
another tenant after this session loaded it, and the flush's ``UPDATE`` / ``DELETE`` finds the row by
its primary key alone, wherever it is now. The partition tags a write bumps must name the partition the
row is in, not the one the session remembers, or the lists of the row's real partition keep serving it.

So, in a flush of a session with a cache bound, each written row of a tenant-owned table is read on the
connection and in the order the flush writes it (mapper events: the right engine or shard, and locks
taken in the unit of work's own order):

- an UPDATE that leaves the tenant column alone: the row's tenant, returned by the UPDATE itself where the
  database can (:mod:`~litestar_alchemy_kit.orm.partitionreturning`), else read right *after* its UPDATE (a plain
  read: the UPDATE holds the row, and a transaction sees its own writes; a lock there would lock more than
  the UPDATE does: MariaDB may scan a covering tenant index and lock every row and gap it passes). The unit
  of work runs a mapper's UPDATEs before any of their ``after_update`` events, so the first of those reads
  every row of the batch in one statement (``IN`` on a one-column primary key, chunks of :data:`BATCH`);
- a row whose only change to the table is a many-to-one ``post_update`` relationship: its UPDATE comes
  after every mapper's saves, so it is read *before*, locked as that UPDATE will lock it (held from the
  read on: no transaction moves it in between, and MySQL/MariaDB read the latest version, not the
  REPEATABLE READ snapshot);
- an UPDATE that sets the tenant column, and a DELETE: the row's tenant *before* the statement, read with
  the lock the statement itself is about to take (``FOR NO KEY UPDATE`` on PostgreSQL for an UPDATE,
  ``FOR UPDATE`` otherwise; SQLite and DuckDB have no row locks: SQLite serialises writers once the
  transaction has begun, DuckDB aborts one of two transactions that write the same row);
- a row with no net change to its columns (only its collections changed): nothing is read, and it bumps
  no partition (it is not written), unless a ``before_update`` listener registered after the kit's writes
  it: a net change, or a column its UPDATE expires (set to a SQL expression; SQLAlchemy's ``expire`` event,
  recorded during the flush, tells even when the attribute was expired already).

A tenant assigned the value it has (code copying every field from a DTO) is no move: SQLAlchemy's
attribute history decides, as it decides what the UPDATE writes.

:func:`~litestar_alchemy_kit.orm.flushtags.flush_bumps` takes a written row's partitions from here: the one
read, and the one the flush set if it changed the column. A written row this did not read (one another
transaction deleted, one whose key is not loaded) bumps its table's coarse tag, and so does one recorded
:data:`MOVED_UNREAD` (moved to a SQL expression's value, or by a ``before_update`` listener registered after
the kit's). A row switch (a flush deletes a row and adds one with its key: one UPDATE of the stored row) is
not read: :mod:`~litestar_alchemy_kit.orm.flushtags` bumps the coarse tag for the instance it replaced. One
statement per batch of UPDATEs that keep their tenant, per row otherwise: the cost of knowing where it is.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from advanced_alchemy.exceptions import IntegrityError
from sqlalchemy import Column, Table, bindparam, event, select
from sqlalchemy.orm import ColumnProperty, Mapper, mapperlib
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.base import MANYTOONE, NO_VALUE
from sqlalchemy.orm.exc import UnmappedColumnError
from sqlalchemy.sql.elements import ClauseElement

from litestar_alchemy_kit.orm import partitionreturning
from litestar_alchemy_kit.orm.dependencies import table_tag
from litestar_alchemy_kit.orm.finetags import column_kind
from litestar_alchemy_kit.orm.partition import is_immutable, note_partitioned, tenant_column_of

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping
    from collections.abc import Set as AbstractSet

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.sql import Select

__all__ = (
    "BATCH",
    "MOVED_UNREAD",
    "UNWRITTEN",
    "after_update",
    "before_delete",
    "before_update",
    "begin_flush",
    "end_flush",
    "verified_partitions",
    "watch",
    "watch_all",
)

VERIFIED_KEY: Final = "litestar_alchemy_kit.verified_partitions"
"""``Session.info`` key of the tenant values read during the current flush, by instance state and table."""

_DUE_KEY: Final = "litestar_alchemy_kit.partition_reads_due"
"""``Session.info`` key of the rows whose UPDATE keeps their tenant, to read after it, by table entry and connection
(a sharded session writes one mapper's rows on several: each one's rows are read on it)."""

_EXPIRED_KEY: Final = "litestar_alchemy_kit.partition_attributes_expired"
"""``Session.info`` key of the attributes expired during the current flush, by instance state (SQLAlchemy's
``expire`` event): an UPDATE expires what it set to SQL expressions, leaving no other trace of the write (the
attribute may have been expired already; the row no longer looks modified)."""

BATCH: Final = 500
"""Rows read by one statement after their UPDATEs: far below every engine's bound-parameter limit."""

UNWRITTEN: Final = object()
"""The value recorded for a row the flush does not write (no net change to its columns)."""

MOVED_UNREAD: Final = object()
"""The value recorded for a row whose tenant changed where it cannot be read: set to a SQL expression (its
UPDATE expires the value: the partition it enters is not known), or by a ``before_update`` listener that ran
after the kit's (the partition it left is gone). It bumps its table's coarse tag."""

_LOCKING_DIALECTS: Final = frozenset({"postgresql", "mysql", "mariadb", "oracle"})

Verified = dict["InstanceState[Any]", dict[Table, object]]
Due = dict[tuple["_Partitioned", "Connection"], dict["InstanceState[Any]", None]]  # rows in queue order
Expired = dict["InstanceState[Any]", set[str]]


class _Partitioned(NamedTuple):
    """A table of a mapper with a fine tenant column, and the attributes its key and tenant are mapped to."""

    table: Table
    tenant: Column[Any]
    tenant_key: str
    key: tuple[Column[Any], ...]
    key_attributes: tuple[str, ...]
    immutable: bool  # tenant_column(immutable=True): never read, a change refused
    columns: frozenset[str]  # the attributes mapped to the table's columns (not read-only properties)


def _columns(mapper: Mapper[Any], table: Table) -> frozenset[str]:
    """The attributes ``mapper`` maps ``table``'s columns to (an UPDATE of the table expires only such ones).

    A read-only property (``column_property(Model.name + "!")``) is not one: the flush expires those on every
    row it saves, written or not.
    """
    return frozenset(
        prop.key
        for prop in mapper.column_attrs
        if any(isinstance(column, Column) and column.table is table for column in prop.columns)
    )


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
        found.append(
            _Partitioned(table, tenant, tenant_key, key, attributes, is_immutable(tenant), _columns(mapper, table))
        )
    return tuple(found)


def _verified(state: InstanceState[Any]) -> Verified | None:
    session: Session | None = state.session
    return None if session is None else session.info.get(VERIFIED_KEY)


def _due(state: InstanceState[Any]) -> Due:
    session: Session | None = state.session
    due: Due | None = None if session is None else session.info.get(_DUE_KEY)
    return {} if due is None else due


def _expired_log(state: InstanceState[Any]) -> Expired | None:
    """The current flush's record of expired attributes (``None``: no cache-bound flush is under way)."""
    session: Session | None = state.session
    return None if session is None else session.info.get(_EXPIRED_KEY)


def _expired_in_flush(state: InstanceState[Any]) -> AbstractSet[str]:
    expired = _expired_log(state)
    return frozenset() if expired is None else expired.get(state, frozenset())


def _on_expire(state: InstanceState[Any], names: Iterable[str] | None) -> None:
    """``expire``: record attributes expired during a flush (a whole-instance expiry, ``None``, is no flush's)."""
    expired = None if names is None else _expired_log(state)
    if expired is not None and names is not None:
        expired.setdefault(state, set()).update(names)


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


@cache
def _batch_statement(entry: _Partitioned) -> Select[tuple[Any, Any]]:
    """The plain read of many rows' tenants by a one-column key, built once per table."""
    (key,) = entry.key
    return select(key, entry.tenant).where(key.in_(bindparam("lak_keys", expanding=True)))


def _assigned_another(state: InstanceState[Any], entry: _Partitioned) -> bool:
    """Whether the row's tenant attribute holds a value other than the one loaded.

    SQLAlchemy's history decides: assigning the value it has, as code copying every field from a DTO does, is no change.
    """
    return entry.tenant_key in state.committed_state and state.attrs[entry.tenant_key].history.has_changes()


def _is_expression(value: object) -> bool:
    """Whether an attribute's pending value is SQL the UPDATE evaluates (as SQLAlchemy's persistence tells)."""
    return hasattr(value, "__clause_element__") or isinstance(value, ClauseElement)


@cache
def _post_update_keys(mapper: Mapper[Any], table: Table) -> frozenset[str]:
    """The many-to-one ``post_update`` relationships of ``mapper`` whose foreign key is in ``table``."""
    return frozenset(
        prop.key
        for prop in mapper.relationships
        if prop.post_update and prop.direction is MANYTOONE and any(c.table is table for c in prop.local_columns)
    )


def _post_update_only(mapper: Mapper[Any], state: InstanceState[Any], entry: _Partitioned) -> bool:
    """Whether the row's changes to ``entry``'s table are all many-to-one ``post_update`` relationships.

    Such a row's UPDATE runs after every mapper's saves, not before its ``after_update``. A column assigned the
    value it has does not count: the save does not write it.
    """
    changed = state.committed_state
    if _post_update_keys(mapper, entry.table).isdisjoint(changed):
        return False  # the common case, without a history per column
    for key in changed:
        prop = mapper.get_property(key)
        if (
            isinstance(prop, ColumnProperty)
            and any(column.table is entry.table for column in prop.columns)
            and state.attrs[key].history.has_changes()
        ):
            return False  # its UPDATE of this table runs in the save
    return True


def _key_values(state: InstanceState[Any], entry: _Partitioned, *, committed: bool) -> dict[str, Any] | None:
    """The row's key as the read's parameters (``None``: not loaded)."""
    values: dict[str, Any] = {}
    for index, attribute in enumerate(entry.key_attributes):
        value = state.committed_state.get(attribute, NO_VALUE) if committed else NO_VALUE
        if value is NO_VALUE:
            value = state.dict.get(attribute, NO_VALUE)
        if value is NO_VALUE or value is None:
            return None
        values[f"lak_key_{index}"] = value
    return values


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
    values = _key_values(state, entry, committed=committed)
    if values is None:
        return NO_VALUE
    lock = lock and connection.dialect.name in _LOCKING_DIALECTS
    row = connection.execute(_statement(entry, lock=lock, key_share=key_share and lock), values).first()
    return NO_VALUE if row is None else row[0]


def _keep(verified: Verified, state: InstanceState[Any], table: Table, found: object) -> None:
    if found is not NO_VALUE:  # not read: the table's coarse tag is bumped for the row
        verified.setdefault(state, {})[table] = found


def _known(connection: Connection, state: InstanceState[Any], entry: _Partitioned, verified: Verified) -> bool:
    """Whether the tenant of a row whose UPDATE has run is known without a read (kept in ``verified``)."""
    if entry.table in verified.get(state, {}):
        return True
    if _assigned_another(state, entry) or entry.tenant_key in _expired_in_flush(state):
        verified.setdefault(state, {})[entry.table] = MOVED_UNREAD  # moved since it was queued
        return True
    found = partitionreturning.returned(connection, state)
    if found is not NO_VALUE:
        verified.setdefault(state, {})[entry.table] = found  # its UPDATE returned it
        return True
    return False


def _read_updated(
    connection: Connection, states: Collection[InstanceState[Any]], entry: _Partitioned, verified: Verified
) -> None:
    """Keep the tenants of rows whose UPDATEs (all already run) left the column alone: one plain read per chunk.

    ``states``: the rows, in queue order. A row whose tenant was set since it was queued (by a later listener;
    to a SQL expression, which its UPDATE expired during the flush) is not read: the tenant it left
    is gone, its table's coarse tag is bumped. A row the batch does not match (a composite key, a key the
    database returns in another form) is read alone.
    """
    alone: list[InstanceState[Any]] = []
    keyed: dict[Any, InstanceState[Any]] = {}
    batched = len(states) > 1
    for state in states:
        if _known(connection, state, entry, verified):
            continue
        values = _key_values(state, entry, committed=False)
        if values is None:
            continue  # key not loaded: the coarse tag
        if len(values) == 1 and batched:
            keyed[values["lak_key_0"]] = state
        else:
            alone.append(state)
    keys = list(keyed)
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        for key, tenant in connection.execute(_batch_statement(entry), {"lak_keys": chunk}):
            matched = keyed.pop(key, None)
            if matched is not None:
                _keep(verified, matched, entry.table, tenant)
    alone.extend(keyed.values())
    for state in alone:
        _keep(verified, state, entry.table, _read(connection, state, entry, committed=False, lock=False))


def _queue(connection: Connection, state: InstanceState[Any], entry: _Partitioned) -> None:
    """Queue a row whose UPDATE keeps its tenant: its UPDATE returns the tenant where it can, else it is read after.

    Read in :func:`after_update`.
    """
    _due(state).setdefault((entry, connection), {})[state] = None
    where = _key_values(state, entry, committed=True)
    if where is not None:
        partitionreturning.expect(connection, state, tenant=entry.tenant, key=entry.key, where=(*where.values(),))


def before_update(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """``before_update``: a row whose UPDATE moves it (or runs after the save: ``post_update``) is read, locked, first.

    Raises:
        IntegrityError: the UPDATE would change a tenant column declared ``immutable=True``.
    """
    state: InstanceState[Any] = instance_state(target)
    for entry in _partitioned(mapper):
        # SQLAlchemy's own history: assigning the value an attribute has is no change
        changed = entry.immutable and state.attrs[entry.tenant_key].history.has_changes()
        if changed and _written(mapper, state, target):
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
        if entry.immutable:
            continue
        if entry.tenant_key in state.committed_state and _is_expression(state.dict.get(entry.tenant_key)):
            verified.setdefault(state, {})[entry.table] = MOVED_UNREAD
        elif _assigned_another(state, entry) or _post_update_only(mapper, state, entry):
            # the lock its UPDATE takes on PostgreSQL when no key column changes (FOR NO KEY UPDATE)
            found = _read(connection, state, entry, committed=True, lock=True, key_share=True)
            _keep(verified, state, entry.table, found)
        else:
            _queue(connection, state, entry)


def after_update(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """``after_update``: a written row that kept its tenant column is read where its UPDATE left it.

    The first such event of a batch reads every row :func:`before_update` queued for the table. What
    ``before_update`` decided is checked again here, once every ``before_update`` listener has run: a
    listener registered after the kit's may have written a row found unchanged (it is read now: a net
    change, or an attribute its UPDATE expired, set to a SQL expression), or moved a row queued as keeping
    its tenant (the tenant it left is gone: not read, its table's coarse tag).
    """
    state: InstanceState[Any] = instance_state(target)
    verified = _verified(state)
    if verified is None:
        return
    if state.key is None:
        # a row switch: a new row saved as an UPDATE of the stored row a deleted one of the flush had (no
        # before_update ran); flushtags bumps the coarse tag for the deleted instance, which is not written
        return
    have = verified.get(state, {})
    for entry in _partitioned(mapper):
        if entry.immutable:
            continue
        found = have.get(entry.table, NO_VALUE)
        if found is UNWRITTEN:
            # its UPDATE expired a column set to a SQL expression: a write, though the row no longer looks modified
            if entry.columns.isdisjoint(_expired_in_flush(state)) and not _written(mapper, state, target):
                continue  # unwritten
            del have[entry.table]  # written by a later listener after all
        elif found is not NO_VALUE:
            continue  # read before its UPDATE moved it
        batch = _due(state).pop((entry, connection), {})
        batch.setdefault(state)  # not queued (written by a later listener): read as well
        _read_updated(connection, batch, entry, verified)


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
    for entry in partitioned:  # before any read of its partitions: a write through another mapping then knows
        note_partitioned(table_tag(entry.table))
    for name, handler in (
        ("before_update", before_update),
        ("after_update", after_update),
        ("before_delete", before_delete),
    ):
        if not event.contains(mapper, name, handler):
            event.listen(mapper, name, handler)
    if not event.contains(mapper, "expire", _on_expire):
        event.listen(mapper, "expire", _on_expire, raw=True)  # raw: the instance state, not the object


def watch_all() -> None:
    """:func:`watch` every mapper configured now, and every one configured later."""
    partitionreturning.install()
    if not event.contains(Mapper, "mapper_configured", watch):
        event.listen(Mapper, "mapper_configured", watch)
    for registry in mapperlib._all_registries():  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001
        for mapper in registry.mappers:
            if mapper.configured:
                watch(mapper)


def begin_flush(session: Session) -> None:
    """Start recording the partitions a flush reads (:func:`before_flush` of a session with a cache bound)."""
    session.info[VERIFIED_KEY] = {}
    session.info[_DUE_KEY] = {}
    session.info[_EXPIRED_KEY] = {}
    partitionreturning.forget(session)


def end_flush(session: Session) -> None:
    """Drop what the last flush read: it holds the flush's instance states."""
    session.info.pop(VERIFIED_KEY, None)
    session.info.pop(_DUE_KEY, None)
    session.info.pop(_EXPIRED_KEY, None)
    partitionreturning.forget(session)


def verified_partitions(session: Session) -> Mapping[InstanceState[Any], Mapping[Table, object]]:
    """What the current flush read (empty when no cache was bound to the session when the flush began)."""
    found: Verified | None = session.info.get(VERIFIED_KEY)
    return {} if found is None else found
