"""When a cached read may populate the cache, and the per-model pieces a populate needs.

Invariant 3 (no stale sets) is enforced here together with the repository's read path: an entry
is labelled with tag versions read *before* its query ran, and is only installed when the query's
snapshot is at least as new as those versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.orm.codec import RowCodec, registry_schema

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Result

__all__ = (
    "POPULATE_OPTIONS",
    "codec_for",
    "in_transaction",
    "isolation_allows_populate",
    "result_from_rows",
    "schema_for",
    "sorted_tags",
)

POPULATE_OPTIONS: Final = {"populate_existing": True}
"""A populating query refreshes instances already in the session's identity map: their in-memory
state may predate the versions just read, and must not be published under them."""

_SNAPSHOT_PER_STATEMENT: Final = frozenset({"READ COMMITTED", "READ UNCOMMITTED", "AUTOCOMMIT"})

_codecs: dict[type, RowCodec] = {}
_schemas: dict[type, str] = {}
_tag_order: LRU[frozenset[str], tuple[str, ...]] = LRU(4096)  # partition tags: a set per tenant


def codec_for(model: type) -> RowCodec:
    """The row codec of ``model``'s registry (one per model class, built once)."""
    codec = _codecs.get(model)
    if codec is None:
        codec = _codecs[model] = RowCodec(model)
    return codec


def schema_for(model: type) -> str:
    """The schema string stored with entries about ``model`` (memoized)."""
    schema = _schemas.get(model)
    if schema is None:
        schema = _schemas[model] = registry_schema(model)
    return schema


def sorted_tags(tags: frozenset[str]) -> tuple[str, ...]:
    """``tags`` in a canonical order (memoized: the same sets recur on every read)."""
    ordered = _tag_order.get(tags)
    if ordered is None:
        ordered = _tag_order.put(tags, tuple(sorted(tags)))
    return ordered


def isolation_allows_populate(connection: Any) -> bool:
    """Whether a statement on ``connection``, inside an open transaction, sees commits made before it starts.

    Under READ COMMITTED each statement takes a fresh snapshot, so a result computed after the
    versions were read is at least as new as them. Under REPEATABLE READ / SERIALIZABLE (MariaDB's
    and SQLite's default) the snapshot may predate the versions: only a query that opens its
    transaction may populate the cache then.
    """
    sync_connection = getattr(connection, "sync_connection", connection)
    level = sync_connection.get_execution_options().get("isolation_level") or sync_connection.default_isolation_level
    return isinstance(level, str) and level.upper().replace("_", " ") in _SNAPSHOT_PER_STATEMENT


def in_transaction(session: Any) -> bool:
    """``session.in_transaction()``, also for scoped sessions (which proxy to the current session)."""
    method = getattr(session, "in_transaction", None)
    return bool(method() if method is not None else session().in_transaction())


def result_from_rows(keys: Sequence[str], rows: list[tuple[Any, ...]]) -> Result[Any]:
    """A ``Result`` over already materialized rows, as the repository's callers expect."""
    return IteratorResult(SimpleResultMetaData(keys), iter(rows))
