"""Whether the repository method in progress may read from the cache (shared by the async and sync flavours)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = ("INERT_READ_STATE", "ReadState")


class ReadState:
    """Whether the public method in progress may use the cache, and whether its results are detached.

    ``current`` is ``None`` outside any repository method (a direct ``_execute`` call from user code:
    uncached); nested calls can only narrow it (a write method's internal reads never use the cache).
    ``detach`` is the call's ``auto_expunge``: ``False`` makes cache hits the session's own instances.
    """

    __slots__ = ("current", "detach")

    def __init__(self) -> None:
        self.current: bool | None = None
        self.detach = False

    @contextlib.contextmanager
    def narrow(self, *, allowed: bool, detach: bool | None = None) -> Generator[None]:
        """Within the block, the cache may be read only if ``allowed`` and the enclosing block allowed it."""
        previous, previous_detach = self.current, self.detach
        self.current = allowed if previous is None else previous and allowed
        if detach is not None:
            self.detach = detach
        try:
            yield
        finally:
            self.current, self.detach = previous, previous_detach


class _InertReadState(ReadState):
    """The read state of a repository whose ``__init__`` did not run: it has no cache to open or bypass."""

    __slots__ = ()

    @contextlib.contextmanager
    def narrow(self, *, allowed: bool, detach: bool | None = None) -> Generator[None]:
        del allowed, detach  # nothing to narrow, and a shared object must not change
        yield


INERT_READ_STATE: Final[ReadState] = _InertReadState()
"""Shared by every repository that skipped ``CachedAsyncRepository.__init__`` / ``CachedSyncRepository.__init__``."""
