"""Consumers read structured CloudEvents (and messages from before the header), nothing else.

The notifier's consumer runs as deployed, with its own NATS user; the changes are published as
the mastery user, the one allowed to publish them.
"""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import nats

from devtools.embedded import EmbeddedNats
from services.notify.adapters.planner import PLANNER_NAME, NotificationPlanner
from shared.contract.cloudevents import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    CloudEvent,
    EnvelopeCodec,
    cloudevent_type,
)
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.platform.bus import BusNames, connect, ensure_streams
from shared.platform.consumer import REASON_HEADER, BatchConsumer, ConsumerSettings
from tests.support.family_email import NO_DELAY
from tests.support.polling import eventually

NOW = datetime(2026, 10, 9, 12, 0, tzinfo=UTC)
TENANT = "school-a"
CODEC = EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent)


def _change() -> bytes:
    change = MasteryChanged(
        tenant_id=TENANT, student_id="lee", standard_id="math.ratio",
        change_id=str(uuid.uuid4()), previous_level=2, previous_mastered=False, level=3,
        level_label="Proficient", mastered=True, score=3, method="latest",
        caused_by_attempt_id="a-1", caused_by_event_id=str(uuid.uuid4()), assessed_at=NOW,
        changed_at=NOW,
    )  # fmt: skip
    return CODEC.encode(
        CloudEvent[AnyMasteryEvent](
            id=change.change_id, source="/test", type=cloudevent_type(change),
            subject=f"{TENANT}/lee/math.ratio", time=NOW, tenantid=TENANT, streamversion=1,
            data=change,
        )
    )  # fmt: skip


async def test_a_message_in_another_content_mode_is_deadlettered_with_its_content_type(
    pool: asyncpg.Pool, auth_nats: EmbeddedNats, bus: BusNames
) -> None:
    admin = await nats.connect(auth_nats.url)
    await ensure_streams(admin.jetstream(), bus)
    consumer = BatchConsumer(
        ConsumerSettings(
            nats_url=auth_nats.service_url("notify"), bus=bus, stream=bus.mastery_stream,
            filter_subject=bus.all_mastery_changed(), durable=PLANNER_NAME,
        ),
        EnvelopeCodec(AnyMasteryEvent),
        NotificationPlanner(pool, defaults=NO_DELAY).handle_mastery_events,
    )  # fmt: skip
    mastery = await connect(auth_nats.service_url("mastery"), "mastery-test")
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        subject = bus.mastery_changed(TENANT)
        binary = {CONTENT_TYPE_HEADER: "application/json"}
        await mastery.jetstream().publish(subject, _change(), headers=binary)
        await eventually(lambda: _at(consumer, "deadlettered"), lambda n: n == 1, within=15)
        parked = await admin.jetstream().get_last_msg(
            bus.deadletter_stream, bus.deadletter(PLANNER_NAME)
        )
        assert parked.headers is not None
        assert parked.headers[REASON_HEADER] == (
            f"unsupported Content-Type 'application/json', expected {CONTENT_TYPE}"
        )
        assert parked.headers[CONTENT_TYPE_HEADER] == "application/json"  # kept as it came
        # Structured mode, and a message from before the header, are both read.
        structured = {CONTENT_TYPE_HEADER: CONTENT_TYPE}
        await mastery.jetstream().publish(subject, _change(), headers=structured)
        await mastery.jetstream().publish(subject, _change())
        await eventually(lambda: _at(consumer, "processed"), lambda n: n == 2, within=15)
        assert consumer.deadlettered == 1
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        await mastery.close()
        await admin.close()


async def _at(consumer: BatchConsumer[AnyMasteryEvent], attribute: str) -> int:
    return int(getattr(consumer, attribute))
