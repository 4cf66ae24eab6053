"""Values the cache API hands out: the miss marker and tag versions."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, Final, NamedTuple, final

__all__ = ("MISS", "Lookup", "TagVersions", "new_token", "new_tokens", "unique_tags", "version_text")


@final
class _Miss:
    """The type of :data:`MISS`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISS"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISS"


MISS: Final = _Miss()
"""Returned by ``get`` when there is no valid entry (``None`` is a value that can be cached)."""


def unique_tags(tags: Iterable[str]) -> list[str]:
    """``tags`` without repeats, in order.

    Raises:
        TypeError: if ``tags`` is a single ``str`` (a collection of tags was meant).
    """
    if isinstance(tags, str):
        msg = f"cache tags must be a collection of str, not the str {tags!r}"
        raise TypeError(msg)
    return list(dict.fromkeys(tags))


def version_text(raw: bytes | None) -> str | None:
    """A stored version token as text (``None`` when absent)."""
    return None if raw is None else raw.decode("ascii", "replace")


def new_token() -> str:
    """A fresh version token: random, so a tag key lost to eviction never comes back with an old value."""
    return secrets.token_hex(8)


def new_tokens(count: int) -> list[bytes]:
    """``count`` fresh version tokens, as :func:`new_token` makes them, from one read of the random source."""
    raw = secrets.token_hex(8 * count).encode()
    return [raw[start : start + 16] for start in range(0, 16 * count, 16)]


@final
class TagVersions:
    """The versions of a set of tags (and of the cache namespace), read before a query runs.

    Pass it unchanged to ``set``: the entry is labelled with these versions and hits only while
    they are all still current.
    """

    __slots__ = ("namespace", "tags")

    def __init__(self, namespace: str, tags: dict[str, str]) -> None:
        self.namespace = namespace
        self.tags = tags

    def __repr__(self) -> str:
        return f"TagVersions(namespace={self.namespace!r}, tags={self.tags!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TagVersions) and (self.namespace, self.tags) == (other.namespace, other.tags)

    def __hash__(self) -> int:
        return hash((self.namespace, tuple(sorted(self.tags.items()))))


class Lookup(NamedTuple):
    """What one round trip of ``lookup`` found: the entry, the current versions, the entry's own tags."""

    value: Any
    """The valid entry's value, or :data:`MISS`."""
    versions: TagVersions | None
    """The current versions of the tags asked for (read with the entry); ``None`` if one is missing or the store failed."""
    labels: tuple[str, ...] | None
    """The tags of an entry that exists but was not valid for the tags asked for (e.g. stored under other
    tags), else ``None``: a caller may look up again with these."""
