"""A cache that records the tags each bump delivers, for tests of what a write invalidates."""

from __future__ import annotations

from typing import Any

from litestar_alchemy_kit.cache import SyncCache, SyncMemoryBackend


def recording_cache() -> tuple[SyncCache, list[set[str]]]:
    """An in-memory cache, and the tag sets its bumps deliver, one per bump, in order."""
    cache = SyncCache(SyncMemoryBackend())
    bumped: list[set[str]] = []
    deliver = cache.bump

    def record(tags: Any, marker: str | None = None) -> bool:
        bumped.append(set(tags))
        return deliver(tags, marker=marker)

    cache.bump = record  # type: ignore[method-assign]
    return cache, bumped
