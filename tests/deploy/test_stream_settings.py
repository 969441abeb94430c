"""Stream and consumer replicas, storage and retention are configuration: read from the
environment, validated, and what the real nats-server keeps (a single server, and a three-node
cluster for three replicas)."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient
from nats.js.api import StorageType, StreamInfo

from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from shared.platform.bus import BusNames, StreamSettings, bus_names, ensure_streams
from shared.platform.config import ConfigError, ServiceConfig, load_config
from tests.support.nats_cluster import NatsCluster, running_cluster
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers

DATABASE = {"DATABASE_URL": "postgresql://unused"}


def test_deployed_streams_default_to_three_file_replicas_kept_for_ever() -> None:
    config = load_config(ServiceConfig, DATABASE)
    settings = bus_names(config).settings
    assert (settings.replicas, settings.consumer_replicas) == (3, 0)
    assert (settings.storage, settings.max_age, settings.max_bytes) == (StorageType.FILE, 0, -1)


@pytest.mark.parametrize(
    "environ",
    [
        {"BUS_STREAM_REPLICAS": "0"},
        {"BUS_STREAM_REPLICAS": "6"},
        {"BUS_STREAM_REPLICAS": "1", "BUS_CONSUMER_REPLICAS": "3"},
        {"BUS_STORAGE": "disk"},
        {"BUS_MAX_AGE": "60"},  # shorter than the duplicate window
        {"BUS_MAX_AGE": "-1"},
        {"BUS_MAX_BYTES": "0"},
    ],
)
def test_settings_jetstream_would_refuse_or_misread_are_refused_at_start(
    environ: dict[str, str],
) -> None:
    with pytest.raises(ConfigError):
        load_config(ServiceConfig, DATABASE | environ)


async def _stream(client: NatsClient, name: str) -> StreamInfo:
    return await client.jetstream().stream_info(name)


async def test_a_stream_is_kept_as_configured(servers: Servers, bus: BusNames) -> None:
    config = load_config(
        ServiceConfig,
        DATABASE
        | {
            "BUS_NAMESPACE": bus.namespace,
            "BUS_STREAM_REPLICAS": "1",
            "BUS_STORAGE": "memory",
            "BUS_MAX_AGE": "86400",
            "BUS_MAX_BYTES": "1048576",
        },
    )
    client = await nats.connect(servers.nats_url)
    try:
        await ensure_streams(client.jetstream(), bus_names(config))
        for name in (bus.attempts_stream, bus.mastery_stream, bus.deadletter_stream):
            kept = (await _stream(client, name)).config
            assert (kept.num_replicas, kept.storage) == (1, StorageType.MEMORY)
            assert (kept.max_age, kept.max_bytes) == (86400, 1048576)
    finally:
        await client.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with running_cluster(tmp_path / "cluster") as cluster:
        yield cluster


async def _declared(client: NatsClient, bus: BusNames, stream: str) -> bool:
    try:
        await ensure_streams(client.jetstream(), bus, only=[stream])
    except nats.errors.Error:
        return False  # the cluster is still electing its meta leader
    return True


async def _nodes(client: NatsClient, api: str) -> int:
    """Nodes holding a copy of a stream or consumer (`$JS.API.<api>` info): its leader and its
    replicas, as the cluster reports them (0 until it has placed it)."""
    try:
        reply = await client.request(f"$JS.API.{api}", b"", timeout=2)
    except nats.errors.Error:
        return 0
    cluster = json.loads(reply.data).get("cluster", {})
    return (1 if cluster.get("leader") else 0) + len(cluster.get("replicas", []))


@pytest.fixture
async def on_cluster(cluster: NatsCluster) -> AsyncIterator[NatsClient]:
    client = await nats.connect([node.url for node in cluster.nodes])  # as admin
    yield client
    await client.close()


async def test_the_mastery_service_keeps_three_replicas_on_a_cluster(
    cluster: NatsCluster, on_cluster: NatsClient, database_url: str
) -> None:
    config = MasteryConfig(
        database_url=service_url(database_url, "mastery"),
        nats_url=cluster.nodes[0].service_url("mastery"),  # it learns the others from the server
        bus_namespace=f"r{uuid.uuid4().hex[:8]}",
        bus_consumer_replicas=2,
    )
    bus = bus_names(config)
    await asyncio.to_thread(cluster.admit_namespace, bus.namespace)
    # The attempts service declares the stream the projector reads; MASTERY was declared with
    # one replica by an earlier release, and the service's start brings it to three.
    await eventually(lambda: _declared(on_cluster, bus, bus.attempts_stream), bool, within=30)
    earlier = BusNames(bus.namespace, StreamSettings(replicas=1))
    assert await _declared(on_cluster, earlier, bus.mastery_stream)
    assert await _nodes(on_cluster, f"STREAM.INFO.{bus.mastery_stream}") == 1
    gave_up: list[str] = []
    app = create_app(config, on_give_up=lambda worker, reason: gave_up.append(reason))
    async with AsyncTestClient(app):
        projector = f"CONSUMER.INFO.{bus.attempts_stream}.mastery-projector"
        await eventually(
            lambda: _nodes(on_cluster, projector),
            lambda nodes: gave_up != [] or nodes == 2,
            within=30,
        )
        assert gave_up == []
        for name in (bus.attempts_stream, bus.mastery_stream, bus.deadletter_stream):
            info = f"STREAM.INFO.{name}"
            await eventually(partial(_nodes, on_cluster, info), lambda nodes: nodes == 3, within=30)
            kept = (await _stream(on_cluster, name)).config
            assert (kept.num_replicas, kept.storage) == (3, StorageType.FILE)
