"""A service's client on a three-node cluster, its user allowed only its own subjects: when its
node dies it reconnects to another, which it learnt from the cluster and was never given a URL
of, with the same credentials."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from shared.platform.bus import close_client, connect
from tests.support.nats_cluster import NatsCluster, running_cluster
from tests.support.polling import eventually


def _port(client: NatsClient) -> int | None:
    """The port of the node the client is connected to now."""
    url = client.connected_url
    return url.port if client.is_connected and url is not None else None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with running_cluster(tmp_path / "cluster") as cluster:
        yield cluster


async def test_a_client_whose_node_dies_reconnects_to_another_as_itself(
    cluster: NatsCluster,
) -> None:
    first = cluster.nodes[0]
    client = await connect(first.service_url("attempts"), "reconnect-test")
    try:
        await eventually(lambda: asyncio.sleep(0, len(client.servers)), lambda n: n == 3)
        await asyncio.to_thread(first.kill)
        await eventually(
            lambda: asyncio.sleep(0, _port(client)),
            lambda port: port not in (None, first.port),
            within=15,
        )
        await client.flush(timeout=2)  # the new node took the user's credentials
    finally:
        await close_client(client)
