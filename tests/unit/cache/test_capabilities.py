"""Optional backend capabilities are found by protocol, in both flavours."""

from __future__ import annotations

from litestar_alchemy_kit.cache import AsyncCache, AsyncMemoryBackend, SyncCache, SyncMemoryBackend
from litestar_alchemy_kit.cache.backends import AsyncClosingBackend, InProcessBackend, SyncClosingBackend


class _ClosingSyncBackend(SyncMemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class _ClosingAsyncBackend(AsyncMemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_sync_cache_close_closes_a_sync_backend() -> None:
    # The generated SyncCache.close used to look for ``aclose``, so it never closed a sync backend.
    backend = _ClosingSyncBackend()
    assert isinstance(backend, SyncClosingBackend)
    SyncCache(backend).close()
    assert backend.closed == 1


async def test_async_cache_close_closes_an_async_backend() -> None:
    backend = _ClosingAsyncBackend()
    assert isinstance(backend, AsyncClosingBackend)
    await AsyncCache(backend).close()
    assert backend.closed == 1


def test_memory_backends_are_in_process_and_have_nothing_to_close() -> None:
    for backend in (SyncMemoryBackend(), AsyncMemoryBackend()):
        assert isinstance(backend, InProcessBackend)
        assert backend.in_process
    assert not isinstance(SyncMemoryBackend(), SyncClosingBackend)
    assert not isinstance(AsyncMemoryBackend(), AsyncClosingBackend)
