"""Cache keys: namespaced, hashed where users control the input, stable across processes.

A key is ``{namespace}:e:{kind}:{digest}`` where ``digest`` hashes the kit's wire-format token
(:func:`litestar_alchemy_kit.formats.format_token`) and the canonical encoding
(:mod:`litestar_alchemy_kit.canonical`) of the scope and the fingerprint. The encoding is
injective (no two distinct inputs share one), so only a hash collision could make two inputs
share a key; it uses no ``hash()`` and no ``repr`` of arbitrary objects, so keys do not depend on
the hash seed. A wire-format change moves every entry key, so old entries simply miss.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar, cast

from litestar_alchemy_kit.cache.layout import ClusterLayout
from litestar_alchemy_kit.cache.types import unique_tags
from litestar_alchemy_kit.canonical import Unencodable, canonical_bytes
from litestar_alchemy_kit.formats import format_token

__all__ = ("LRU", "EntryPrefix", "KeyBuilder", "digest", "validate_name")

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A bounded memo that forgets its least recently used item, never everything at once.

    Not locked: the sync twin's threads may race on it, which at worst computes a value twice.
    """

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value, marked as recently used, or None."""
        data = self._data
        value = data.get(key)
        if value is not None:
            try:  # noqa: SIM105 - suppress() costs more than the memo saves on this path
                data.move_to_end(key)
            except KeyError:  # removed by another thread meanwhile
                pass
        return value

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` (evicting the least recently used item when full); returns it."""
        data = self._data
        data[key] = value
        if len(data) > self._size:
            try:  # noqa: SIM105 - as above
                data.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                pass
        return value

    def __len__(self) -> int:
        return len(self._data)


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_DIGEST_SIZE = 20  # 160 bits: collisions are out of reach, keys stay short


def validate_name(what: str, value: str) -> str:
    """Check a programmer-chosen key part (namespace, kind).

    Raises:
        ValueError: if ``value`` is not 1-64 characters of ``A-Z a-z 0-9 _ . -``; ``:`` and
            glob characters are refused so that one namespace can never be a pattern or a
            prefix-with-separator of another.
    """
    if not isinstance(cast("object", value), str) or not _NAME.match(value):
        msg = f"invalid cache {what} {value!r}: use 1-64 characters from A-Z, a-z, 0-9, '_', '.', '-'"
        raise ValueError(msg)
    return value


def digest(data: bytes) -> str:
    """Hex BLAKE2b digest, 160 bits."""
    return hashlib.blake2b(data, digest_size=_DIGEST_SIZE).hexdigest()


class EntryPrefix:
    """The hash state of an entry key's fixed part (kind, scope, fingerprint); :meth:`key` adds a suffix.

    Hashing the fixed part once makes a key per value (a primary key) cost one small hash update.
    The fixed part is a complete canonical encoding and the suffix is length-prefixed, so these keys
    never equal a key of :meth:`KeyBuilder.entry` nor one with another prefix or suffix.
    """

    __slots__ = ("_head", "_state")

    def __init__(self, head: str, state: hashlib.blake2b) -> None:
        self._head = head
        self._state = state

    def key(self, suffix: str) -> str:
        """The key of the entry for ``suffix``."""
        state = self._state.copy()
        data = suffix.encode("utf-8", "surrogatepass")
        state.update(b"%d:" % len(data))
        state.update(data)
        return self._head + state.hexdigest()


