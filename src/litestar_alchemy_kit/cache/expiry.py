"""A timer wheel of keys by expiry time: expired entries are found without a read of their key."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("ExpiryWheel",)

_SHRINK_FROM = 64  # a slot's set is rebuilt once it holds under a quarter of its peak (and the peak is at least this)


class _Slot:
    """The keys of one slot, and the most it held.

    Sets never shrink on ``discard``: a slot whose keys are mostly evicted is copied into a right-sized
    set (amortized O(1) per discard).
    """

    __slots__ = ("keys", "peak")

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.peak = 0


class ExpiryWheel:
    """Keys grouped into slots of ``resolution`` seconds by the time they expire.

    Adding or moving a key is O(1) (plus O(log slots) for a slot's first key); :meth:`due` hands out
    keys of slots that have ended, a bounded number per call, so a store can reclaim a few expired
    entries on each write instead of scanning everything or waiting for reads. A key is handed out
    once its slot has ended, which is never before it expires (and at most ``resolution`` after).

    Args:
        resolution: slot width in seconds; coarser slots mean fewer of them, later reclaim.
    """

    __slots__ = ("_heap", "_slots", "resolution")

    def __init__(self, resolution: float = 1.0) -> None:
        if resolution <= 0:
            msg = f"expiry wheel resolution must be positive, got {resolution!r}"
            raise ValueError(msg)
        self.resolution = resolution
        self._slots: dict[int, _Slot] = {}
        self._heap: list[int] = []  # slot numbers that have (or had) keys, earliest first

    def __len__(self) -> int:
        """Keys on the wheel (O(slots))."""
        return sum(len(slot.keys) for slot in self._slots.values())

    def add(self, key: str, expires_at: float) -> None:
        """Put ``key`` in the slot of ``expires_at``."""
        # The slot ends at the first multiple of ``resolution`` after expires_at: once it has ended,
        # every key in it has expired.
        number = int(expires_at // self.resolution) + 1
        slot = self._slots.get(number)
        if slot is None:
            slot = self._slots[number] = _Slot()
            heapq.heappush(self._heap, number)
        slot.keys.add(key)
        slot.peak = max(slot.peak, len(slot.keys))

    def discard(self, key: str, expires_at: float) -> None:
        """Take ``key``, added with ``expires_at``, off the wheel (it was deleted, evicted, or set again)."""
        slot = self._slots.get(int(expires_at // self.resolution) + 1)
        if slot is not None:
            slot.keys.discard(key)
            if slot.peak >= _SHRINK_FROM and len(slot.keys) * 4 < slot.peak:
                slot.keys = set(slot.keys)
                slot.peak = len(slot.keys)

    def due(self, now: float, limit: int) -> list[str]:
        """Up to ``limit`` keys, removed from the wheel, whose slot ended at or before ``now``."""
        out: list[str] = []
        heap = self._heap
        slots = self._slots
        end = now / self.resolution
        while heap and heap[0] <= end and len(out) < limit:
            keys = slots[heap[0]].keys
            while keys and len(out) < limit:
                out.append(keys.pop())
            if not keys:
                del slots[heapq.heappop(heap)]
        return out

    def sweep(self, now: float, limit: int, expire: Callable[[str], bool]) -> int:
        """Call ``expire(key)`` for up to ``limit`` due keys; returns how many it reported as reclaimed."""
        return sum(1 for key in self.due(now, limit) if expire(key))

    def clear(self) -> None:
        """Forget every key."""
        self._slots.clear()
        self._heap.clear()
