"""Serving, revalidating and storing cached responses: one store round trip per request that hits.

A request on a cached route is answered in this order:

1. the route's guards run (a refused caller never reaches the cache);
2. the key is built from the request (its path, query, base URL, the headers and cookies the route
   varies on) and the caller's scope (:mod:`.keys`);
3. one ``lookup`` reads the stored response together with the current versions of the tags it
   depends on: a valid entry is a hit; a matching ``If-None-Match`` is a 304, also when the body
   is gone but the tag versions behind the client's ETag are unchanged;
4. otherwise the handler runs once per key in this process (concurrent misses wait for it) while
   :func:`~litestar_alchemy_kit.orm.record_queries` records the tables it reads, and its response
   is stored labelled with the versions read in step 3, *before* the handler ran: a commit that
   lands meanwhile leaves the entry stale at once (no stale sets).

A tag the handler read through the cache (a cached repository's hit or populate) is labelled with
the version that read observed, before the data depending on it was computed; a tag read first by
a plain query has no such version. Tags a key depended on are remembered per key (and, united, per
route, for new keys): a tag whose version was neither read before the handler ran nor observed by
a cached read cannot label the entry, so such a response is not stored, and the next miss reads
that tag first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from litestar.connection import ASGIConnection
from litestar.middleware import DefineMiddleware
from litestar.middleware.authentication import AbstractAuthenticationMiddleware
from litestar.routes import HTTPRoute

from litestar_alchemy_kit.cache import MISS, TagVersions
from litestar_alchemy_kit.cache.telemetry import Telemetry
from litestar_alchemy_kit.orm.recording import record_queries
from litestar_alchemy_kit.response_cache.keys import (
    RouteKeys,
    base_url_part,
    digest,
    etag,
    path_part,
    scope_part,
)

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar.handlers import HTTPRouteHandler
    from litestar.types import ASGIApp, HTTPResponseStartEvent, HTTPScope, Message, Receive, Scope, Send

    from litestar_alchemy_kit.cache import AsyncCache, TagRecorder
    from litestar_alchemy_kit.response_cache.config import ResponseCachePluginConfig, ResponseCacheRule
    from litestar_alchemy_kit.response_cache.config import Scope as RouteScope

__all__ = ("OUTCOMES", "ResponseCacheEngine")

logger = logging.getLogger(__name__)

OUTCOMES: Final = ("hit", "miss", "not_modified", "stored", "bypass")
"""What the engine counts, per route (``http.route``); bypasses also carry ``cache.bypass.reason``."""

_KIND: Final = "resp"
_KEYS_MAX: Final = 10_000
_ROUTE_TAGS_MAX: Final = 64
_NO_VALUE: Final = b"-"
_START: Final = "http.response.start"


class _Stored(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    etag: bytes
    """Derived from the key and the labels: equal to the ETag of any lookup that finds this entry valid."""


class _Route:
    """A cached handler, with everything per request work can take from it precomputed."""

    __slots__ = (
        "attributes",
        "cache_control",
        "guarded",
        "handler",
        "keys",
        "late_auth",
        "learned",
        "manual",
        "scope",
        "ttl",
        "vary",
        "warned",
    )

    def __init__(
        self,
        handler: HTTPRouteHandler,
        rule: ResponseCacheRule,
        config: ResponseCachePluginConfig,
        declared: tuple[frozenset[str], frozenset[str]],
    ) -> None:
        self.handler = handler
        self.scope: RouteScope | None = rule.scope
        self.ttl = rule.ttl if rule.ttl is not None else config.default_ttl
        headers, cookies = declared
        self.keys = RouteKeys((*config.vary, *rule.vary, *headers), cookies)
        self.vary = frozenset(self.keys.vary)
        self.manual = frozenset(rule.tags)
        self.learned: tuple[str, ...] = tuple(sorted(self.manual))
        self.guarded = bool(handler.resolve_guards())  # pyright: ignore[reportUnknownMemberType,reportUnknownArgumentType]
        self.late_auth = _authenticates_below_the_app(handler)
        self.warned = False  # about tenant-bound reads under a key of another tenant (logged once per route)
        visibility = "public" if rule.scope == "public" else "private"
        self.cache_control = f"{visibility}, {config.cache_control}".encode()
        self.attributes = {"http.route": min(handler.paths) if handler.paths else handler.handler_name}


def _authenticates_below_the_app(handler: HTTPRouteHandler) -> bool:
    """Whether authentication middleware runs on a router, controller or the handler: after the cache's lookup.

    The response cache's middleware is the app's, and an app's middleware wraps every layer's below it: the caller
    is not known yet when a response would be looked up (invariant 6), and guards needing one would refuse it.
    """
    for layer in handler.ownership_layers[1:]:  # the app's own middleware runs around the cache's: it is known
        for middleware in layer.middleware or ():
            found: object = middleware.middleware if isinstance(middleware, DefineMiddleware) else middleware
            if isinstance(found, type) and issubclass(found, AbstractAuthenticationMiddleware):
                return True
    return False


def _declared_parameters(app: Litestar) -> dict[int, tuple[frozenset[str], frozenset[str]]]:
    """The header and cookie parameters of every HTTP route handler of ``app``, by ``id`` of the handler.

    Read from the kwargs models Litestar built for its routes: they hold what the handler, its dependencies (at
    every layer, transitively) and the layers' ``parameters`` declare, exactly as Litestar will hand them to the
    handler. A handler on several paths has a model per path: their union counts.
    """
    found: dict[int, tuple[set[str], set[str]]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, model in route.route_handler_map.values():
            headers, cookies = found.setdefault(id(handler), (set(), set()))
            # Litestar reads headers case-insensitively, cookies by their exact name.
            headers.update(parameter.field_alias.lower() for parameter in model.expected_header_params)
            cookies.update(parameter.field_alias for parameter in model.expected_cookie_params)
    return {key: (frozenset(headers), frozenset(cookies)) for key, (headers, cookies) in found.items()}


def _foreign_tenants(route: _Route, read: set[str], keyed: str | None) -> str | None:
    """Why a response holding the rows of tenants ``read`` must not be stored under a key naming tenant ``keyed``.

    Repositories bound to a tenant (the tenant-scoped providers, or ``tenant=``) read only that tenant's rows; the
    key tells callers apart by what ``identify`` says. A public key, a key without a tenant (the default
    ``identify`` knows no tenant), or one naming another tenant (the app chose the tenant elsewhere, a header) would
    serve those rows to callers of other tenants (invariant 6): such a response is served uncached.
    """
    if not read or read == {keyed}:
        return None
    if not route.warned:
        route.warned = True
        logger.warning(
            "response cache: %s read rows of tenant(s) %s under a key %s: its responses are served uncached. Pass "
            "identify= (the AuthPlugin's config gives one) so keys name the tenant the providers scope by",
            route.attributes["http.route"],
            sorted(read),
            "shared by every caller" if route.scope == "public" else f"of tenant {keyed!r}",
        )
    return "tenant-bound reads under a key of another tenant"


def _covers(read: TagVersions, labels: TagVersions) -> bool:
    """Whether ``read`` holds every version of ``labels``: a response labelled so is current for its reader."""
    if read.namespace != labels.namespace:
        return False
    versions = read.tags
    return all(versions.get(tag) == version for tag, version in labels.tags.items())


def _matches(if_none_match: bytes, tag: bytes) -> bool:
    """Weak comparison of ``tag`` with an ``If-None-Match`` list (RFC 9110 13.1.2)."""
    if if_none_match.strip() == b"*":
        return True
    opaque = tag[2:] if tag.startswith(b"W/") else tag
    for candidate in if_none_match.split(b","):
        value = candidate.strip()
        if (value[2:] if value.startswith(b"W/") else value) == opaque:
            return True
    return False


class ResponseCacheEngine:
    """Looks up, revalidates and stores the responses of cached routes over an :class:`AsyncCache`.

    Args:
        cache: the cache holding responses; share the one your sessions are bound to, so their
            commits invalidate responses.
        config: the plugin's settings.
    """

    __slots__ = (
        "_declared",
        "_flights",
        "_key_tags",
        "_prefix",
        "_routes",
        "cache",
        "config",
        "hit_header",
        "stored_headers",
        "telemetry",
    )

    def __init__(self, cache: AsyncCache, config: ResponseCachePluginConfig) -> None:
        self.cache = cache
        self.config = config
        self.telemetry = Telemetry(cache.namespace, config.telemetry, prefix="response_cache", outcomes=OUTCOMES)
        self._routes: dict[int, _Route | None] = {}
        self._declared: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
        self._key_tags: dict[str, tuple[str, ...]] = {}
        self._flights: dict[tuple[str, str], asyncio.Future[tuple[_Stored, TagVersions] | None]] = {}
        self.hit_header = config.hit_header.lower().encode("latin-1") if config.hit_header else None
        self.stored_headers = frozenset(name.lower().encode("latin-1") for name in config.stored_headers)
        # Every key is ``{namespace}:e:resp:{digest}``: the cache's layout, with the digest computed here.
        self._prefix = cache.key(_KIND, "")[: -len(digest(b""))]

    def route(self, handler: HTTPRouteHandler, app: Litestar) -> _Route | None:
        """The cached route of ``handler`` (of ``app``), or ``None`` when its ``opt`` does not turn caching on.

        Memoized per handler: its parameters are read once, from ``app``'s routes.

        Raises:
            ValueError: the ``opt`` value is not a valid rule.
        """
        try:
            return self._routes[id(handler)]
        except KeyError:
            pass
        value = handler.opt.get(self.config.opt_key)
        route = None
        if value is not None and value is not False:
            rule = self.config.rule_of(value, handler.handler_name)
            declared = self._declared.get(id(handler))
            if declared is None:  # first use, or a route registered since: read every route once more
                self._declared = _declared_parameters(app)
                declared = self._declared.get(id(handler))
            # Not a handler of an HTTP route (no kwargs model tells its parameters): never keyed without them.
            route = None if declared is None else _Route(handler, rule, self.config, declared)
        self._routes[id(handler)] = route
        return route

    def bypass(self, route: _Route, reason: str) -> None:
        """Count a request served uncached, and why."""
        self.telemetry.bypass(reason, 1, route.attributes)

    async def _pass(  # noqa: PLR0917 - the ASGI triple and the app, as everywhere here
        self, route: _Route, reason: str, scope: Scope, receive: Receive, send: Send, app: ASGIApp
    ) -> None:
        """Run ``app`` uncached (counted, and marked ``bypass`` in the hit header)."""
        self.bypass(route, reason)
        hit = self.hit_header
        if hit is None:
            await app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == _START:
                message["headers"] = [*message.get("headers", ()), (hit, b"bypass")]
            await send(message)

        await app(scope, receive, marked)

    async def serve(  # noqa: C901, PLR0911, PLR0912, PLR0915 - the hot path, kept in one frame on purpose
        self, route: _Route, scope: HTTPScope, receive: Receive, send: Send, app: ASGIApp
    ) -> None:
        """Answer one request on a cached route: from the cache, with a 304, or by running ``app`` and storing."""
        if scope["method"] != "GET":
            await self._pass(route, "method", scope, receive, send, app)
            return
        if route.late_auth:  # the caller is known only inside: served uncached, never another caller's response
            await self._pass(route, "authentication below the app", scope, receive, send, app)
            return
        vary = route.vary
        values: dict[bytes, list[bytes]] = {}
        if_none_match: bytes | None = None
        host: bytes | None = None
        for name, value in scope["headers"]:
            if name in vary:
                values.setdefault(name, []).append(value)
            elif name == b"host":
                if host is None:  # Litestar's URLs take the first
                    host = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"range":
                await self._pass(route, "range request", scope, receive, send, app)
                return
        handler = route.handler
        if route.guarded:
            # Guards first: a caller the route refuses never learns whether something is cached.
            request: Request[Any, Any, Any] = handler.resolve_request_class()(scope=scope, receive=receive, send=send)  # pyright: ignore[reportUnknownMemberType,reportUnknownVariableType]
            await handler.authorize_connection(request)  # pyright: ignore[reportUnknownMemberType]
        connection: ASGIConnection[Any, Any, Any, Any] | None = None
        if route.scope != "public" or route.keys.cookies:
            connection = ASGIConnection(scope)
        caller = None if connection is None or route.scope == "public" else self.config.identify(connection)
        part = scope_part(route.scope, caller)
        if isinstance(part, str):
            await self._pass(route, part, scope, receive, send, app)
            return
        # Parsed by Litestar itself (and kept in the scope's state for the handler): the very values it is given.
        cookies = connection.cookies if connection is not None and route.keys.cookies else None
        base_url = base_url_part(scope, host) if self.config.key_base_url else b""
        fingerprint = route.keys.fingerprint(
            b"GET", path_part(scope), scope["query_string"], values, cookies, base_url, part
        )
        key = self._prefix + digest(fingerprint)
        known = self._key_tags.get(key)
        tags = known if known is not None else route.learned
        found = await self.cache.lookup(key, tags)
        if found.value is MISS and found.labels is not None and frozenset(found.labels) != frozenset(tags):
            # Stored under other tags (by another process, or before this one learned them): look again.
            tags = known = self.remember(key, found.labels)
            found = await self.cache.lookup(key, tags)
        versions = found.versions
        if found.value is not MISS:
            stored = _Stored(*found.value)
            tag = stored.etag
            if if_none_match is not None and _matches(if_none_match, tag):
                self.telemetry.count("not_modified", 1, route.attributes)
                await self.send_not_modified(send, route, tag, stored.headers)
                return
            self.telemetry.count("hit", 1, route.attributes)
            await self._send_stored(send, stored, tag, b"hit")
            return
        if known is not None and versions is not None and if_none_match is not None:
            # The body is gone, but the client's copy was computed under these very versions.
            tag = etag(key, versions.namespace, versions.tags).encode()
            if _matches(if_none_match, tag):
                self.telemetry.count("not_modified", 1, route.attributes)
                await self.send_not_modified(send, route, tag, None)
                return
        self.telemetry.count("miss", 1, route.attributes)
        if versions is None and self.cache.drained:
            # first use of a tag: initialise its version; undrained, the store's may predate a commit (shared: none)
            versions = await self.cache.versions(tags)
        await self._miss(
            route, key, versions, if_none_match, scope, receive, send, app, tenant=caller.tenant if caller else None
        )

    def remember(self, key: str, tags: tuple[str, ...] | frozenset[str]) -> tuple[str, ...]:
        """Note the tags the response at ``key`` depends on: its next lookup reads their versions."""
        ordered = tuple(sorted(tags))
        if len(self._key_tags) >= _KEYS_MAX:
            self._key_tags.clear()
        self._key_tags[key] = ordered
        return ordered

    async def _miss(  # noqa: PLR0917
        self,
        route: _Route,
        key: str,
        versions: TagVersions | None,
        if_none_match: bytes | None,
        scope: Scope,
        receive: Receive,
        send: Send,
        app: ASGIApp,
        *,
        tenant: str | None,
    ) -> None:
        flight: asyncio.Future[tuple[_Stored, TagVersions] | None] | None = None
        flight_key = ("", "")
        if versions is not None:
            flight_key = (key, f"{versions.namespace}|{'|'.join(f'{t}={v}' for t, v in versions.tags.items())}")
            running = self._flights.get(flight_key)
            if running is not None:
                # A handler for this key, started under the versions this caller read, is running: share it,
                # if every label of its response is a version this caller read too (a tag its handler
                # learned may have changed since: a commit returned before this caller arrived).
                shared = await asyncio.shield(running)
                if shared is not None and _covers(versions, shared[1]):
                    stored = shared[0]
                    self.telemetry.count("hit", 1, route.attributes)
                    await self._send_stored(send, stored, stored.etag, b"hit")
                    return
            else:
                flight = self._flights[flight_key] = asyncio.get_running_loop().create_future()
        capture = _Capture(self, route, key, versions, if_none_match, send)
        capture.tenant = tenant
        try:
            with record_queries(self.cache) as recorder:
                capture.recorder = recorder
                await app(scope, receive, capture)
            await capture.flush()
            if capture.stored is not None and versions is not None:
                await self.cache.set(key, list(capture.stored), capture.labels, ttl=route.ttl)
        finally:
            if flight is not None:
                del self._flights[flight_key]
                result, labels = capture.stored, capture.labels
                flight.set_result(None if result is None or labels is None else (result, labels))

    async def _send_stored(self, send: Send, stored: _Stored, tag: bytes, outcome: bytes) -> None:
        headers = [
            *stored.headers,
            (b"content-length", b"%d" % len(stored.body)),
            (b"etag", tag),
            (b"age", b"%d" % max(0, int(time.time() - stored.stored_at))),
        ]
        if self.hit_header is not None:
            headers.append((self.hit_header, outcome))
        await send({"type": _START, "status": stored.status, "headers": headers})
        await send({"type": "http.response.body", "body": stored.body, "more_body": False})

    async def send_not_modified(
        self, send: Send, route: _Route, tag: bytes, stored: list[tuple[bytes, bytes]] | None
    ) -> None:
        """Answer 304 with ``tag`` and the caching headers of the stored response (the route's when it is gone)."""
        # RFC 9110 15.4.5: the headers a 200 would carry that describe caching, not the content.
        headers = [(b"etag", tag)]
        if stored is None:
            headers += [(b"cache-control", route.cache_control), (b"vary", route.keys.vary_header)]
        else:
            headers += [(name, value) for name, value in stored if name in {b"cache-control", b"vary", b"expires"}]
        if self.hit_header is not None:
            headers.append((self.hit_header, b"hit"))
        await send({"type": _START, "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def storable(self, start: HTTPResponseStartEvent, more_body: bool, recorder: TagRecorder) -> str | None:  # noqa: PLR0911
        """Why the response starting with ``start`` must not be stored, or ``None`` when it may."""
        if recorder.refused is not None:
            return recorder.refused
        status: int = start["status"]
        if status not in self.config.statuses:
            return f"status {status}"
        if more_body:
            return "streamed body"
        for name, value in start["headers"]:
            lowered = name.lower()
            if lowered == b"set-cookie":
                return "sets a cookie"
            if lowered == b"cache-control" and (b"private" in value.lower() or b"no-store" in value.lower()):
                return "cache-control private or no-store"
            if lowered == b"content-type" and value.lower().startswith(b"application/problem+json"):
                return "problem response"
        return None


class _Capture:
    """The ``send`` of a miss: holds the response start until the body shows whether it can be stored."""

    __slots__ = (
        "engine",
        "if_none_match",
        "key",
        "labels",
        "recorder",
        "route",
        "send",
        "start",
        "stored",
        "tenant",
        "versions",
    )

    def __init__(  # noqa: PLR0917
        self,
        engine: ResponseCacheEngine,
        route: _Route,
        key: str,
        versions: TagVersions | None,
        if_none_match: bytes | None,
        send: Send,
    ) -> None:
        self.engine = engine
        self.route = route
        self.key = key
        self.versions = versions
        self.if_none_match = if_none_match
        self.send = send
        self.recorder: TagRecorder | None = None
        self.start: HTTPResponseStartEvent | None = None
        self.stored: _Stored | None = None
        self.labels: TagVersions | None = None
        self.tenant: str | None = None
        """The caller's tenant the key names (``None``: none, or a public key)."""

    async def __call__(self, message: Message) -> None:
        if message["type"] == _START:
            self.start = message
            return
        start = self.start
        if start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.start = None
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        outcome = self._decide(start, body, more_body)
        if outcome is not None and self.if_none_match is not None and _matches(self.if_none_match, outcome):
            await self.engine.send_not_modified(
                self.send, self.route, outcome, self.stored.headers if self.stored else None
            )
            return
        await self.send(start)
        await self.send(message)

    def _decide(self, start: HTTPResponseStartEvent, body: bytes, more_body: bool) -> bytes | None:
        """Store or not; add the cache headers to ``start``; return the ETag of a stored response."""
        engine, route, recorder, versions = self.engine, self.route, self.recorder, self.versions
        hit = engine.hit_header
        headers: list[tuple[bytes, bytes]] = list(start["headers"])
        if recorder is None:  # pragma: no cover - the engine sets it before the app runs
            msg = "response captured outside a recording"
            raise RuntimeError(msg)
        tags = frozenset(recorder.tags) | route.manual
        # The next miss of this key (and of new keys of this route) reads these versions first.
        engine.remember(self.key, tags)
        if not tags <= frozenset(route.learned):
            # New keys of this route read every tag any key of it needed (bounded: fine-grained tags vary per key).
            union = tags.union(route.learned)
            route.learned = tuple(sorted(union if len(union) <= _ROUTE_TAGS_MAX else tags))
        reason = engine.storable(start, more_body, recorder) or _foreign_tenants(route, recorder.tenants, self.tenant)
        outcome = b"bypass"
        labels = None
        if reason is None:
            if versions is None:
                reason = "store unavailable"
            else:
                # Labels: versions read before the handler ran, or by a cached read before its data was computed.
                labels = recorder.labels(versions.tags, route.manual)
                if labels is None:
                    # A query read a table first: the next miss reads its version before the handler.
                    reason, outcome = "learning tags", b"miss"
        if reason is not None or versions is None or labels is None:
            engine.bypass(route, reason or "store unavailable")
            if hit is not None:
                headers.append((hit, outcome))
            start["headers"] = headers
            return None
        self.labels = TagVersions(versions.namespace, labels)
        kept = [(n, v) for n, v in headers if n.lower() in engine.stored_headers]
        if route.scope != "public" or not any(n.lower() == b"cache-control" for n, _ in kept):
            # A scoped response must never sit in a shared cache downstream, whatever the handler said.
            kept = [(n, v) for n, v in kept if n.lower() != b"cache-control"]
            kept.append((b"cache-control", route.cache_control))
        kept.append((b"vary", route.keys.vary_header))
        tag = etag(self.key, versions.namespace, labels).encode()
        self.stored = _Stored(start["status"], kept, body, time.time(), tag)
        out = [(n, v) for n, v in headers if n.lower() not in {b"cache-control", b"vary"}]
        out += [(n, v) for n, v in kept if n in {b"cache-control", b"vary"}]
        out.append((b"etag", tag))
        if hit is not None:
            out.append((hit, b"miss"))
        start["headers"] = out
        engine.telemetry.count("stored", 1, route.attributes)
        return tag

    async def flush(self) -> None:
        """Send a start the app never followed with a body."""
        if self.start is not None:
            start, self.start = self.start, None
            await self.send(start)
