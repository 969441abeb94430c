"""Redelivery changes nothing; poison goes to the dead-letter subject with its reason."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from devtools.embedded import SmtpSink
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.app import build_projector
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import CalculationPolicy
from services.notify.adapters.mailer import SmtpMailer
from services.notify.adapters.planner import NotificationPlanner
from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.attempts import AttemptRecorded, AttemptRecordedV1
from shared.contract.events.gradebook import (
    AnyGradebookEvent,
    LatestGradebookEvent,
    gradebook_envelopes,
)
from shared.contract.events.mastery import MasteryChanged
from shared.platform.bus import BusNames, ensure_streams
from shared.platform.consumer import REASON_HEADER, Delivered
from tests.support.family_email import NO_DELAY
from tests.support.gradebook import log_envelopes
from tests.support.roles import service_url
from tests.support.servers import Servers

NOW = datetime(2026, 10, 9, 12, 0, tzinfo=UTC)


def _attempt_envelope(
    tenant: str, score: float, assessed_at: datetime = NOW, version: int = 1
) -> CloudEvent[LatestGradebookEvent]:
    event = AttemptRecorded(
        tenant_id=tenant,
        student_id="lee",
        standard_id="math.ratio",
        attempt_id=f"a-{uuid.uuid4().hex[:6]}",
        score=score,
        points_possible=4,
        assessed_at=assessed_at,
        recorded_at=NOW,
    )
    return CloudEvent[LatestGradebookEvent](
        id=str(uuid.uuid4()),
        source="/test",
        type=cloudevent_type(event),
        subject=f"{tenant}/lee/math.ratio",
        time=NOW,
        tenantid=tenant,
        streamversion=version,
        data=event,
    )


async def _publish(client: NatsClient, subject: str, payload: bytes) -> None:
    await client.jetstream().publish(subject, payload)


async def test_projector_applies_a_redelivered_event_once_and_deadletters_poison(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    envelope = _attempt_envelope("school", 3)
    await log_envelopes(pool, [envelope])
    payload = EnvelopeCodec[LatestGradebookEvent](LatestGradebookEvent).encode(envelope)
    subject = bus.attempts("school", "recorded")
    for body in (payload, payload, b'{"not": "an event"}'):
        await _publish(client, subject, body)

    config = MasteryConfig(
        database_url=service_url(database_url, "mastery"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    projector = build_projector(config, pool)
    subscription = await js.pull_subscribe(bus.all_attempts("recorded"), stream=bus.attempts_stream)
    messages = await subscription.fetch(3, timeout=5)
    await projector.process(client, messages)

    state = await pool.fetchrow("SELECT evidence_count, mastered, state FROM proficiencies")
    assert state is not None
    assert (state["evidence_count"], state["mastered"]) == (1, True)
    assert await pool.fetchval("SELECT count(*) FROM mastery_changes") == 1
    assert projector.deadlettered == 1
    dead = await js.get_last_msg(bus.deadletter_stream, bus.deadletter("mastery-projector"))
    assert dead.data == b'{"not": "an event"}'
    assert dead.headers is not None
    assert "undecodable event" in dead.headers[REASON_HEADER]
    await client.close()


async def test_a_late_older_attempt_is_replayed_from_the_evidence_not_made_latest(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    projector = MasteryProjector(pool, bus, CalculationPolicy(method="latest"))
    newer = _attempt_envelope("school", 4, NOW, version=1)
    older = _attempt_envelope("school", 1, NOW - timedelta(days=14), version=2)
    await log_envelopes(pool, [newer, older])
    await projector.handle_gradebook_events([Delivered(newer, 1)])
    await projector.handle_gradebook_events([Delivered(older, 2), Delivered(older, 2)])

    row = await pool.fetchrow("SELECT score, evidence_count FROM proficiencies")
    assert row is not None
    assert (row["score"], row["evidence_count"]) == (4, 2)
    assert await pool.fetchval("SELECT count(*) FROM mastery_evidence") == 2
    assert await pool.fetchval("SELECT count(*) FROM mastery_changes") == 1  # only the first


async def test_a_v1_attempt_from_before_markers_is_upcast_and_projected(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    old = AttemptRecordedV1(
        tenant_id="school", student_id="lee", standard_id="math.ratio", attempt_id="v1-attempt",
        score=3, points_possible=4, assessed_at=NOW, recorded_at=NOW,
    )  # fmt: skip
    envelope = CloudEvent[AnyGradebookEvent](
        id=str(uuid.uuid4()), source="/test", type=cloudevent_type(old), subject="school/lee/x",
        time=NOW, tenantid="school", streamversion=1, data=old,
    )  # fmt: skip
    await log_envelopes(pool, [envelope])
    payload = EnvelopeCodec[AnyGradebookEvent](AnyGradebookEvent).encode(envelope)
    decoded = gradebook_envelopes().decode(payload)  # the consumer's edge upcasts, once
    assert decoded.type == "org.mastery.attempt_recorded.v1"
    assert isinstance(decoded.data, AttemptRecorded)
    assert decoded.data.status == "scored"
    projector = MasteryProjector(pool, bus, CalculationPolicy(method="latest"))
    await projector.handle_gradebook_events([Delivered(decoded, 1)])
    row = await pool.fetchrow("SELECT score, mastered, evidence_count FROM proficiencies")
    assert row is not None
    assert tuple(row.values()) == (3, True, 1)
    status = await pool.fetchval("SELECT status FROM mastery_evidence")
    assert status == "scored"


async def test_a_redelivered_change_emails_each_guardian_once(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    await pool.execute(
        "INSERT INTO guardians (tenant_id, student_id, email, name) VALUES "
        "('school', 'lee', 'one@example.org', 'One'), ('school', 'lee', 'two@example.org', '')"
    )
    change = MasteryChanged(
        tenant_id="school",
        student_id="lee",
        standard_id="math.ratio",
        change_id=str(uuid.uuid4()),
        previous_level=2,
        previous_mastered=False,
        level=3,
        level_label="Proficient",
        mastered=True,
        score=3,
        method="latest",
        caused_by_attempt_id="a-1",
        caused_by_event_id=str(uuid.uuid4()),
        assessed_at=NOW,
        changed_at=NOW,
    )
    envelope = CloudEvent(
        id=change.change_id,
        source="/test",
        type=cloudevent_type(change),
        subject="school/lee/math.ratio",
        time=NOW,
        tenantid="school",
        data=change,
    )
    planner = NotificationPlanner(pool, defaults=NO_DELAY)
    mailer = SmtpMailer(
        pool, smtp_sink.url, "school@example.org", batch_size=10, idle=0.01, storm_defaults=NO_DELAY
    )
    await planner.handle_mastery_events([Delivered(envelope, 7)])
    assert await mailer.send_due() == 2
    await planner.handle_mastery_events([Delivered(envelope, 7)])  # redelivered
    assert await mailer.send_due() == 0
    assert sorted(message["To"] for message in smtp_sink.messages) == [
        "one@example.org",
        "two@example.org",
    ]
    texts = [message.get_body(("plain",)) for message in smtp_sink.messages]
    assert any(text is not None and "Dear One," in text.get_content() for text in texts)
