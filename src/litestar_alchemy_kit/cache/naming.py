"""The key-naming methods both caches share (:class:`~litestar_alchemy_kit.cache.AsyncCache`, ``SyncCache``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from litestar_alchemy_kit.cache.keys import EntryPrefix, KeyBuilder

__all__ = ("KeyNaming",)


class KeyNaming:
    """Entry, tag and store keys of a cache's namespace and layout (``_keys``, ``_placed`` set by the cache)."""

    __slots__ = ()

    _keys: KeyBuilder
    _placed: bool

    def key(self, kind: str, fingerprint: str | bytes, scope: Sequence[object] = ()) -> str:
        """The key of an entry: namespace, kind, and a hash of ``scope`` and ``fingerprint``.

        Raises:
            ValueError: if ``kind`` is not 1-64 of ``A-Z a-z 0-9 _ . -``.
            TypeError: if ``scope`` holds a value with no canonical form.
        """
        return self._keys.entry(kind, fingerprint, scope)

    def key_prefix(self, kind: str, fingerprint: str | bytes, scope: Sequence[object] = ()) -> EntryPrefix:
        """The fixed part of a family of keys, ``prefix.key(suffix)`` one of them (e.g. one per primary key).

        Raises:
            ValueError: if ``kind`` is not 1-64 of ``A-Z a-z 0-9 _ . -``.
            TypeError: if ``scope`` holds a value with no canonical form.
        """
        return self._keys.entry_prefix(kind, fingerprint, scope)

    def stored_key(self, key: str, tags: Iterable[str] = ()) -> str:
        """The store key entry ``key`` depending on ``tags`` lives under.

        ``key`` itself, except on a cluster layout: there the entry sits beside the versions it is validated
        against (see :class:`~litestar_alchemy_kit.cache.ClusterLayout`), so its key ends with their slot group's hash tag.
        """
        return self._keys.place(key, self._keys.plan(tags)[1]) if self._placed else key

    def tag_key(self, tag: str) -> str:
        """The store key holding ``tag``'s current version."""
        return self._keys.tag(tag)
