"""When a cached read may populate the cache, and the per-model pieces a populate needs.

Invariant 3 (no stale sets) is enforced by the repository's read path: an entry is labelled with
tag versions read *before* its query ran, and is only installed when the query's snapshot is at
least as new as those versions, which :class:`~litestar_alchemy_kit.orm.binding.BindState` decides
from the connection the read really runs on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

import msgspec
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

from litestar_alchemy_kit.cache.keys import LRU
from litestar_alchemy_kit.orm.codec import RowCodec, Uncacheable, registry_schema

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Result
    from sqlalchemy.orm.identity import IdentityMap

__all__ = (
    "FRESH_POPULATE_OPTIONS",
    "POPULATE_OPTIONS",
    "REBUILD_ERRORS",
    "UNDECODABLE",
    "VERSIONED_OPTION",
    "codec_for",
    "populate_options",
    "result_from_rows",
    "result_keys",
    "schema_for",
    "sorted_tags",
)

VERSIONED_OPTION: Final = "litestar_alchemy_kit.versioned"
"""Execution option of a query whose tags the cache already recorded with versions read before it
(:meth:`~litestar_alchemy_kit.cache.TagRecorder.observe`): the query recorder adds none of its own."""

POPULATE_OPTIONS: Final = {"populate_existing": True, VERSIONED_OPTION: True}
"""A populating query refreshes instances already in the session's identity map: their in-memory
state may predate the versions just read, and must not be published under them. Its dependencies
are the entry's tags, recorded with their versions by the cache read that preceded it."""

FRESH_POPULATE_OPTIONS: Final = {VERSIONED_OPTION: True}
""":data:`POPULATE_OPTIONS` for a session whose identity map is empty (a request's new session): every
instance the query returns is built from its rows, so there is nothing to refresh, and refreshing
would commit each new instance's state a second time."""


UNDECODABLE: Final = "undecodable"
"""Bypass reason of a read whose entry could not be rebuilt (decoded, checked, attached): the database answered it."""

REBUILD_ERRORS: Final = (
    Uncacheable,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    msgspec.MsgspecError,
)
"""What rebuilding a malformed entry raises (a payload of another shape or codec version): invariant 7 makes it a miss."""


def populate_options(identity_map: IdentityMap) -> dict[str, bool]:
    """The execution options of a populating query of a session with this identity map."""
    return POPULATE_OPTIONS if len(identity_map) else FRESH_POPULATE_OPTIONS


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


def result_keys(result: Result[Any]) -> list[str | None]:
    """The name of each column of ``result``'s rows, by position, ``None`` for a column with no name.

    ``Result.keys()`` leaves out the columns that have no name (an unnamed ``aliased()`` or
    ``with_polymorphic()`` entity, SQLAlchemy's ORM labels them ``None``): it tells neither a row's
    width nor where its named columns are, so a result rebuilt from it would not fit its rows.
    """
    return list(result._metadata._keys)  # pyright: ignore[reportPrivateUsage]  # noqa: SLF001


def result_from_rows(keys: Sequence[str | None], rows: list[tuple[Any, ...]]) -> Result[Any]:
    """A ``Result`` over already materialized rows, as the repository's callers expect.

    ``keys``: one per column, as :func:`result_keys` gives them (``None`` for an unnamed one, as
    SQLAlchemy's ORM results hold it). A one-column result holds its values as they are, as
    SQLAlchemy's own single-entity results do: ``scalars()`` (AA's lists) yields them without
    building a row each.
    """
    metadata = SimpleResultMetaData(cast("Sequence[str]", keys))  # None keys: as the ORM's own metadata holds them
    if len(keys) == 1:
        return IteratorResult(metadata, iter([row[0] for row in rows]), _source_supports_scalars=True)
    return IteratorResult(metadata, iter(rows))
