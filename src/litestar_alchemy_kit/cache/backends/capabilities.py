"""Optional backend capabilities shared by both flavours (the flavoured ones live in ``_async.py`` / ``_sync.py``)."""

from typing import Protocol, runtime_checkable

__all__ = ("InProcessBackend",)


@runtime_checkable
class InProcessBackend(Protocol):
    """Optional capability: a backend in this process's memory (``in_process = True``).

    Its calls never block, so the cache puts no timeout around them.
    """

    in_process: bool
