"""The tenant values of the rows a flush updates or deletes, read from the database under a row lock.

A session's value of a row's tenant column may be stale: another transaction can move the row to
another tenant after this session loaded it, and the flush's ``UPDATE`` / ``DELETE`` finds the row by
its primary key alone, wherever it is now. The partition tags a write bumps must name the partition the
row is in, not the one the session remembers, or the lists of the row's real partition keep serving it.

So before a flush of a session with a cache bound, the rows of tenant-owned tables that the session
holds as dirty or deleted are read, one statement per table: ``SELECT ... FOR UPDATE`` where the dialect
has it (PostgreSQL, MySQL / MariaDB, Oracle), so that no other transaction moves them until this one
ends. SQLite and DuckDB have no row locks: SQLite serialises writers (as long as the transaction has
begun: with the driver's legacy transaction handling it begins at the first write, see the repository guide),
and DuckDB aborts one of two transactions that write the same row.

:func:`~litestar_alchemy_kit.orm.flushtags.flush_bumps` takes a written row's partitions from here: the one
read, and the one the flush set if it changed the column. A row the flush writes that this read did not
see (a delete-orphan, a row whose foreign key the flush sets, one added by a later ``before_flush``
listener, one another transaction deleted) has no verified partition: its table's coarse tag is bumped.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Table, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state

from litestar_alchemy_kit.orm.finetags import column_kind
from litestar_alchemy_kit.orm.partition import tenant_column_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Mapper
    from sqlalchemy.orm.state import InstanceState
    from sqlalchemy.sql.schema import Column

__all__ = ("VERIFIED_KEY", "read_partitions", "read_row_partition", "verified_partitions")

VERIFIED_KEY: Final = "litestar_alchemy_kit.verified_partitions"
"""``Session.info`` key of the values :func:`read_partitions` found, by instance state and table."""

_LOCKING_DIALECTS: Final = frozenset({"postgresql", "mysql", "mariadb", "oracle"})
_CHUNK: Final = 500  # keys per statement: bounded parameter lists on every driver

Verified = dict["InstanceState[Any]", dict[Table, object]]


@cache
def _partitioned(
    mapper: Mapper[Any],
) -> tuple[tuple[Table, Column[Any], tuple[Column[Any], ...], tuple[int, ...]], ...]:
    """The tables of ``mapper`` with a fine tenant column: the table, the column, its key and the key's identity positions.

    A table whose primary key the mapper's identity does not hold column for column is left out (its rows
    stay unverified: the coarse tag).
    """
    found: list[tuple[Table, Column[Any], tuple[Column[Any], ...], tuple[int, ...]]] = []
    identity = list(mapper.primary_key)
    for table in mapper.tables:
        if not isinstance(table, Table):
            continue
        tenant = tenant_column_of(table)
        if tenant is None or column_kind(tenant) is None:
            continue
        key = tuple(table.primary_key.columns)
        positions = tuple(next((i for i, c in enumerate(identity) if c.shares_lineage(col)), -1) for col in key)
        if key and -1 not in positions:
            found.append((table, tenant, key, positions))
    return tuple(found)


def read_partitions(session: Session) -> None:
    """Read the tenant values of the session's dirty and deleted rows of tenant-owned tables (before its flush)."""
    wanted: dict[
        tuple[Table, Column[Any], tuple[Column[Any], ...]],
        tuple[Mapper[Any], dict[tuple[Any, ...], list[InstanceState[Any]]]],
    ] = {}
    for instance in (*session.dirty, *session.deleted):
        state: InstanceState[Any] = instance_state(instance)
        if state.key is None:
            continue
        identity = state.key[1]
        for table, tenant, key, positions in _partitioned(state.mapper):
            _, rows = wanted.setdefault((table, tenant, key), (state.mapper, {}))
            rows.setdefault(tuple(identity[i] for i in positions), []).append(state)
    verified: Verified = {}
    session.info[VERIFIED_KEY] = verified
    for (table, tenant, key), (mapper, rows) in wanted.items():
        connection = session.connection(bind_arguments={"mapper": mapper})
        lock = connection.dialect.name in _LOCKING_DIALECTS
        keys = list(rows)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            where = key[0].in_([k[0] for k in chunk]) if len(key) == 1 else tuple_(*key).in_(chunk)
            statement = select(*key, tenant).where(where)
            if lock:
                statement = statement.with_for_update()
            for row in connection.execute(statement):
                for state in rows.get(tuple(row[: len(key)]), ()):
                    verified.setdefault(state, {})[table] = row[len(key)]


def read_row_partition(mapper: Mapper[Any], connection: Connection, target: object) -> None:
    """``before_update`` / ``before_delete``: read the tenant values of a row the flush writes that the batch did not.

    A delete-orphan, a row whose foreign key the flush sets, a row a later ``before_flush`` listener changed:
    one statement per such row, on the flush's connection, locked as the batch is. Nothing when the batch did
    not run (no cache was bound to the session when the flush began).
    """
    state: InstanceState[Any] = instance_state(target)
    session = state.session
    verified: Verified | None = None if session is None else session.info.get(VERIFIED_KEY)
    if verified is None or state.key is None:
        return
    have = verified.get(state, {})
    identity = state.key[1]
    for table, tenant, key, positions in _partitioned(mapper):
        if table in have:
            continue
        statement = select(tenant).where(*(column == identity[i] for column, i in zip(key, positions, strict=True)))
        if connection.dialect.name in _LOCKING_DIALECTS:
            statement = statement.with_for_update()
        row = connection.execute(statement).first()
        if row is not None:
            verified.setdefault(state, {})[table] = row[0]


def verified_partitions(session: Session) -> Mapping[InstanceState[Any], Mapping[Table, object]]:
    """What :func:`read_partitions` found before the session's current flush (empty if it did not run)."""
    found: Verified | None = session.info.get(VERIFIED_KEY)
    return {} if found is None else found
