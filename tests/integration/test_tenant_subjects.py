"""An event published on another tenant's subject is dead-lettered with the reason, not applied.

The projector and the notifier run as deployed (their own NATS users on a server with the
permission table); the forger is the one user allowed to publish on those subjects at all.
"""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from devtools.embedded import EmbeddedNats, SmtpSink
from services.mastery.app import build_projector
from services.mastery.config import MasteryConfig
from services.notify.adapters.mailer import SmtpMailer
from services.notify.adapters.planner import PLANNER_NAME, NotificationPlanner
from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.platform.bus import BusNames, connect, ensure_streams
from shared.platform.consumer import REASON_HEADER, BatchConsumer, ConsumerSettings
from tests.support.family_email import NO_DELAY
from tests.support.gradebook import log_envelopes
from tests.support.polling import eventually

NOW = datetime(2026, 10, 9, 12, 0, tzinfo=UTC)
OURS, THEIRS = "school-a", "school-b"


def _attempt(tenant: str) -> CloudEvent[LatestGradebookEvent]:
    event = AttemptRecorded(
        tenant_id=tenant, student_id="lee", standard_id="math.ratio",
        attempt_id=f"a-{uuid.uuid4().hex[:6]}", score=3, points_possible=4,
        assessed_at=NOW, recorded_at=NOW,
    )  # fmt: skip
    return CloudEvent[LatestGradebookEvent](
        id=str(uuid.uuid4()), source="/test", type=cloudevent_type(event),
        subject=f"{tenant}/lee/math.ratio", time=NOW, tenantid=tenant, streamversion=1, data=event,
    )  # fmt: skip


def _change(tenant: str) -> CloudEvent[AnyMasteryEvent]:
    change = MasteryChanged(
        tenant_id=tenant, student_id="lee", standard_id="math.ratio",
        change_id=str(uuid.uuid4()), previous_level=2, previous_mastered=False, level=3,
        level_label="Proficient", mastered=True, score=3, method="latest",
        caused_by_attempt_id="a-1", caused_by_event_id=str(uuid.uuid4()), assessed_at=NOW,
        changed_at=NOW,
    )  # fmt: skip
    return CloudEvent[AnyMasteryEvent](
        id=change.change_id, source="/test", type=cloudevent_type(change),
        subject=f"{tenant}/lee/math.ratio", time=NOW, tenantid=tenant, streamversion=1,
        data=change,
    )  # fmt: skip


async def _declare(server: EmbeddedNats, bus: BusNames) -> None:
    admin = await nats.connect(server.url)
    await ensure_streams(admin.jetstream(), bus)
    await admin.close()


async def _parked_reason(server: EmbeddedNats, bus: BusNames, durable: str) -> str:
    admin = await nats.connect(server.url)
    try:
        parked = await admin.jetstream().get_last_msg(
            bus.deadletter_stream, bus.deadletter(durable)
        )
    finally:
        await admin.close()
    assert parked.headers is not None
    return str(parked.headers[REASON_HEADER])


async def _publish_as(server: EmbeddedNats, user: str, subject: str, payload: bytes) -> None:
    client: NatsClient = await connect(server.service_url(user), f"{user}-forger")
    await client.jetstream().publish(subject, payload)
    await client.close()


async def _count(consumer: BatchConsumer[Any], attribute: str) -> int:
    return int(getattr(consumer, attribute))


async def test_a_doorbell_on_another_tenants_subject_is_deadlettered_not_projected(
    pool: asyncpg.Pool, database_url: str, auth_nats: EmbeddedNats, bus: BusNames
) -> None:
    await _declare(auth_nats, bus)
    envelope = _attempt(OURS)
    await log_envelopes(pool, [envelope])
    payload = EnvelopeCodec[LatestGradebookEvent](LatestGradebookEvent).encode(envelope)
    config = MasteryConfig(
        database_url=database_url, nats_url=auth_nats.service_url("mastery"),
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )  # fmt: skip
    projector = build_projector(config, pool)
    stop = asyncio.Event()
    running = asyncio.create_task(projector.run(stop))
    try:
        await _publish_as(auth_nats, "attempts", bus.attempts(THEIRS, "recorded"), payload)
        await eventually(lambda: _count(projector, "deadlettered"), lambda n: n == 1, within=15)
        assert await pool.fetchval("SELECT count(*) FROM proficiencies") == 0
        reason = await _parked_reason(auth_nats, bus, "mastery-projector")
        assert reason == (
            f"tenant mismatch: the subject {bus.attempts(THEIRS, 'recorded')} names tenant "
            f"'{THEIRS}', the event names '{OURS}'"
        )
        # The same doorbell on its own tenant's subject is applied.
        await _publish_as(auth_nats, "attempts", bus.attempts(OURS, "recorded"), payload)
        await eventually(lambda: _count(projector, "processed"), lambda n: n == 1, within=15)
        assert await pool.fetchval("SELECT tenant_id FROM proficiencies") == OURS
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)


async def test_a_change_on_another_tenants_subject_is_deadlettered_not_emailed(
    pool: asyncpg.Pool, auth_nats: EmbeddedNats, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    await _declare(auth_nats, bus)
    await pool.execute(
        "INSERT INTO guardians (tenant_id, student_id, email, name) VALUES ($1, 'lee', $2, 'One')",
        OURS, "one@example.org",
    )  # fmt: skip
    consumer = BatchConsumer(
        ConsumerSettings(
            nats_url=auth_nats.service_url("notify"), bus=bus, stream=bus.mastery_stream,
            filter_subject=bus.all_mastery_changed(), durable=PLANNER_NAME,
        ),
        EnvelopeCodec(AnyMasteryEvent),
        NotificationPlanner(pool, defaults=NO_DELAY).handle_mastery_events,
    )  # fmt: skip
    mailer = SmtpMailer(
        pool, smtp_sink.url, "school@example.org", batch_size=10, idle=0.01, storm_defaults=NO_DELAY
    )
    codec = EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        forged = codec.encode(_change(OURS))
        await _publish_as(auth_nats, "mastery", bus.mastery_changed(THEIRS), forged)
        await eventually(lambda: _count(consumer, "deadlettered"), lambda n: n == 1, within=15)
        assert await pool.fetchval("SELECT count(*) FROM notifications") == 0
        assert await mailer.send_due() == 0
        reason = await _parked_reason(auth_nats, bus, PLANNER_NAME)
        assert reason.startswith(f"tenant mismatch: the subject {bus.mastery_changed(THEIRS)}")
        # A change on its own tenant's subject is emailed.
        await _publish_as(
            auth_nats, "mastery", bus.mastery_changed(OURS), codec.encode(_change(OURS))
        )
        await eventually(lambda: _count(consumer, "processed"), lambda n: n == 1, within=15)
        assert await mailer.send_due() == 1
        assert [message["To"] for message in smtp_sink.messages] == ["one@example.org"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
