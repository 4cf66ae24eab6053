"""OpenTelemetry spans and counters; nearly free until an SDK provider is installed."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = ("OUTCOMES", "Telemetry")

OUTCOMES = ("hit", "miss", "bypass", "error", "stale_served")
_SCOPE = "litestar_alchemy_kit.cache"
_RECHECK = 1.0  # seconds between looks for a newly installed SDK provider


def _is_noop(provider: object) -> bool:
    # The API's own providers: the proxy (nothing installed yet) and the explicit no-ops.
    return type(provider).__module__.startswith("opentelemetry.trace") or type(provider).__module__.startswith(
        "opentelemetry.metrics"
    )


class Telemetry:
    """Spans ``cache.get`` / ``cache.set`` / ``cache.bump`` and counters ``cache.<outcome>``.

    Instruments are (re)built only when the global provider object changes, so an SDK configured
    after the cache was created is picked up, and with no SDK each call costs one global lookup.
    """

    __slots__ = (
        "_counters",
        "_enabled",
        "_meter_checked",
        "_meter_provider",
        "_namespace",
        "_tracer",
        "_tracer_checked",
        "_tracer_provider",
        "stats",
    )

    def __init__(self, namespace: str, enabled: bool = True) -> None:
        self._namespace = namespace
        self._enabled = enabled
        self._tracer_provider: object = None
        self._tracer: trace.Tracer | None = None
        self._meter_provider: object = None
        self._counters: dict[str, Any] = {}
        self._tracer_checked = 0.0
        self._meter_checked = 0.0
        self.stats: dict[str, int] = dict.fromkeys(OUTCOMES, 0)

    def _current_tracer(self) -> trace.Tracer | None:
        now = time.monotonic()
        if now < self._tracer_checked:
            return self._tracer
        # Looking up the global provider reads os.environ: do it at most every _RECHECK seconds.
        self._tracer_checked = now + _RECHECK
        provider = trace.get_tracer_provider()
        if provider is not self._tracer_provider:
            self._tracer_provider = provider
            self._tracer = None if _is_noop(provider) else provider.get_tracer(_SCOPE)
        return self._tracer

    def _current_counters(self) -> dict[str, Any]:
        now = time.monotonic()
        if now < self._meter_checked:
            return self._counters
        self._meter_checked = now + _RECHECK
        provider = metrics.get_meter_provider()
        if provider is not self._meter_provider:
            self._meter_provider = provider
            if _is_noop(provider):
                self._counters = {}
            else:
                meter = provider.get_meter(_SCOPE)
                self._counters = {
                    outcome: meter.create_counter(
                        f"cache.{outcome}", description=f"cache {outcome.replace('_', ' ')} count"
                    )
                    for outcome in OUTCOMES
                }
        return self._counters

    def count(self, outcome: str, amount: int = 1) -> None:
        """Count an outcome (always in :attr:`stats`; in OpenTelemetry when an SDK is installed)."""
        self.stats[outcome] += amount
        if self._enabled:
            counter = self._current_counters().get(outcome)
            if counter is not None:
                counter.add(amount, {"cache.namespace": self._namespace})

    @contextlib.contextmanager
    def _span(self, tracer: trace.Tracer, name: str, attributes: dict[str, Any]) -> Generator[None, None, None]:
        with tracer.start_as_current_span(name, attributes={"cache.namespace": self._namespace, **attributes}):
            yield

    def span(self, name: str, **attributes: Any) -> contextlib.AbstractContextManager[None]:
        """A span named ``name``, or a shared no-op context when tracing is off."""
        if self._enabled:
            tracer = self._current_tracer()
            if tracer is not None:
                return self._span(tracer, name, attributes)
        return _NULL


_NULL: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
