"""The tags the reads of one context consulted, for callers that cache what those reads produced.

A response cache, for instance, labels a rendered response with every tag its handler's reads
depended on. Reads through :class:`~litestar_alchemy_kit.cache.AsyncCache` /
:class:`~litestar_alchemy_kit.cache.SyncCache` add their tags to the recorder of the current
context (a :class:`~contextvars.ContextVar`, so concurrent requests never mix); other layers (the
ORM's query events) add theirs, or refuse the recording when they cannot tell what was read.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

__all__ = ("TagRecorder", "current_recorder", "record_tags")


class TagRecorder:
    """What the reads of one context depended on."""

    __slots__ = ("refused", "tags")

    def __init__(self) -> None:
        self.tags: set[str] = set()
        """Every tag a read consulted."""
        self.refused: str | None = None
        """Why the recorded tags are incomplete (the first reason given), or ``None``."""

    def add(self, tags: Iterable[str]) -> None:
        """Note tags a read depends on."""
        self.tags.update(tags)

    def refuse(self, reason: str) -> None:
        """Note a read whose dependencies are unknown: what the context produced must not be cached."""
        if self.refused is None:
            self.refused = reason


_CURRENT: ContextVar[TagRecorder | None] = ContextVar("litestar_alchemy_kit.cache.recorder", default=None)


def current_recorder() -> TagRecorder | None:
    """The recorder of the current context, or ``None`` when nothing is recording."""
    return _CURRENT.get()


@contextmanager
def record_tags() -> Generator[TagRecorder, None, None]:
    """Record, until the block ends, the tags of every read made in this context (and tasks it starts)."""
    recorder = TagRecorder()
    token = _CURRENT.set(recorder)
    try:
        yield recorder
    finally:
        _CURRENT.reset(token)
