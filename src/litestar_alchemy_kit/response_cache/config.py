"""Settings of response caching: the plugin's, and a route's (through ``opt``)."""

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from litestar.connection import ASGIConnection

from litestar_alchemy_kit.cache.keys import validate_name
from litestar_alchemy_kit.cache.options import CacheOptions

__all__ = ("ANONYMOUS", "Caller", "ResponseCachePluginConfig", "ResponseCacheRule", "Scope", "identify_caller")

Scope = Literal["public", "tenant", "user"]
"""Who may share a cached response: everyone, the caller's tenant, or the caller alone."""

_SCOPES = ("public", "tenant", "user")


class Caller(NamedTuple):
    """Who is calling, as far as cache keys are concerned."""

    tenant: "str | None"
    """The caller's tenant, ``None`` when in none."""
    subject: "str | None"
    """A stable id of the caller (a JWT ``sub``, a user id), ``None`` when unknown."""
    anonymous: bool = False
    """Whether the caller presented no credential."""


ANONYMOUS = Caller(None, None, anonymous=True)
"""The caller without a credential."""


def identify_caller(connection: "ASGIConnection[Any, Any, Any, Any]") -> "Caller | None":
    """The default ``identify``: anonymous without a user; for a JWT the ``sub`` claim; for a scalar user itself.

    Returns ``None`` (the response is then served uncached) for any other user: a key that cannot
    tell two users apart must never be built. Apps with their own user objects, or with tenants,
    pass ``identify`` (with the kit's auth feature: from ``get_auth_context``, see the docs).
    """
    scope: Any = connection.scope
    user = scope.get("user")
    if user is None:
        return ANONYMOUS
    # Litestar's JWT support needs PyJWT (an extra): if its module was never imported, no request
    # carries one of its tokens.
    jwt = sys.modules.get("litestar.security.jwt.token")
    token = scope.get("auth")
    if jwt is not None and isinstance(token, jwt.Token) and token.sub:
        return Caller(None, str(token.sub))
    if isinstance(user, (str, int)) and not isinstance(user, bool):
        return Caller(None, str(user))
    return None


def _default_options() -> CacheOptions:
    return CacheOptions()


def _default_statuses() -> frozenset[int]:
    # 206 answers a Range request, which is not part of the key.
    return frozenset(status for status in range(200, 300) if status != 206)  # noqa: PLR2004


def _default_headers() -> frozenset[str]:
    return frozenset(
        {
            "cache-control",
            "content-disposition",
            "content-encoding",
            "content-language",
            "content-location",
            "content-type",
            "expires",
            "last-modified",
            "link",
            "location",
        }
    )


@dataclass(frozen=True)
class ResponseCacheRule:
    """How one route's responses are cached; set it as ``opt={"response_cache": ResponseCacheRule(...)}``.

    ``opt={"response_cache": True}`` uses every default, ``opt={"response_cache": 30}`` sets the ttl.
    """

    ttl: "float | None" = None
    """Seconds a stored response stays fresh; ``None``: the plugin's ``default_ttl``."""
    scope: "Scope | None" = None
    """Who may share a stored response. ``None``: the caller alone when authenticated, and anonymous
    callers one shared entry. ``"tenant"`` and ``"user"`` are never cached for a caller without a
    tenant / an id; ``"public"`` shares one entry among every caller (only for responses that say
    nothing about the caller)."""
    vary: tuple[str, ...] = ()
    """Request headers the response depends on, besides ``Accept``, ``Accept-Encoding``,
    ``Accept-Language`` and the plugin's ``vary``."""
    tags: tuple[str, ...] = ()
    """Invalidation tags added by hand (bump them with ``cache.bump``); the tables the handler's
    queries read are recorded automatically."""

    def __post_init__(self) -> None:
        if self.ttl is not None and not self.ttl > 0:
            msg = f"response cache ttl must be positive or None, got {self.ttl!r}"
            raise ValueError(msg)
        if self.scope is not None and self.scope not in _SCOPES:
            msg = f"response cache scope must be one of {', '.join(_SCOPES)} or None, got {self.scope!r}"
            raise ValueError(msg)
        for name in (*self.vary, *self.tags):
            if not isinstance(name, str) or not name:  # pyright: ignore[reportUnnecessaryIsInstance]
                msg = f"response cache vary headers and tags must be non-empty strings, got {name!r}"
                raise ValueError(msg)


