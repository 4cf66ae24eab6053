"""OpenTelemetry spans and counters; nearly free until an SDK provider is installed."""

from __future__ import annotations

import contextlib
import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping

__all__ = ("OUTCOMES", "Telemetry", "observe_outcomes")

OUTCOMES = ("hit", "miss", "bypass", "error", "stale_served")
_SCOPE = "litestar_alchemy_kit.cache"
_RECHECK = 1024  # calls between looks for a newly installed SDK provider
_observed: ContextVar[dict[str, int] | None] = ContextVar("litestar_alchemy_kit.cache.observed", default=None)


@contextlib.contextmanager
def observe_outcomes() -> Generator[Mapping[str, int], None, None]:
    """Count the outcomes of every cache call made in this context (this task and what it awaits).

    For per-request reporting, e.g. a response header saying whether a request was served from the
    cache; unlike ``cache.stats`` the counts never include other requests running concurrently::

        with observe_outcomes() as outcomes:
            ...
        served_from_cache = outcomes["hit"] > 0 and outcomes["miss"] == 0
    """
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    token = _observed.set(counts)
    try:
        yield counts
    finally:
        _observed.reset(token)


def _is_noop(provider: object) -> bool:
    # The API's own providers: the proxy (nothing installed yet) and the explicit no-ops.
    return type(provider).__module__.startswith("opentelemetry.trace") or type(provider).__module__.startswith(
        "opentelemetry.metrics"
    )


class Telemetry:
    """Spans ``cache.get`` / ``cache.set`` / ``cache.bump`` and counters ``<prefix>.<outcome>`` (``cache.hit``...).

    The global providers are looked up once every ``_RECHECK`` calls, and instruments (re)built only
    when a provider object changed: an SDK configured after the cache was created is picked up, and
    with no SDK a call costs a decrement and a ``None`` check.
    """

    __slots__ = (
        "_counters",
        "_enabled",
        "_meter_provider",
        "_namespace",
        "_observable",
        "_outcomes",
        "_prefix",
        "_ticks",
        "_tracer",
        "_tracer_provider",
        "bypass_reasons",
        "stats",
    )

    def __init__(
        self, namespace: str, enabled: bool = True, *, prefix: str = "cache", outcomes: tuple[str, ...] = OUTCOMES
    ) -> None:
        self._namespace = namespace
        self._enabled = enabled
        self._prefix = prefix
        self._outcomes = outcomes
        self._tracer_provider: object = None
        self._tracer: trace.Tracer | None = None
        self._meter_provider: object = None
        self._counters: dict[str, Any] = {}
        self._ticks = 0 if enabled else sys.maxsize
        self.stats: dict[str, int] = dict.fromkeys(outcomes, 0)
        self.bypass_reasons: dict[str, int] = {}
        # observe_outcomes() reports the cache's own outcomes; other instruments (the response cache's) stay out.
        self._observable = outcomes == OUTCOMES

    def _refresh(self) -> None:
        self._ticks = _RECHECK
        provider = trace.get_tracer_provider()
        if provider is not self._tracer_provider:
            self._tracer_provider = provider
            self._tracer = None if _is_noop(provider) else provider.get_tracer(_SCOPE)
        meter_provider = metrics.get_meter_provider()
        if meter_provider is not self._meter_provider:
            self._meter_provider = meter_provider
            if _is_noop(meter_provider):
                self._counters = {}
            else:
                meter = meter_provider.get_meter(_SCOPE)
                self._counters = {
                    outcome: meter.create_counter(
                        f"{self._prefix}.{outcome}", description=f"{self._prefix} {outcome.replace('_', ' ')} count"
                    )
                    for outcome in self._outcomes
                }

    def count(self, outcome: str, amount: int = 1, attributes: Mapping[str, str] | None = None) -> None:
        """Count an outcome (always in :attr:`stats`; in OpenTelemetry when an SDK is installed).

        ``attributes`` are added to the counter's (e.g. the route of a response cache outcome).
        """
        self.stats[outcome] += amount
        observed = _observed.get()
        if observed is not None and self._observable:
            observed[outcome] += amount
        self._ticks -= 1
        if self._ticks < 0:
            self._refresh()
        if self._counters:
            labels = {"cache.namespace": self._namespace}
            if attributes:
                labels.update(attributes)
            self._counters[outcome].add(amount, labels)

    def bypass(self, reason: str, amount: int = 1, attributes: Mapping[str, str] | None = None) -> None:
        """Count a bypass with its ``reason``.

        Counted in :attr:`stats` (``bypass``), in :attr:`bypass_reasons`, and in OpenTelemetry as
        ``<prefix>.bypass`` with the attribute ``cache.bypass.reason`` (and ``attributes``, e.g. the route).
        """
        self.stats["bypass"] += amount
        self.bypass_reasons[reason] = self.bypass_reasons.get(reason, 0) + amount
        observed = _observed.get()
        if observed is not None and self._observable:
            observed["bypass"] += amount
        self._ticks -= 1
        if self._ticks < 0:
            self._refresh()
        if self._counters:
            labels = {"cache.namespace": self._namespace, "cache.bypass.reason": reason}
            if attributes:
                labels.update(attributes)
            self._counters["bypass"].add(amount, labels)

    @contextlib.contextmanager
    def _span(self, tracer: trace.Tracer, name: str, attributes: dict[str, Any]) -> Generator[None, None, None]:
        with tracer.start_as_current_span(name, attributes={"cache.namespace": self._namespace, **attributes}):
            yield

    def tracing(self) -> bool:
        """Whether :meth:`span` would record anything (an SDK tracer provider is installed)."""
        self._ticks -= 1
        if self._ticks < 0:
            self._refresh()
        return self._tracer is not None

    def span(self, name: str, **attributes: Any) -> contextlib.AbstractContextManager[None]:
        """A span named ``name``, or a shared no-op context when tracing is off."""
        self._ticks -= 1
        if self._ticks < 0:
            self._refresh()
        tracer = self._tracer
        if tracer is None:
            return _NULL
        return self._span(tracer, name, attributes)


_NULL: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