class KeyBuilder:
    """Builds every key a cache uses; all of them start with ``{namespace}:``.

    With a :class:`~litestar_alchemy_kit.cache.layout.ClusterLayout` every version key ends with its
    slot group's hash tag, the namespace version is kept once per group (:attr:`namespace_keys`), and an
    entry is stored under :meth:`place` (its key plus the hash tag of its tags' anchor group).
    """

    __slots__ = ("_format", "_plans", "_tag_keys", "layout", "namespace", "namespace_key", "namespace_keys")

    _MAX_MEMO = 4096
    _PLANS_MAX = 1024

    def __init__(self, namespace: str, layout: ClusterLayout | None = None) -> None:
        self.namespace = validate_name("namespace", namespace)
        self.layout = layout
        self.namespace_key = f"{namespace}:n"
        """The namespace version's key (on a cluster layout: the stem of every group's copy)."""
        self.namespace_keys: tuple[str, ...] = (
            (self.namespace_key,) if layout is None else tuple(self.namespace_key + tag for tag in layout.hash_tags)
        )
        """Every key holding the namespace version: what ``clear()`` writes."""
        self._tag_keys: LRU[str, str] = LRU(self._MAX_MEMO)
        self._plans: LRU[tuple[str, ...], tuple[list[str], list[str]]] = LRU(self._PLANS_MAX)
        self._format = f"{format_token()}:".encode()

    def entry(self, kind: str, fingerprint: str | bytes, scope: Sequence[object] = ()) -> str:
        """The key of an entry.

        Raises:
            ValueError: if ``kind`` is not a valid name.
            TypeError: if ``fingerprint`` is not str/bytes or ``scope`` holds an unsupported type.
        """
        validate_name("kind", kind)
        if not isinstance(cast("object", fingerprint), (str, bytes)):
            msg = f"cache fingerprint must be str or bytes, not {type(fingerprint).__qualname__!r}"
            raise TypeError(msg)
        try:
            body = canonical_bytes((tuple(scope), fingerprint))
        except Unencodable as exc:
            kind_of = exc.value_type.__qualname__ if exc.value_type is not None else "unknown"
            msg = (
                f"cannot build a cache key from a value of type {kind_of!r}: use str, bytes, numbers, UUID, "
                "dates, enums, dataclasses or containers of them"
            )
            raise TypeError(msg) from exc
        return f"{self.namespace}:e:{kind}:{digest(self._format + body)}"

    def entry_prefix(self, kind: str, fingerprint: str | bytes, scope: Sequence[object] = ()) -> EntryPrefix:
        """The fixed part of a family of entry keys (see :class:`EntryPrefix`).

        Raises:
            ValueError: if ``kind`` is not a valid name.
            TypeError: if ``fingerprint`` is not str/bytes or ``scope`` holds an unsupported type.
        """
        key = self.entry(kind, fingerprint, scope)  # validates, and names the family
        state = hashlib.blake2b(key.encode(), digest_size=_DIGEST_SIZE)
        return EntryPrefix(f"{self.namespace}:e:{kind}:", state)

    def tag(self, tag: str) -> str:
        """The key holding the current version token of ``tag`` (memoized: tags are few)."""
        key = self._tag_keys.get(tag)
        if key is None:
            key = self._tag_keys.put(tag, self._tag_key(tag))
        return key

    def _tag_key(self, tag: str) -> str:
        if not isinstance(cast("object", tag), str):
            msg = f"cache tags must be str, not {type(tag).__qualname__!r}"
            raise TypeError(msg)
        # tag keys stay the same across wire formats: invalidations reach processes of every version.
        # A plain str is encoded inline, byte for byte as canonical_bytes() does.
        data = f"s{len(tag)}:{tag}".encode("utf-8", "surrogatepass") if type(tag) is str else canonical_bytes(tag)
        key = f"{self.namespace}:t:{digest(data)}"
        if self.layout is not None:
            key += self.layout.hash_tags[self.layout.group(tag)]
        return key

    def plan(self, tags: Iterable[str]) -> tuple[list[str], list[str]]:
        """The unique tag names and the version keys a read of them needs (namespace first), memoized.

        Callers pass the same few tag sets over and over; this saves deduplicating and formatting
        them on every read.

        Raises:
            TypeError: if ``tags`` is a single ``str`` or holds a non-``str``.
        """
        wanted = cast("tuple[str, ...]", tags) if type(tags) is tuple else tuple(unique_tags(tags))
        plan = self._plans.get(wanted)
        if plan is None:
            if self.layout is not None:
                names = unique_tags(wanted)
                anchor = self.namespace_keys[self.layout.anchor(names)]
                plan = self._plans.put(wanted, (names, [anchor, *[self.tag(tag) for tag in names]]))
            else:
                names = unique_tags(wanted)
                plan = self._plans.put(wanted, (names, [self.namespace_key, *[self.tag(tag) for tag in names]]))
        return plan

    def plan_row(self, tags: Iterable[str], row: str) -> tuple[list[str], list[str]]:
        """:meth:`plan` of ``tags`` plus ``row``, a tag of one entry alone (a row's tag), last.

        ``tags``' plan is memoized; ``row``'s version key is computed on every call and memoized nowhere:
        there are as many row tags as rows, so memoizing them would only evict the few shared plans, and
        a hit's cost would grow with the number of cached rows.

        Raises:
            TypeError: if ``row`` or a tag of ``tags`` is not a ``str``.
        """
        if self.layout is not None:  # the anchor depends on every tag: the plan of the whole set
            return self.plan((*tags, row))
        names, keys = self.plan(tags)
        if row in names:
            return names, keys
        return [*names, row], [*keys, self._tag_key(row)]

    def place(self, entry_key: str, version_keys: list[str]) -> str:
        """Where the entry ``entry_key``, validated against ``version_keys`` (a :meth:`plan`'s), is stored.

        On a cluster layout: beside the namespace copy it is validated against (the plan's first key),
        so a hit reads the entry and its anchor group's versions in one ``MGET``. Otherwise ``entry_key``.
        """
        if self.layout is None:
            return entry_key
        return entry_key + version_keys[0][len(self.namespace_key) :]

    def placements(self, entry_key: str) -> list[str]:
        """Every key the entry ``entry_key`` may be stored under (one per slot group on a cluster layout)."""
        if self.layout is None:
            return [entry_key]
        return [entry_key + tag for tag in self.layout.hash_tags]

    def lease(self, entry_key: str) -> str:
        """The key of the cross-process load lease for ``entry_key`` (kind and digest kept: one lease per entry)."""
        return f"{self.namespace}:l:{entry_key[len(self.namespace) + 3 :]}"

    @property
    def prefix(self) -> str:
        """Every key of this namespace starts with this (the ``:`` keeps ``ns`` apart from ``nsx``)."""
        return f"{self.namespace}:"
