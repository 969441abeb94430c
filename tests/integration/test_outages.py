"""PostgreSQL restarts under a running system (a server of these tests' own, shut down and started
again like an operator does): nothing is lost, nothing is dead-lettered, no delivery is spent,
every worker resumes by itself and HTTP says 503 with Retry-After meanwhile. And a message that
waits for ever ends on the dead-letter subject with its reason, never dropped."""

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from devtools.embedded import SmtpSink
from services.attempts.app import create_app as create_attempts_app
from services.attempts.config import AttemptsConfig
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import FALLBACK_POLICY
from services.migrations import ALL_MIGRATIONS
from shared.contract.cloudevents import CloudEvent
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import LatestGradebookEvent, gradebook_envelopes
from shared.contract.ids import stream_id
from shared.platform.bus import BusNames, ensure_streams
from shared.platform.consumer import (
    ORIGINAL_SEQUENCE_HEADER,
    REASON_HEADER,
    BatchConsumer,
    ConsumerSettings,
    Delivered,
    RetryLater,
)
from shared.platform.deadletter import DeliveryLimitWatch
from shared.platform.roles import prepare_database
from tests.integration.test_consumer_prefetch import CODEC
from tests.integration.test_consumers import _attempt_envelope
from tests.support.gradebook import log_envelopes
from tests.support.outage import RestartablePostgres, postgres_down
from tests.support.polling import eventually
from tests.support.roles import TEST_PASSWORDS, service_url
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import new_tenant


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[RestartablePostgres]:
    with tempfile.TemporaryDirectory(prefix="mastery-outages-") as scratch:
        server = RestartablePostgres(Path(scratch) / "postgres")
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
async def own_database_url(own_postgres: RestartablePostgres) -> str:
    """A fresh, migrated database on the server these tests restart."""
    if not own_postgres.running:  # an earlier test failed inside its outage
        await asyncio.to_thread(own_postgres.start)
    name = f"outage_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(own_postgres.url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = own_postgres.url.rsplit("/", 1)[0] + f"/{name}"
    await prepare_database(url, TEST_PASSWORDS, ALL_MIGRATIONS)
    return url


def _first_attempts(students: range) -> list[CloudEvent[LatestGradebookEvent]]:
    """One attempt each for these students: one stream each, so each doorbell brings in one."""
    envelopes = []
    for number in students:
        envelope = _attempt_envelope("school", 3)
        assert isinstance(envelope.data, AttemptRecorded)
        event = msgspec.structs.replace(envelope.data, student_id=f"s{number}")
        envelopes.append(
            msgspec.structs.replace(
                envelope, subject=stream_id("school", f"s{number}", event.standard_id), data=event
            )
        )
    return envelopes


async def _publish(
    js: JetStreamContext, bus: BusNames, envelopes: Sequence[CloudEvent[LatestGradebookEvent]]
) -> None:
    for envelope in envelopes:
        await js.publish(bus.attempts("school", "recorded"), CODEC.encode(envelope))


async def _evidence(pool: asyncpg.Pool) -> int:
    try:
        count: int = await pool.fetchval("SELECT count(*) FROM mastery_evidence")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return -1
    return count


async def _deadlettered(js: JetStreamContext, bus: BusNames, durable: str) -> list[Any]:
    """Everything parked on `deadletter.<durable>` so far."""
    info = await js.stream_info(bus.deadletter_stream)
    parked = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        message = await js.get_msg(bus.deadletter_stream, sequence)
        if message.subject == bus.deadletter(durable):
            parked.append(message)
    return parked


