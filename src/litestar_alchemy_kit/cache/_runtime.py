"""The few primitives whose async and sync forms differ; the cache core is written once against them.

unasyncd maps each ``Async*``/``async_*`` name here to its ``Sync*``/``sync_*`` twin.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

__all__ = (
    "AsyncBackground",
    "AsyncSingleFlight",
    "SyncBackground",
    "SyncSingleFlight",
    "async_timeout",
    "sync_timeout",
)

T = TypeVar("T")


class _Abandoned:
    """What a flight's leader leaves when it stops without an outcome (cancelled): its followers run the work."""

    __slots__ = ()


_ABANDONED = _Abandoned()


if sys.version_info >= (3, 11):

    def async_timeout(seconds: float) -> contextlib.AbstractAsyncContextManager[Any]:
        """Cancel the enclosed awaits after ``seconds``; raises ``TimeoutError``."""
        return asyncio.timeout(seconds)

else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def async_timeout(seconds: float) -> AsyncGenerator[None, None]:
        """Cancel the enclosed awaits after ``seconds``; raises ``TimeoutError``."""
        task = asyncio.current_task()
        assert task is not None  # noqa: S101
        fired = False

        def fire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        try:
            yield
        except asyncio.CancelledError as exc:
            if fired:
                raise TimeoutError from exc
            raise
        finally:
            handle.cancel()


_NULL: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


def sync_timeout(seconds: float) -> contextlib.AbstractContextManager[None]:  # noqa: ARG001
    """Blocking calls cannot be interrupted: the client's own socket timeout bounds them."""
    return _NULL


class AsyncSingleFlight:
    """Concurrent calls for one key share one run of the work."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` unless a run for ``key`` is under way, in which case wait for its result.

        A leader that is cancelled does not pass its cancellation on: a waiting caller runs the work itself.
        """
        flight = self._flights.get(key)
        while flight is not None:
            shared = await asyncio.shield(flight)
            if shared is not _ABANDONED:
                result: T = shared
                return result
            flight = self._flights.get(key)
        flight = asyncio.get_running_loop().create_future()
        # Retrieve the exception even when nobody else waited, so asyncio does not log it.
        flight.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        self._flights[key] = flight
        try:
            value = await work()
        except Exception as exc:
            flight.set_exception(exc)
            raise
        except BaseException:
            flight.set_result(_ABANDONED)
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            del self._flights[key]


class SyncSingleFlight:
    """Concurrent calls (threads) for one key share one run of the work."""

    __slots__ = ("_flights", "_lock")

    def __init__(self) -> None:
        self._flights: dict[str, _SyncFlight] = {}
        self._lock = threading.Lock()

    def run(self, key: str, work: Callable[[], T]) -> T:
        """Run ``work`` unless a run for ``key`` is under way, in which case wait for its result."""
        while True:
            with self._lock:
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _SyncFlight()
            if leader:
                break
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.value is not _ABANDONED:
                result: T = flight.value
                return result
        try:
            value = work()
        except Exception as exc:
            flight.error = exc
            raise
        except BaseException:
            flight.value = _ABANDONED
            raise
        else:
            flight.value = value
            return value
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()


class _SyncFlight:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.value: Any = None


class AsyncBackground:
    """Tasks the cache runs on its own (retries, refreshes); cancelled by :meth:`close`."""

    __slots__ = ("_named", "_tasks")

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._named: dict[str, asyncio.Task[Any]] = {}

    def spawn_once(self, name: str, work: Callable[[], Awaitable[Any]]) -> bool:
        """Start ``work`` unless the task last started under ``name`` is alive; ``True`` if one is.

        A task whose event loop was closed, or is not running any more, will never finish: it counts
        as dead, so the work moves to the current loop.
        """
        task = self._named.get(name)
        if task is not None and not task.done() and task.get_loop().is_running():
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        task = self._named[name] = loop.create_task(_swallow(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def close(self) -> None:
        """Cancel and await every background task of the running loop (others are dropped)."""
        loop = asyncio.get_running_loop()
        tasks = [task for task in self._tasks if task.get_loop() is loop]
        self._tasks.clear()
        self._named.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def _swallow(work: Callable[[], Awaitable[Any]]) -> None:
    # Background work must never surface as "Task exception was never retrieved".
    with contextlib.suppress(Exception):
        await work()


class SyncBackground:
    """Daemon threads the cache runs on its own (retries, refreshes); told to stop by :meth:`close`."""

    __slots__ = ("_closed", "_lock", "_named", "_threads")

    def __init__(self) -> None:
        self._threads: set[threading.Thread] = set()
        self._named: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._closed = False

    def spawn_once(self, name: str, work: Callable[[], Any]) -> bool:
        """Start ``work`` unless the thread last started under ``name`` is alive; ``False`` after :meth:`close`."""
        with self._lock:
            thread = self._named.get(name)
            if thread is not None and thread.is_alive():
                return True
            if self._closed:
                return False
            self._named[name] = self._start(work)
            return True

    def _start(self, work: Callable[[], Any]) -> threading.Thread:
        def target() -> None:
            try:
                with contextlib.suppress(Exception):
                    work()
            finally:
                self._threads.discard(thread)

        thread = threading.Thread(target=target, name="lak-cache-background", daemon=True)
        self._threads.add(thread)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop starting new work and wait briefly for running work."""
        self._closed = True
        deadline = time.monotonic() + 1.0
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
