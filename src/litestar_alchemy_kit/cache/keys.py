"""Cache keys: namespaced, hashed where users control the input, stable across processes.

A key is ``{namespace}:e:{kind}:{digest}`` where ``digest`` hashes a canonical, type-tagged,
length-prefixed encoding of the scope and the fingerprint. The encoding is injective (no two
distinct inputs share one), so only a hash collision could make two inputs share a key; it uses
no ``hash()`` and no ``repr`` of arbitrary objects, so keys do not depend on the hash seed.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

__all__ = ("KeyBuilder", "canonical_bytes", "digest", "validate_name")

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


def _frame(tag: bytes, payload: bytes) -> bytes:
    return tag + str(len(payload)).encode() + b":" + payload


def _encode(obj: Any, out: list[bytes]) -> None:  # noqa: C901, PLR0912
    # Order matters: bool before int, Enum before its mixin types, datetime before date.
    if obj is None:
        out.append(b"N")
    elif obj is True or obj is False:
        out.append(b"T" if obj else b"F")
    elif isinstance(obj, enum.Enum):
        out.append(_frame(b"e", f"{type(obj).__module__}.{type(obj).__qualname__}".encode()))
        _encode(obj.value, out)
    elif isinstance(obj, str):
        out.append(_frame(b"s", obj.encode("utf-8", "surrogatepass")))
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        out.append(_frame(b"b", bytes(cast("bytes", obj))))
    elif isinstance(obj, int):
        out.append(_frame(b"i", str(int(obj)).encode()))
    elif isinstance(obj, float):
        out.append(_frame(b"f", obj.hex().encode()))
    elif isinstance(obj, decimal.Decimal):
        out.append(_frame(b"d", str(obj).encode()))
    elif isinstance(obj, uuid.UUID):
        out.append(_frame(b"u", obj.bytes))
    elif isinstance(obj, datetime.datetime):
        out.append(_frame(b"t", obj.isoformat().encode()))
    elif isinstance(obj, datetime.date):
        out.append(_frame(b"D", obj.isoformat().encode()))
    elif isinstance(obj, datetime.time):
        out.append(_frame(b"h", obj.isoformat().encode()))
    elif isinstance(obj, datetime.timedelta):
        out.append(_frame(b"r", f"{obj.days},{obj.seconds},{obj.microseconds}".encode()))
    elif isinstance(obj, Mapping):
        items = sorted(canonical_bytes(k) + canonical_bytes(v) for k, v in obj.items())  # pyright: ignore[reportUnknownVariableType,reportUnknownArgumentType]
        out.append(_frame(b"m", b"".join(_frame(b"p", item) for item in items)))
    elif isinstance(obj, (set, frozenset)):
        members = sorted(canonical_bytes(m) for m in obj)  # pyright: ignore[reportUnknownVariableType]
        out.append(_frame(b"S", b"".join(_frame(b"p", m) for m in members)))
    elif isinstance(obj, (list, tuple)):
        inner: list[bytes] = []
        for item in obj:  # pyright: ignore[reportUnknownVariableType]
            _encode(item, inner)
        out.append(_frame(b"l", b"".join(inner)))
    else:
        msg = f"cannot build a cache key from a value of type {type(obj).__qualname__!r}: use str, bytes, numbers, UUID, dates, enums or containers of them"
        raise TypeError(msg)


def canonical_bytes(obj: Any) -> bytes:
    """An injective, type-tagged byte encoding of ``obj`` (used only for hashing).

    Raises:
        TypeError: for types with no canonical form.
    """
    out: list[bytes] = []
    _encode(obj, out)
    return b"".join(out)


def digest(data: bytes) -> str:
    """Hex BLAKE2b digest, 160 bits."""
    return hashlib.blake2b(data, digest_size=_DIGEST_SIZE).hexdigest()


class KeyBuilder:
    """Builds every key a cache uses; all of them start with ``{namespace}:``."""

    __slots__ = ("_tag_keys", "namespace", "namespace_key")

    _MAX_MEMO = 4096

    def __init__(self, namespace: str) -> None:
        self.namespace = validate_name("namespace", namespace)
        self.namespace_key = f"{namespace}:n"
        self._tag_keys: dict[str, str] = {}

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
        body = canonical_bytes((tuple(scope), fingerprint))
        return f"{self.namespace}:e:{kind}:{digest(body)}"

    def tag(self, tag: str) -> str:
        """The key holding the current version token of ``tag`` (memoized: tags are few)."""
        key = self._tag_keys.get(tag)
        if key is None:
            if not isinstance(cast("object", tag), str):
                msg = f"cache tags must be str, not {type(tag).__qualname__!r}"
                raise TypeError(msg)
            key = f"{self.namespace}:t:{digest(canonical_bytes(tag))}"
            if len(self._tag_keys) >= self._MAX_MEMO:
                self._tag_keys.clear()
            self._tag_keys[tag] = key
        return key

    def lease(self, entry_key: str) -> str:
        """The key of the cross-process load lease for ``entry_key`` (kind and digest kept: one lease per entry)."""
        return f"{self.namespace}:l:{entry_key[len(self.namespace) + 3 :]}"

    @property
    def prefix(self) -> str:
        """Every key of this namespace starts with this (the ``:`` keeps ``ns`` apart from ``nsx``)."""
        return f"{self.namespace}:"