async def test_a_restart_while_projecting_loses_nothing_and_spends_no_delivery(
    own_postgres: RestartablePostgres, own_database_url: str, servers: Servers, bus: BusNames
) -> None:
    pool = await asyncpg.create_pool(own_database_url, min_size=1, max_size=4)
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    settings = ConsumerSettings(
        nats_url=servers.nats_url, bus=bus, stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(), durable="outage-projector", batch_size=10,
        # Three deliveries and a short ack_wait: an outage several ack_waits long would use up
        # every delivery if waiting spent them.
        max_deliver=3, ack_wait=1.0, retry_delay=0.1, retry_max_delay=0.5,
    )  # fmt: skip
    projector = MasteryProjector(pool, bus, FALLBACK_POLICY)
    consumer = BatchConsumer(
        settings,
        gradebook_envelopes(),
        projector.handle_gradebook_events,
        runs_alone=projector.runs_alone,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    before, during_outage = _first_attempts(range(20)), _first_attempts(range(20, 40))
    await log_envelopes(pool, [*before, *during_outage])  # the log the doorbells point into
    try:
        await _publish(js, bus, before)
        await eventually(lambda: _evidence(pool), lambda count: count == 20)

        async with postgres_down(own_postgres):
            await _publish(js, bus, during_outage)
            down_since = time.monotonic()
            await eventually(
                lambda: js.consumer_info(bus.attempts_stream, "outage-projector"),
                lambda _: (
                    consumer.transient_failures >= 3
                    and time.monotonic() - down_since > 4 * settings.ack_wait
                ),
                within=30,
            )
            during = await js.consumer_info(bus.attempts_stream, "outage-projector")
            assert during.num_ack_pending > 0  # the batch being retried, and any fetched behind it
            assert during.num_redelivered == 0  # kept alive: JetStream redelivered nothing

        await eventually(lambda: _evidence(pool), lambda count: count == 40, within=30)
        after = await eventually(
            lambda: js.consumer_info(bus.attempts_stream, "outage-projector"),
            lambda info: info.num_ack_pending == 0 and info.num_pending == 0,
        )
        assert after.num_redelivered == 0
        assert (consumer.deadlettered, consumer.delivery_limit.parked) == (0, 0)
        assert await _deadlettered(js, bus, "outage-projector") == []
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await client.close()
        await pool.close()


async def test_a_message_that_waits_for_ever_is_dead_lettered_with_its_reason(
    servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    waiting = _attempt_envelope("school", 3, version=1)
    ready = _attempt_envelope("school", 3, version=2)
    reason = f"the voided attempt of event {waiting.id} is not projected yet"
    handled: list[str] = []

    async def handle(batch: Sequence[Delivered[LatestGradebookEvent]]) -> None:
        if any(item.envelope.id == waiting.id for item in batch):
            raise RetryLater(reason)
        handled.extend(item.envelope.id for item in batch)

    settings = ConsumerSettings(
        nats_url=servers.nats_url, bus=bus, stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(), durable="waits-for-ever",
        nak_delay=0.05, retry_max_delay=0.2, retry_later_limit=4,
    )  # fmt: skip
    consumer = BatchConsumer(settings, CODEC, handle)
    for envelope in (waiting, ready):
        await js.publish(bus.attempts("school", "recorded"), CODEC.encode(envelope))
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        parked = await eventually(
            lambda: _deadlettered(js, bus, "waits-for-ever"), lambda found: len(found) == 1
        )
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    assert handled == [ready.id]  # the one behind it was not held up
    assert CODEC.decode(parked[0].data).id == waiting.id
    assert parked[0].headers[REASON_HEADER] == f"still waiting after 4 deliveries: {reason}"
    assert parked[0].headers[ORIGINAL_SEQUENCE_HEADER] == "1"
    info = await js.consumer_info(bus.attempts_stream, "waits-for-ever")
    assert (info.num_ack_pending, info.num_pending) == (0, 0)  # terminated, not left to expire
    await client.close()


async def test_a_message_jetstream_stops_delivering_is_dead_lettered_not_dropped(
    servers: Servers, bus: BusNames
) -> None:
    """As if each process it was delivered to died before settling it."""
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    config = ConsumerConfig(
        durable_name="dies-each-time", ack_policy=AckPolicy.EXPLICIT, max_deliver=2,
        ack_wait=30, filter_subject=bus.all_attempts(),
    )  # fmt: skip
    await js.add_consumer(bus.attempts_stream, config=config)
    stop = asyncio.Event()
    watch = DeliveryLimitWatch(bus, bus.attempts_stream, "dies-each-time")
    advisories = await watch.subscribe(client, stop)
    envelope = _attempt_envelope("school", 3)
    await js.publish(bus.attempts("school", "recorded"), CODEC.encode(envelope))
    subscription = await js.pull_subscribe_bind("dies-each-time", bus.attempts_stream)
    try:
        for _ in range(config.max_deliver or 0):
            (message,) = await subscription.fetch(1, timeout=5)
            await message.nak()
        # The server notices the limit when it next looks for a message to deliver.
        with pytest.raises(nats.errors.TimeoutError):
            await subscription.fetch(1, timeout=0.5)
        parked = await eventually(
            lambda: _deadlettered(js, bus, "dies-each-time"), lambda found: len(found) == 1
        )
    finally:
        stop.set()
        await advisories.unsubscribe()

    assert CODEC.decode(parked[0].data).id == envelope.id
    assert parked[0].headers[REASON_HEADER] == "delivery limit reached (2 deliveries)"
    assert watch.parked == 1
    await client.close()


async def test_http_answers_503_while_postgresql_is_down_and_200_once_it_is_back(
    own_postgres: RestartablePostgres, own_database_url: str, servers: Servers, bus: BusNames
) -> None:
    pool = await asyncpg.create_pool(own_database_url, min_size=1, max_size=2)
    _, auth = await new_tenant(pool)
    await pool.close()
    config = AttemptsConfig(
        database_url=service_url(own_database_url, "attempts"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    async with AsyncTestClient(create_attempts_app(config)) as attempts:

        async def list_standards() -> httpx.Response:
            return await attempts.get("/v1/standards", headers=auth)

        await eventually(list_standards, lambda r: r.status_code == 200)
        async with postgres_down(own_postgres):
            unavailable = await eventually(list_standards, lambda r: r.status_code != 200)
            not_ready = await eventually(
                lambda: attempts.get("/health/ready"), lambda r: r.status_code == 503
            )

        assert unavailable.status_code == 503
        assert unavailable.headers["retry-after"] == "2"
        assert unavailable.headers["content-type"].startswith("application/problem+json")
        problem = unavailable.json()
        assert problem["type"] == "/problems/service-unavailable"
        assert (problem["status"], problem["instance"]) == (503, "/v1/standards")
        assert problem["detail"].startswith("The service cannot reach ")
        assert not_ready.headers["retry-after"] == "2"
        assert not_ready.json()["type"] == "/problems/not-ready"

        # Back within seconds, on the same app and pool.
        await eventually(list_standards, lambda r: r.status_code == 200, within=10)
        await eventually(lambda: attempts.get("/health/ready"), lambda r: r.status_code == 200)


async def test_every_worker_resumes_by_itself_after_a_restart(
    own_postgres: RestartablePostgres,
    own_database_url: str,
    servers: Servers,
    bus: BusNames,
    smtp_sink: SmtpSink,
) -> None:
    pool = await asyncpg.create_pool(own_database_url, min_size=1, max_size=2)
    _, auth = await new_tenant(pool)
    async with running_system(own_database_url, servers.nats_url, smtp_sink.url, bus) as system:
        await system.notify.put(
            "/v1/students/maya/guardians",
            json={"guardians": [{"email": "rosa.parent@example.org", "name": "Rosa"}]},
            headers=auth,
        )
        standard = await system.attempts.put(
            "/v1/standards/ela.argument", json={"title": "Argument writing"}, headers=auth
        )
        assert standard.status_code == 201, standard.text
        for client in (system.attempts, system.mastery, system.notify):
            await eventually(_readiness(client), lambda r: r.status_code == 200)

        async with postgres_down(own_postgres):
            # Every worker meets the outage: the relays and the mailer poll, the consumers wait.
            for client in (system.attempts, system.mastery, system.notify):
                await eventually(_readiness(client), lambda r: r.status_code == 503)

        recorded = await eventually(
            lambda: system.attempts.post("/v1/attempts", json=_attempt("a1"), headers=auth),
            lambda r: r.status_code == 201,
            within=15,
        )
        assert recorded.status_code == 201
        await eventually(_nothing, lambda _: len(smtp_sink.messages) == 1, within=20)
        assert smtp_sink.messages[0]["To"] == "rosa.parent@example.org"

        # The watermark task met the restart's closed connections and raised the tenant anyway
        # (read on a connection of its own: the pool's were closed by the restart too).
        async def watermark() -> int:
            connection = await asyncpg.connect(own_database_url)
            try:
                found = await connection.fetchval(
                    "SELECT max(log_position) FROM read_model_positions"
                )
            finally:
                await connection.close()
            return int(found or 0)

        await eventually(watermark, lambda seen: seen >= recorded.json()["position"], within=10)

        for client in (system.attempts, system.mastery, system.notify):
            ready = await eventually(_readiness(client), lambda r: r.status_code == 200)
            workers = ready.json()["workers"]
            # Each worker rode the outage out itself: none crashed, none was restarted.
            assert all(w["alive"] and w["restarts"] == 0 for w in workers.values()), workers
    await pool.close()


def _readiness(client: AsyncTestClient[Any]) -> Callable[[], Awaitable[httpx.Response]]:
    async def probe() -> httpx.Response:
        return await client.get("/health/ready")

    return probe


def _attempt(attempt_id: str) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "student_id": "maya",
        "standard_id": "ela.argument",
        "score": 3,
        "points_possible": 4,
        "assessed_at": "2026-10-01T10:00:00Z",
    }


async def _nothing() -> None:
    return None
