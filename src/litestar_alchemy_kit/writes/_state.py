"""Whether the repository method in progress may read from the cache (shared by the async and sync flavours)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = ("ReadState",)


class ReadState:
    """Whether the public method in progress may use the cache.

    ``None`` outside any repository method (a direct ``_execute`` call from user code: uncached);
    nested calls can only narrow it (a write method's internal reads never use the cache).
    """

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: bool | None = None

    @contextlib.contextmanager
    def narrow(self, *, allowed: bool) -> Generator[None]:
        """Within the block, the cache may be read only if ``allowed`` and the enclosing block allowed it."""
        previous = self.current
        self.current = allowed if previous is None else previous and allowed
        try:
            yield
        finally:
            self.current = previous
