"""Invalidation markers: phase one of a commit's two-phase invalidation.

Before a commit, the writer replaces each affected tag's version with a *marker* (``!`` and the ids
of the commits in flight on that tag, comma-separated), with a store-side ttl. An entry is never
labelled with a marker, so no entry of a marked tag hits; a reader that reads a marker as a version
does not populate either. After the commit the writer *settles* its marker: it removes its id, and
the last id out writes a fresh version token. A writer that dies or loses the store after its
commit leaves its marker behind: other processes bypass the tag until the marker's ttl ends, and
then initialise a fresh version, computed after the commit. No process serves the old value.

Markers accumulate ids instead of overwriting each other, so one writer's settle never lifts the
marker of another writer whose commit is still in flight. On Redis/Valkey marking and settling are
Lua scripts (atomic, one round trip); other stores get the same values by read-modify-write. Like the
``MSET`` they replace, the scripts overwrite a key of another type (a ``GET`` error reads as absent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from litestar_alchemy_kit.cache.types import TagVersions, version_text

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ("MARK", "MARK_SCRIPT", "SETTLE_SCRIPT", "is_marker", "marked", "settled", "unmarked", "versions_of")

MARK: Final = b"!"
"""First byte of a marker; version tokens are hex, so nothing else starts with it."""

MARK_SCRIPT: Final = """
for i, key in ipairs(KEYS) do
  local current = redis.pcall('GET', key)
  if type(current) == 'table' then current = false end
  local value
  if current and string.sub(current, 1, 1) == '!' then
    value = current .. ',' .. ARGV[1]
  else
    value = '!' .. ARGV[1]
  end
  redis.call('SET', key, value, 'PX', ARGV[2])
end
return #KEYS
"""
"""KEYS: tag version keys; ARGV[1]: the commit's marker id, ARGV[2]: the marker ttl in milliseconds."""

SETTLE_SCRIPT: Final = """
local ids = {}
for id in string.gmatch(ARGV[1], '[^ ]+') do ids[id] = true end
for i, key in ipairs(KEYS) do
  local current = redis.pcall('GET', key)
  if type(current) == 'table' then current = false end
  if current and string.sub(current, 1, 1) == '!' then
    local rest = {}
    for id in string.gmatch(string.sub(current, 2), '[^,]+') do
      if not ids[id] then table.insert(rest, id) end
    end
    if #rest > 0 then
      redis.call('SET', key, '!' .. table.concat(rest, ','), 'KEEPTTL')
    else
      redis.call('SET', key, ARGV[i + 1])
    end
  else
    redis.call('SET', key, ARGV[i + 1])
  end
end
return #KEYS
"""
"""KEYS: tag version keys; ARGV[1]: space-separated marker ids to remove; ARGV[i + 1]: the new token of KEYS[i]."""


def is_marker(value: bytes | None) -> bool:
    """Whether a stored version is a marker (a commit touching the tag is in flight)."""
    return value is not None and value[:1] == MARK


def unmarked(raw: Sequence[bytes | None]) -> bool:
    """Whether none of the versions ``raw`` is absent or a marker (so they may label a new entry)."""
    return not any(value is None or value[:1] == b"!" for value in raw)


def marked(current: bytes | None, marker_id: str) -> bytes:
    """The version after adding ``marker_id`` to ``current`` (what :data:`MARK_SCRIPT` writes)."""
    if is_marker(current):
        assert current is not None  # noqa: S101 - narrowed by is_marker
        return current + b"," + marker_id.encode()
    return MARK + marker_id.encode()


def settled(current: bytes | None, marker_ids: Iterable[str], token: bytes) -> tuple[bytes, bool]:
    """The version after removing ``marker_ids`` from ``current``, and whether it is still a marker.

    What :data:`SETTLE_SCRIPT` writes: the remaining marker if other commits are still in flight,
    else ``token``.
    """
    if not is_marker(current):
        return token, False
    assert current is not None  # noqa: S101 - narrowed by is_marker
    gone = {marker_id.encode() for marker_id in marker_ids}
    rest = [part for part in current[1:].split(b",") if part and part not in gone]
    if rest:
        return MARK + b",".join(rest), True
    return token, False


def versions_of(raw: Sequence[bytes | None], names: Sequence[str]) -> TagVersions | None:
    """The versions ``raw`` (the namespace's, then ``names``') as a label, or ``None`` if one is absent or marked."""
    if not unmarked(raw):
        return None
    return TagVersions(
        version_text(raw[0]) or "", dict(zip(names, [version_text(v) or "" for v in raw[1:]], strict=True))
    )
