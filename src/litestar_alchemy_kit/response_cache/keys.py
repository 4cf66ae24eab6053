"""Response cache keys and ETags: canonical, collision-free, computed from parts prepared once per route.

A key hashes a length-prefixed framing of the method, the raw path, the raw query string, the
values of every header the route varies on, and the caller's scope. Framing every part with its
length makes the encoding injective: ``/items/ab?c=1`` and ``/items/abc=1`` (or a header value
holding a separator) can never produce the same bytes. Nothing is decoded or reordered, so two
requests share a key only if the handler sees exactly the same inputs.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from litestar_alchemy_kit.response_cache.config import Caller, Scope

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ("ALWAYS_VARY", "RouteKeys", "digest", "etag", "frame", "scope_part")

ALWAYS_VARY = ("accept", "accept-encoding", "accept-language")
"""Negotiated request headers every cached response varies on."""

_DIGEST_SIZE = 20


def frame(tag: bytes, payload: bytes) -> bytes:
    """``tag`` + decimal length + ``:`` + ``payload``: one self-delimiting part of an injective encoding."""
    return b"%s%d:%s" % (tag, len(payload), payload)


_PUBLIC = frame(b"s", b"public")
_GET = frame(b"m", b"GET")
_ANONYMOUS = frame(b"s", b"anonymous")


def _text(value: str | None) -> bytes:
    return b"N" if value is None else frame(b"v", value.encode("utf-8", "surrogatepass"))


def scope_part(scope: Scope | None, caller: Caller | None) -> bytes | str:  # noqa: PLR0911
    """The caller's share of a key, or (a ``str``) why no key may be built for it.

    ``None`` scope: the caller alone when authenticated, one shared entry for anonymous callers.
    """
    if scope == "public":
        return _PUBLIC
    if caller is None:
        return "unidentified caller"
    if caller.anonymous:
        # Nobody to tell apart: every anonymous caller sees the same response, whatever the scope.
        return _ANONYMOUS if scope != "tenant" else "tenant scope without a tenant"
    if scope == "tenant":
        if caller.tenant is None:
            return "tenant scope without a tenant"
        return frame(b"s", b"tenant" + _text(caller.tenant))
    if caller.subject is None:
        return "user scope without a subject"
    return frame(b"s", b"user" + _text(caller.tenant) + _text(caller.subject))


class RouteKeys:
    """The per-route, precomputed half of every key of one route.

    Args:
        vary: request header names the route varies on (any case); :data:`ALWAYS_VARY` is added.
    """

    __slots__ = ("vary", "vary_header")

    def __init__(self, vary: Iterable[str]) -> None:
        names = sorted({name.lower() for name in (*ALWAYS_VARY, *vary)})
        self.vary: tuple[bytes, ...] = tuple(name.encode("latin-1") for name in names)
        """Lowercase header names, sorted (the order the key frames them in)."""
        self.vary_header: bytes = ", ".join("-".join(p.capitalize() for p in n.split("-")) for n in names).encode()
        """The ``Vary`` response header value."""

    def fingerprint(
        self, method: bytes, path: bytes, query: bytes, headers: Mapping[bytes, list[bytes]], scope: bytes
    ) -> bytes:
        """The injective encoding of one request's key parts (``headers``: the vary headers' values by name)."""
        out = [_GET if method == b"GET" else frame(b"m", method), frame(b"p", path), frame(b"q", query)]
        for name in self.vary:
            values = headers.get(name)
            if values is None:
                out.append(b"h-")
            else:
                out.append(frame(b"h", b"".join(frame(b"v", value) for value in values)))
        out.append(scope)
        return b"".join(out)


def digest(data: bytes) -> str:
    """Hex BLAKE2b-160 of ``data``."""
    return hashlib.blake2b(data, digest_size=_DIGEST_SIZE).hexdigest()


def etag(key: str, namespace_version: str, labels: Mapping[str, str]) -> str:
    """The weak ETag of the response stored at ``key`` under these tag versions (never of its body).

    Equal for every response computed under the same versions, in every process: a commit to any
    labelled table changes a version and so the ETag. Tag names are part of it, so a different tag
    set never matches.
    """
    out = [frame(b"k", key.encode()), frame(b"n", namespace_version.encode())]
    out.extend(
        frame(b"t", tag.encode("utf-8", "surrogatepass")) + frame(b"v", labels[tag].encode()) for tag in sorted(labels)
    )
    return f'W/"{digest(b"".join(out))}"'
