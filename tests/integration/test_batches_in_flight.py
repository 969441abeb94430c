"""Batches handled side by side: each acked after its own commit, and the projector stays exact."""

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
import msgspec
import nats

from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import CalculationPolicy
from shared.contract.cloudevents import CloudEvent
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames
from shared.platform.consumer import BatchConsumer, ConsumerSettings, Delivered
from tests.integration.test_consumer_prefetch import CODEC, published_attempts
from tests.integration.test_consumers import NOW, _attempt_envelope
from tests.support.gradebook import log_envelopes
from tests.support.servers import Servers


async def test_a_second_batch_is_handled_while_the_first_waits_and_a_lone_batch_waits_for_both(
    servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    sent = await published_attempts(js, bus, 6)
    lone = sent[4].id  # the third batch (items 5 and 6) must run alone
    stop = asyncio.Event()
    first_may_finish = asyncio.Event()
    log: list[str] = []

    async def handle(batch: Sequence[Delivered[LatestGradebookEvent]]) -> None:
        name = batch[0].envelope.id
        log.append(f"start {sent.index(batch[0].envelope)}")
        if name == sent[0].id:
            await first_may_finish.wait()  # as a transaction waiting on the database
        elif name == sent[2].id:
            first_may_finish.set()  # reached only while the first batch is still in flight
        log.append(f"end {sent.index(batch[0].envelope)}")
        if name == lone:
            stop.set()

    def runs_alone(batch: Sequence[Delivered[LatestGradebookEvent]]) -> bool:
        return batch[0].envelope.id == lone

    settings = ConsumerSettings(
        nats_url=servers.nats_url, bus=bus, stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(), durable="in-flight-test", batch_size=2,
        max_in_flight=2,
    )  # fmt: skip
    consumer = BatchConsumer(settings, CODEC, handle, runs_alone=runs_alone)
    await asyncio.wait_for(consumer.run(stop), 10)

    assert log == ["start 0", "start 2", "end 2", "end 0", "start 4", "end 4"]
    info = await js.consumer_info(bus.attempts_stream, "in-flight-test")
    assert (info.num_ack_pending, info.num_pending) == (0, 0)  # every batch acked on its own
    await client.close()


def _student_attempts(student: str, count: int) -> list[CloudEvent[LatestGradebookEvent]]:
    envelopes = []
    for version in range(1, count + 1):
        envelope = _attempt_envelope("school", version % 4 + 1, NOW + timedelta(days=version))
        event = msgspec.structs.replace(envelope.data, student_id=student)
        envelopes.append(msgspec.structs.replace(envelope, data=event, streamversion=version))
    return envelopes


async def test_batches_in_flight_together_on_the_same_new_students_equal_one_at_a_time(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    """Both batches start on students with no row yet; the second must read the first's commit."""
    projector = MasteryProjector(pool, bus, CalculationPolicy(method="decaying_average"))
    students = [f"s{number}" for number in range(12)]
    streams = {student: _student_attempts(student, 4) for student in students}
    await log_envelopes(pool, [envelope for stream in streams.values() for envelope in stream])
    earlier = [envelope for student in students for envelope in streams[student][:2]]
    later = [envelope for student in students for envelope in streams[student][2:]]
    first = [Delivered(envelope, number) for number, envelope in enumerate(earlier, start=1)]
    second = [Delivered(envelope, len(first) + n) for n, envelope in enumerate(later, start=1)]

    await asyncio.gather(
        projector.handle_gradebook_events(first), projector.handle_gradebook_events(second)
    )
    together = await pool.fetch(
        "SELECT student_id, score, evidence_count FROM proficiencies ORDER BY student_id"
    )
    await pool.execute("TRUNCATE proficiencies, mastery_evidence")
    await projector.handle_gradebook_events(first)
    await projector.handle_gradebook_events(second)
    one_at_a_time = await pool.fetch(
        "SELECT student_id, score, evidence_count FROM proficiencies ORDER BY student_id"
    )

    assert [tuple(row) for row in together] == [tuple(row) for row in one_at_a_time]
    assert {row["evidence_count"] for row in together} == {4}
