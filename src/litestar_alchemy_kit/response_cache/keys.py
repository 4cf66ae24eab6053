"""Response cache keys and ETags: canonical, collision-free, computed from parts prepared once per route.

A key hashes a length-prefixed framing of the method, the raw path, the raw query string, the
values of every header the route varies on (those its handler and dependencies declare included),
the values of the cookies they declare, the request's base URL (scheme, host, root path) and the
caller's scope. Framing every part with its length makes the encoding injective: ``/items/ab?c=1``
and ``/items/abc=1`` (or a header value holding a separator) can never produce the same bytes.
Nothing is decoded or reordered, so two requests share a key only if the handler sees exactly the
same inputs.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from litestar_alchemy_kit.response_cache.config import Caller, Scope

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from litestar.types import HTTPScope

__all__ = ("ALWAYS_VARY", "RouteKeys", "base_url_part", "digest", "etag", "frame", "path_part", "scope_part")

ALWAYS_VARY = ("accept", "accept-encoding", "accept-language")
"""Negotiated request headers every cached response varies on."""

_DIGEST_SIZE = 20
# RFC 3986 ``pchar`` and ``/``: what a client sends unencoded in a path. ``%`` and ``?`` are not among them.
_PATH_SAFE = "/:@!$&'()*+,;="


def frame(tag: bytes, payload: bytes) -> bytes:
    """``tag`` + decimal length + ``:`` + ``payload``: one self-delimiting part of an injective encoding."""
    return b"%s%d:%s" % (tag, len(payload), payload)


_PUBLIC = frame(b"s", b"public")
_SCHEMES = {scheme: frame(b"s", scheme.encode()) for scheme in ("http", "https")}
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


def path_part(scope: HTTPScope) -> bytes:
    """The request's path as the client sent it: ``raw_path`` without a query, or ``path`` percent-encoded.

    ``raw_path`` is optional in ASGI. The decoded ``path`` may hold a ``?`` or a ``%`` the client sent encoded
    (``/files/a%3Fb``): encoding it again (``%`` and ``?`` included) keeps every decoded path apart, and gives
    the bytes a raw path would hold for an ordinary path.
    """
    raw_path: bytes | None = cast("Mapping[str, Any]", scope).get("raw_path")  # optional in ASGI
    if not raw_path:
        return quote(scope["path"], safe=_PATH_SAFE, errors="surrogatepass").encode("ascii")
    if b"?" in raw_path:  # some servers (and test clients) send the query in raw_path too: it is keyed apart
        return raw_path.partition(b"?")[0]
    return raw_path


def base_url_part(scope: HTTPScope, host: bytes | None) -> bytes:
    """The inputs of Litestar's ``request.base_url`` (so of ``url_for`` and ``request.url``), framed.

    Litestar takes the scheme, the first ``Host`` header (``host``), the server's address when there is
    none, and the root path; so does this, with the server's port always (finer than Litestar: never a
    collision). Formatted in one go, the usual schemes framed once: this runs on every hit.
    """
    items = cast("Mapping[str, Any]", scope)  # keys optional in ASGI, and Litestar's own app_root_path
    if host is not None:
        tag, netloc = b"h", host
    elif (server := items.get("server")) is not None:
        tag, netloc = b"a", f"{server[0]}:{server[1]}".encode("utf-8", "surrogatepass")
    else:
        tag, netloc = b"n", b""
    # app_root_path: the root path of a mounted app, which Litestar's base_url prefers
    root: str | None = items.get("app_root_path") or items.get("root_path")
    encoded_root = root.encode("utf-8", "surrogatepass") if root else b""
    scheme: str = items.get("scheme", "http")
    framed_scheme = _SCHEMES.get(scheme) or frame(b"s", scheme.encode("utf-8", "surrogatepass"))
    payload = b"%s%s%d:%sr%d:%s" % (framed_scheme, tag, len(netloc), netloc, len(encoded_root), encoded_root)
    return b"u%d:%s" % (len(payload), payload)


class RouteKeys:
    """The per-route, precomputed half of every key of one route.

    Args:
        vary: request header names the route varies on (any case); :data:`ALWAYS_VARY` is added.
        cookies: names of the cookies the route varies on (cookie names are case-sensitive).
    """

    __slots__ = ("cookies", "vary", "vary_header")

    def __init__(self, vary: Iterable[str], cookies: Iterable[str] = ()) -> None:
        names = sorted({name.lower() for name in (*ALWAYS_VARY, *vary)})
        self.vary: tuple[bytes, ...] = tuple(name.encode("latin-1") for name in names)
        """Lowercase header names, sorted (the order the key frames them in)."""
        self.cookies: tuple[str, ...] = tuple(sorted(set(cookies)))
        """Cookie names, sorted (the order the key frames their values in)."""
        # A downstream cache cannot key by one cookie: ``Vary: Cookie`` makes it key by all of them.
        shown = names if not self.cookies or "cookie" in names else sorted((*names, "cookie"))
        self.vary_header: bytes = ", ".join("-".join(p.capitalize() for p in n.split("-")) for n in shown).encode()
        """The ``Vary`` response header value."""

    def fingerprint(  # noqa: PLR0917 - one positional argument per part of the key, in the order they are framed
        self,
        method: bytes,
        path: bytes,
        query: bytes,
        headers: Mapping[bytes, list[bytes]],
        cookies: Mapping[str, str] | None,
        base_url: bytes,
        scope: bytes,
    ) -> bytes:
        """The injective encoding of one request's key parts.

        Args:
            method: the request method.
            path: the raw path (:func:`path_part`).
            query: the raw query string.
            headers: the vary headers' values, by lowercase name.
            cookies: the request's cookies as Litestar parses them (``None`` when the route varies on none).
            base_url: :func:`base_url_part`, or empty when the plugin leaves the base URL out of its keys.
            scope: :func:`scope_part`.
        """
        out = [_GET if method == b"GET" else frame(b"m", method), frame(b"p", path), frame(b"q", query)]
        for name in self.vary:
            values = headers.get(name)
            if values is None:
                out.append(b"h-")
            else:
                out.append(frame(b"h", b"".join(frame(b"v", value) for value in values)))
        for cookie_name in self.cookies:
            cookie = None if cookies is None else cookies.get(cookie_name)
            out.append(b"c-" if cookie is None else frame(b"c", cookie.encode("utf-8", "surrogatepass")))
        out.extend((base_url, scope))
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
