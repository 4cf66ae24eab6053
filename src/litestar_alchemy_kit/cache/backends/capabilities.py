"""Optional backend capabilities shared by both flavours (the flavoured ones live in ``_async.py`` / ``_sync.py``)."""

from typing import Protocol, runtime_checkable

from litestar_alchemy_kit.cache.layout import ClusterLayout

__all__ = (
    "AtomicInitBackend",
    "ClusteredBackend",
    "FullStoreBackend",
    "InProcessBackend",
    "StoreFullError",
    "out_of_memory_errors",
)


class StoreFullError(Exception):
    """A backend's store refused a write because it is full; its reads and deletes still work.

    The cache treats it as a refused write, not as a store failure: it does not count towards the
    circuit breaker, and a refused invalidation is delivered by deleting the tag versions instead.
    """


@runtime_checkable
class FullStoreBackend(Protocol):
    """Optional capability: a backend naming its client's exceptions for a write refused by a full store."""

    full_errors: tuple[type[Exception], ...]


def out_of_memory_errors(client: object) -> tuple[type[Exception], ...]:
    """``OutOfMemoryError`` of the client's library (redis-py, valkey-py): a write refused at ``maxmemory``."""
    library = type(client).__module__.partition(".")[0]
    if library == "redis":
        from redis.exceptions import OutOfMemoryError  # noqa: PLC0415 - optional: only when a redis client is given

        return (OutOfMemoryError,)
    if library == "valkey":
        from valkey.exceptions import OutOfMemoryError as ValkeyOutOfMemoryError  # noqa: PLC0415 - optional

        return (ValkeyOutOfMemoryError,)
    return ()


@runtime_checkable
class InProcessBackend(Protocol):
    """Optional capability: a backend in this process's memory (``in_process = True``).

    Its calls never block, so the cache puts no timeout around them.
    """

    in_process: bool


@runtime_checkable
class AtomicInitBackend(Protocol):
    """Optional capability: ``init_many`` sets each key only if absent, then returns what it holds (``atomic_init = True``).

    Concurrent first readers of a version then agree on it without this process serialising them: the
    cache initialises all of a read's absent versions in one call. Without it (a Litestar store's get,
    then set), the cache initialises one version at a time per key in this process.
    """

    atomic_init: bool


@runtime_checkable
class ClusteredBackend(Protocol):
    """Optional capability: a backend on a sharded store, whose keys the cache lays out by ``layout``.

    The cache co-locates each entry with the versions it is validated against (see
    :mod:`~litestar_alchemy_kit.cache.layout`); the backend routes each key to the node serving its slot.
    """

    layout: ClusterLayout
