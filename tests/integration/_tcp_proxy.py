"""A TCP proxy on loopback that a test can partition and heal: the network between one process and a server.

No maintained PyPI package does this without a server of its own (Toxiproxy needs its Go daemon), so it is a
small asyncio forwarder running in a thread. A partition holds every byte in flight, both ways, on open and
new connections alike, the way TCP behaves while the network drops packets: the peers see silence (their
timeouts fire), nothing is lost or reordered, and on :meth:`heal` the held bytes flow again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from tests import _backends as backends


class PartitionProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port`` until :meth:`partition`, again after :meth:`heal`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = backends.free_port()
        self._loop = asyncio.new_event_loop()
        self._open = asyncio.Event()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="partition-proxy", daemon=True)

    def start(self) -> PartitionProxy:
        self._thread.start()
        if not self._ready.wait(10):
            msg = "partition proxy did not start"
            raise RuntimeError(msg)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.run_forever()
        self._loop.close()

    async def _serve(self) -> None:
        self._open.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self._ready.set()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        await self._open.wait()  # a connection opened during a partition gets no answer either
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        for source, sink in ((client_reader, server_writer), (server_reader, client_writer)):
            task = asyncio.ensure_future(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._open.wait()
                data = await source.read(65536)
                if not data:
                    break
                await self._open.wait()  # bytes read just before a partition are held, not delivered
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()

    def partition(self) -> None:
        """Stop every byte between the two sides (held, not dropped)."""
        self._loop.call_soon_threadsafe(self._open.clear)

    def heal(self) -> None:
        """Let the held bytes and new ones through again."""
        self._loop.call_soon_threadsafe(self._open.set)

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            self._open.set()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
