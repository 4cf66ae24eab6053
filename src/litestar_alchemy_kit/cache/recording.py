"""The tags the reads of one context consulted, for callers that cache what those reads produced.

A response cache, for instance, labels a rendered response with every tag its handler's reads
depended on. Reads through :class:`~litestar_alchemy_kit.cache.AsyncCache` /
:class:`~litestar_alchemy_kit.cache.SyncCache` add their tags to the recorder of the current
context (a :class:`~contextvars.ContextVar`, so concurrent requests never mix) together with the
versions they read; other layers (the ORM's query events) add bare tags, or refuse the recording
when they cannot tell what was read.

What the context produced may be labelled with a tag's version only if that version was read
before any data depending on the tag (no stale sets): a version read before the context began, or
the first version a cache read observed, provided no bare read of the tag came earlier. Either
way the oldest version wins, so a commit landing in between leaves the label stale at once.

It also notes the tenants whose rows the context's repositories were bound to (:meth:`TagRecorder.bind`): what the
context produced holds those tenants' data, and may be shared only with callers of that one tenant (invariant 6).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Mapping

    from litestar_alchemy_kit.cache.types import TagVersions

__all__ = ("TagRecorder", "current_recorder", "record_tags")


class TagRecorder:
    """What the reads of one context depended on."""

    __slots__ = ("bare", "observed", "refused", "source", "tags", "tenants")

    def __init__(self, source: object | None = None) -> None:
        self.source = source
        """The cache whose versions may label what the context produced; reads of any other cache count as bare."""
        self.tags: set[str] = set()
        """Every tag a read consulted."""
        self.refused: str | None = None
        """Why the recorded tags are incomplete (the first reason given), or ``None``."""
        self.observed: dict[str, str] = {}
        """The first version read of each tag that was observed before any bare read of it."""
        self.bare: set[str] = set()
        """Tags some read depended on before (or without) any version of them was observed."""
        self.tenants: set[str] = set()
        """The tenants (as text) whose rows a repository built in the context was bound to."""

    def bind(self, tenant: object) -> None:
        """Note a repository bound to ``tenant``: what the context produces may hold that tenant's rows."""
        self.tenants.add(tenant if isinstance(tenant, str) else str(tenant))

    def add(self, tags: Iterable[str]) -> None:
        """Note tags a read depends on, with no version read before it (a database query)."""
        for tag in tags:
            if tag not in self.observed:
                self.bare.add(tag)
            self.tags.add(tag)

    def need(self, tags: Iterable[str]) -> None:
        """Note tags what the context produces depends on, before any data or version of them was read.

        A cache read that found no versions (first use, a failing store) reads no data either: a later
        read of the same tags decides whether they can be labelled.
        """
        self.tags.update(tags)

    def observe(self, versions: TagVersions, source: object) -> None:
        """Note tags ``source`` read together with their versions, before any data depending on them was computed.

        A cache hit's entry was valid under these versions; a cache miss computes its value after reading them.
        Versions of another cache than :attr:`source` mean nothing here: its tags count as bare.
        """
        if source is not self.source:
            self.add(versions.tags)
            return
        observed, bare = self.observed, self.bare
        for tag, version in versions.tags.items():
            if tag not in observed and tag not in bare:
                observed[tag] = version
            self.tags.add(tag)

    def labels(self, before: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str] | None:
        """Versions to label what the context produced with: every recorded tag and ``extra``, or ``None``.

        A tag's label is its version in ``before`` (read before the context ran), else its first
        observed version; ``None`` when some tag has neither (a bare read came first): its version
        must be read before the context runs next time.
        """
        labels: dict[str, str] = {}
        observed = self.observed
        for tag in (*self.tags, *extra):
            version = before.get(tag)
            if version is None:
                version = observed.get(tag)
                if version is None:
                    return None
            labels[tag] = version
        return labels

    def refuse(self, reason: str) -> None:
        """Note a read whose dependencies are unknown: what the context produced must not be cached."""
        if self.refused is None:
            self.refused = reason


_CURRENT: ContextVar[TagRecorder | None] = ContextVar("litestar_alchemy_kit.cache.recorder", default=None)


def current_recorder() -> TagRecorder | None:
    """The recorder of the current context, or ``None`` when nothing is recording."""
    return _CURRENT.get()


@contextmanager
def record_tags(source: object | None = None) -> Generator[TagRecorder, None, None]:
    """Record, until the block ends, the tags of every read made in this context (and tasks it starts).

    Args:
        source: the cache whose versions, read by reads in the block, may label what the block produces.
    """
    recorder = TagRecorder(source)
    token = _CURRENT.set(recorder)
    try:
        yield recorder
    finally:
        _CURRENT.reset(token)
