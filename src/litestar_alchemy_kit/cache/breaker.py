"""A circuit breaker: stop calling a failing store, probe it again later."""

from __future__ import annotations

import threading
import time

__all__ = ("CircuitBreaker",)


class CircuitBreaker:
    """Closed -> (``threshold`` consecutive failures) -> open -> (``cooldown``) -> one probe.

    A successful probe closes it; a failed one opens it for another ``cooldown``. Thread-safe,
    so the sync cache can share it between threads.
    """

    __slots__ = ("_failures", "_lock", "_opened_at", "_probing", "cooldown", "threshold")

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Whether calls are currently refused (a probe may still be let through)."""
        return self._opened_at is not None

    def allow(self) -> bool:
        """May a store call be made now? While open, lets exactly one probe through per cooldown."""
        if not self.is_open:
            return True
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or time.monotonic() - self._opened_at < self.cooldown:
                return False
            self._probing = True
            return True

    def success(self) -> None:
        """Record a successful call."""
        if self._opened_at is None and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def abandon(self) -> None:
        """Record a call that ended with neither outcome (cancelled): a probe slot it held is freed."""
        if self._probing:
            with self._lock:
                self._probing = False

    def failure(self) -> None:
        """Record a failed or timed-out call."""
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.threshold:
                self._opened_at = time.monotonic()
                self._probing = False
