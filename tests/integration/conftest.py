"""Fixtures of every integration test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from litestar_alchemy_kit.cache import AsyncCache, SyncCache


@pytest.fixture(autouse=True)
async def _close_every_cache(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[AsyncCache | SyncCache]]:
    """Close every cache a test builds, as an application's shutdown would.

    A cache on a network store keeps a connection of its own (the pipelined backend); the tests
    build many caches inline (and apps whose plugins build them), and one left open is a socket the
    collector later reports (a ``ResourceWarning`` blamed on whichever test runs then). Closing twice
    is harmless, so tests that close their caches themselves are unaffected. Yields the caches built
    so far.
    """
    made: list[AsyncCache | SyncCache] = []
    for cls in (AsyncCache, SyncCache):
        init = cls.__init__

        def recording(self: Any, *args: Any, __init: Any = init, **kwargs: Any) -> None:
            __init(self, *args, **kwargs)
            made.append(self)

        monkeypatch.setattr(cls, "__init__", recording)
    yield made
    monkeypatch.undo()
    for cache in reversed(made):
        if isinstance(cache, AsyncCache):
            await cache.close()
        else:
            cache.close()
