"""Supervision against real PostgreSQL and nats-server: a worker that fails makes its service not
ready until the supervisor has restarted it, one that keeps failing stops the process, and each
worker's lag is what is really waiting."""

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import asyncpg
import httpx
import nats
import nats.errors
import pytest
from litestar.testing import AsyncTestClient

from devtools.embedded import SmtpSink
from services.attempts.adapters.event_store import relayed_log
from services.attempts.app import create_app
from services.attempts.config import AttemptsConfig
from shared.platform.bus import BusNames, ensure_streams
from shared.platform.consumer import BatchConsumer, ConsumerSettings, Delivered
from shared.platform.outbox import OutboxRelay, RelaySettings
from shared.platform.supervisor import LagUnavailable
from tests.integration.test_consumer_prefetch import CODEC, published_attempts
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import define_standard


class GiveUps:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, worker: str, reason: str) -> None:
        self.calls.append((worker, reason))


async def _enqueue(pool: asyncpg.Pool, bus: BusNames, count: int) -> None:
    """`count` events in the attempts log, which its relay publishes."""
    for _ in range(count):
        await define_standard(pool, bus, "school", f"lag.{uuid.uuid4().hex[:8]}")


@pytest.fixture
def give_ups() -> GiveUps:
    return GiveUps()


@pytest.fixture
async def attempts(
    database_url: str, servers: Servers, bus: BusNames, give_ups: GiveUps
) -> AsyncIterator[AsyncTestClient[Any]]:
    config = AttemptsConfig(
        database_url=service_url(database_url, "attempts"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
        # Pauses long enough for a poll to see the relay down, and no giving up.
        worker_restart_delay=0.3,
        worker_restart_max_delay=0.3,
        worker_max_failures=1000,
    )
    async with AsyncTestClient(create_app(config, on_give_up=give_ups)) as client:
        yield client


async def test_a_failing_relay_makes_the_service_not_ready_until_it_is_restarted(
    attempts: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames, give_ups: GiveUps
) -> None:
    await eventually(lambda: attempts.get("/health/ready"), lambda r: r.status_code == 200)

    # The fault: the relay's log disappears, so each of its batches fails with a bug-class error.
    await pool.execute("ALTER TABLE attempt_events RENAME TO attempt_events_away")
    down = await eventually(lambda: attempts.get("/health/ready"), lambda r: r.status_code == 503)

    problem = down.json()
    assert down.headers["content-type"].startswith("application/problem+json")
    assert (problem["type"], problem["detail"]) == (
        "/problems/not-ready",
        "workers not running: relay",
    )
    relay = problem["workers"]["relay"]
    assert relay["alive"] is False
    assert relay["last_error"].startswith("UndefinedTableError")
    assert relay["lag"] is None  # its probe counts the missing table too

    await pool.execute("ALTER TABLE attempt_events_away RENAME TO attempt_events")
    await _enqueue(pool, bus, 3)
    ready = await eventually(
        lambda: attempts.get("/health/ready"),
        lambda r: r.status_code == 200 and r.json()["workers"]["relay"]["lag"]["outbox_depth"] == 0,
    )

    body = ready.json()
    assert body["status"] == "ready"
    assert body["workers"]["relay"]["alive"] is True
    assert body["workers"]["relay"]["restarts"] >= 1
    assert body["workers"]["relay"]["last_error"].startswith("UndefinedTableError")
    assert give_ups.calls == []


async def test_every_service_reports_each_worker_and_its_lag(
    database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        expected = {
            system.attempts: {"relay": "outbox_depth"},
            system.mastery: {
                "projector": "consumer_pending",
                "watermarks": "watermarks_to_raise",
                "relay": "outbox_depth",
                "roster-relay": "outbox_depth",
            },
            system.notify: {
                "planner": "consumer_pending",
                "rosters": "consumer_pending",
                "mailer": "due_notifications",
            },
        }
        # Every service also listens for changed API keys (shared/platform/key_listener.py).
        expected = {client: {**lags, "keys": "cached_keys"} for client, lags in expected.items()}
        for client, lags in expected.items():
            response = await eventually(partial(client.get, "/health/ready"), _all_lags_known)
            workers = response.json()["workers"]
            assert response.json()["status"] == "ready"
            assert {name: next(iter(workers[name]["lag"])) for name in workers} == lags
            assert all(worker["alive"] and worker["restarts"] == 0 for worker in workers.values())


def _all_lags_known(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    return all(worker["lag"] for worker in response.json()["workers"].values())


async def test_the_relay_lag_is_the_rows_of_its_log_not_yet_published(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames
) -> None:
    relay = OutboxRelay(
        pool,
        RelaySettings(log=relayed_log(bus), nats_url=servers.nats_url, client_name="lag", bus=bus),
    )
    await _enqueue(pool, bus, 5)
    assert await relay.lag() == {"outbox_depth": 5}

    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await eventually(relay.lag, lambda lag: lag == {"outbox_depth": 0})
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_the_consumer_lag_counts_what_it_has_not_acked(
    servers: Servers, bus: BusNames
) -> None:
    released = asyncio.Event()

    async def handle(batch: Sequence[Delivered[Any]]) -> None:
        await released.wait()

    settings = ConsumerSettings(
        nats_url=servers.nats_url, bus=bus, stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(), durable="lag-test", batch_size=2,
    )  # fmt: skip
    consumer = BatchConsumer(settings, CODEC, handle)
    client = await nats.connect(servers.nats_url)
    await ensure_streams(client.jetstream(), bus)  # the publisher's to declare, not the consumer's
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await eventually(_probe(consumer), lambda lag: lag == {"consumer_pending": 0})
        await published_attempts(client.jetstream(), bus, 7)
        # Two are delivered and held by the handler, five wait: all seven are pending.
        await eventually(_probe(consumer), lambda lag: lag == {"consumer_pending": 7})
        released.set()
        await eventually(_probe(consumer), lambda lag: lag == {"consumer_pending": 0})
    finally:
        released.set()
        stop.set()
        await asyncio.wait_for(running, 10)
        await client.close()


def _probe(
    consumer: BatchConsumer[Any],
) -> Callable[[], Awaitable[dict[str, int] | None]]:
    """The consumer's lag, or None until it has connected and bound its durable."""

    async def probe() -> dict[str, int] | None:
        try:
            return await consumer.lag()
        except (LagUnavailable, nats.errors.Error):
            return None

    return probe


GIVES_UP = """
import sys

from shared.platform.config import ServiceConfig
from shared.platform.service import create_service_app, serve
from shared.platform.supervisor import NamedWorker


async def broken(stop):
    raise RuntimeError("injected fault")


config = ServiceConfig(
    database_url=sys.argv[1],
    worker_restart_delay=0.01,
    worker_restart_max_delay=0.01,
    worker_max_failures=3,
)
app = create_service_app(
    title="broken",
    description="a service whose one worker always fails",
    config=config,
    route_handlers=[],
    workers=lambda pool: [NamedWorker("broken", broken)],
)
serve(app, "127.0.0.1", 0, config)
"""


async def test_a_worker_that_keeps_failing_stops_the_process_with_a_non_zero_status(
    database_url: str,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        GIVES_UP,
        database_url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)

    log = stderr.decode()
    assert process.returncode == -signal.SIGTERM, log
    assert log.count("Traceback") == 3  # each failure logged with its traceback
    assert "worker broken keeps failing" in log
