"""Tunables of a cache instance, in one object."""

from dataclasses import dataclass, field
from typing import Literal

from litestar_alchemy_kit.cache.codec import Codec, MsgspecCodec
from litestar_alchemy_kit.cache.limits import CacheLimits

__all__ = ("CacheOptions",)


def _default_codec() -> Codec:
    return MsgspecCodec()


@dataclass
class CacheOptions:
    """How a cache behaves; every feature beyond plain get/set is opt-in."""

    default_ttl: float | None = 300.0
    """Seconds an entry stays fresh when ``set`` gets no ``ttl``; ``None`` keeps it until evicted or invalidated."""

    timeout: float = 0.5
    """Seconds any single store operation may take before it counts as failed (a miss). Sync caches
    cannot interrupt a blocking call: give their Redis/Valkey client a ``socket_timeout`` instead."""

    breaker_threshold: int = 5
    """Consecutive store failures that open the circuit breaker (then no store call is made until a probe)."""

    breaker_cooldown: float = 2.0
    """Seconds the breaker stays open before one probe call is let through."""

    retry_initial: float = 0.05
    """Seconds before the first retry of an undelivered invalidation; doubles on each failure."""

    retry_max: float = 2.0
    """Upper bound of the delay between retries of an undelivered invalidation."""

    stale_ttl: float | None = None
    """Stale-while-revalidate window in seconds; after an entry's ``ttl`` ends, ``get_or_load`` may serve it
    for this long while one caller refreshes it. Only time-expired entries qualify: an entry invalidated by a
    tag bump is never served. ``None`` disables it."""

    negative_ttl: float | None = None
    """Seconds ``get_or_load`` caches a ``None`` result; ``None`` (the default) never caches ``None``."""

    lease_ttl: float | None = None
    """Enables the cross-process load lease; on a miss, one caller across processes takes a store-side lock for
    at most this many seconds and loads; the others wait for its value. ``None`` disables it."""

    lease_wait: float = 1.0
    """Seconds a caller waits for another process's lease holder before loading itself."""

    lease_poll: float = 0.02
    """Seconds between looks at the entry while waiting for a lease holder."""

    codec: Codec = field(default_factory=_default_codec)
    """Encodes values to bytes and back; its ``name`` is stored in entries so a codec change is a miss."""

    limits: CacheLimits = field(default_factory=CacheLimits)
    """Size caps. An entry over ``max_entry_bytes`` (1 MiB by default) or a repository result over ``max_rows``
    (10,000 by default) is served uncached and counted as a ``too_large`` bypass, never stored or truncated."""

    telemetry: bool = True
    """Emit OpenTelemetry spans and counters (free when no OpenTelemetry SDK is configured)."""

    commit_policy: Literal["available", "strict"] | None = "available"
    """How commits bound to this cache invalidate across processes. With a policy, a commit marks its tags in the
    store before the database commits and settles them after, so a writer that dies or loses the store after its
    commit never leaves other processes serving older data. ``"strict"``: a commit whose markers cannot be written
    is refused (:class:`~litestar_alchemy_kit.exceptions.CommitRefusedError`, a 503) and rolled back. ``"available"``: it
    commits anyway; with an invalidation outbox other processes' staleness is bounded by its ``staleness_bound``,
    without one by the entries' ttl. ``None``: one bump after the commit (one round trip less, no such guarantee)."""

    marker_ttl: float = 30.0
    """Seconds a commit's invalidation marker outlives a writer that never settles it (it died or lost the store
    after marking): other processes bypass the marked tags that long. Must exceed the time a ``COMMIT`` takes."""

    def __post_init__(self) -> None:
        for name in (
            "timeout",
            "breaker_cooldown",
            "retry_initial",
            "retry_max",
            "lease_wait",
            "lease_poll",
            "marker_ttl",
        ):
            if getattr(self, name) <= 0:
                msg = f"cache option {name} must be positive, got {getattr(self, name)!r}"
                raise ValueError(msg)
        for name in ("default_ttl", "stale_ttl", "negative_ttl", "lease_ttl"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                msg = f"cache option {name} must be positive or None, got {value!r}"
                raise ValueError(msg)
        if self.commit_policy not in {"available", "strict", None}:
            msg = f"cache option commit_policy must be 'available', 'strict' or None, got {self.commit_policy!r}"
            raise ValueError(msg)
        if self.breaker_threshold < 1:
            msg = f"cache option breaker_threshold must be at least 1, got {self.breaker_threshold!r}"
            raise ValueError(msg)