@dataclass
class ResponseCachePluginConfig:
    """Where cached responses live and how routes are cached by default."""

    store: str = "response_cache"
    """Name of the store in the app's ``StoreRegistry``, used when no cache is found under ``cache_state_key``."""
    namespace: str = "lak"
    """Key namespace of a cache created here; use the namespace of the cache your sessions are bound
    to (:func:`~litestar_alchemy_kit.orm.bind_cache`) so their commits invalidate responses too."""
    cache_state_key: str = "cache"
    """``app.state`` key of an :class:`~litestar_alchemy_kit.cache.AsyncCache` to share (the
    :class:`~litestar_alchemy_kit.cache.CachePlugin`'s); when absent, one is created on ``store`` and put there."""
    options: CacheOptions = field(default_factory=_default_options)
    """Options of a cache created here (ignored when an existing cache is shared)."""
    opt_key: str = "response_cache"
    """Route ``opt`` key that turns caching on for a handler (any layer: app, router, controller, handler)."""
    default_ttl: float = 60.0
    """Seconds a stored response stays fresh when the route's rule gives none; commits end it sooner."""
    vary: tuple[str, ...] = ()
    """Request headers every cached route varies on, besides ``Accept``, ``Accept-Encoding``, ``Accept-Language``
    and the header parameters its handler and dependencies declare (which, like its cookie parameters, always count)."""
    key_base_url: bool = True
    """Whether keys include the request's base URL (its scheme, ``Host`` or else the server's address, and root
    path), which ``request.base_url``, ``request.url`` and ``url_for`` build absolute URLs from. ``False`` shares
    entries across hosts and schemes, only for apps whose responses never hold an absolute URL, served under
    hosts that all serve the same data."""
    statuses: frozenset[int] = field(default_factory=_default_statuses)
    """Status codes that may be stored (2xx but 206 by default); problem responses never are."""
    stored_headers: frozenset[str] = field(default_factory=_default_headers)
    """Response headers kept in a stored response (lowercase); every other one is dropped. ``set-cookie``
    is refused whatever this says: a response that sets a cookie is never stored."""
    hit_header: "str | None" = "x-cache"
    """Response header telling ``hit``, ``miss`` or ``bypass`` (``None``: no header)."""
    cache_control: str = "no-cache"
    """Directives sent with cached responses after ``public`` / ``private`` (by scope); ``no-cache``
    makes clients revalidate, which the ETag answers with a 304. A public route's own ``Cache-Control`` wins."""
    identify: "Callable[[ASGIConnection[Any, Any, Any, Any]], Caller | None]" = identify_caller
    """Who is calling (runs after authentication); ``None`` means "cannot tell", and the response is not cached."""
    telemetry: bool = True
    """Count hits, misses, 304s, stores and bypasses (with the reason) per route in OpenTelemetry."""

    def __post_init__(self) -> None:
        validate_name("namespace", self.namespace)
        if not self.default_ttl > 0:
            msg = f"response cache default_ttl must be positive, got {self.default_ttl!r}"
            raise ValueError(msg)
        bad = sorted(status for status in self.statuses if not 200 <= status < 300)  # noqa: PLR2004
        if bad:
            msg = f"response cache statuses must be 2xx (errors are never stored), got {bad!r}"
            raise ValueError(msg)
        if "set-cookie" in {name.lower() for name in self.stored_headers}:
            msg = "response cache stored_headers must not allow set-cookie: a cookie is never replayed"
            raise ValueError(msg)

    def rule_of(self, value: object, where: str) -> ResponseCacheRule:
        """The rule an ``opt`` value stands for.

        Raises:
            ValueError: a value that is neither ``True``, a positive number nor a :class:`ResponseCacheRule`.
        """
        if isinstance(value, ResponseCacheRule):
            return value
        if value is True:
            return ResponseCacheRule()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return ResponseCacheRule(ttl=float(value))
        msg = f"opt[{self.opt_key!r}] of {where} must be True, a positive ttl or a ResponseCacheRule, got {value!r}"
        raise ValueError(msg)
