"""The projector applies each stream from the attempts log, in version order, whatever the bus does.

The failure this guards against: after a projector crash, the messages the dead process held came
back after newer ones, and families were told "no longer at mastery", then "has mastered", for a
student who, in order, never lost mastery.
"""

import asyncpg
import msgspec

from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.plan import GradebookEntry
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.contract.events.mastery import MasteryChanged
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.gradebook import NOW, Gradebook, write_log

_changes = msgspec.json.Decoder(CloudEvent[MasteryChanged])


def _delivered(entry: GradebookEntry, sequence: int) -> Delivered[LatestGradebookEvent]:
    envelope = CloudEvent[LatestGradebookEvent](
        id=entry.event_id, source="/test", type=cloudevent_type(entry.event), subject="x",
        time=NOW, tenantid=entry.event.tenant_id, streamversion=entry.stream_version,
        data=entry.event,
    )  # fmt: skip
    return Delivered(envelope, sequence)


async def _emitted(pool: asyncpg.Pool) -> list[tuple[float | None, float | None, str]]:
    rows = await pool.fetch("SELECT payload FROM mastery_changes ORDER BY position")
    changes = [_changes.decode(row["payload"]).data for row in rows]
    return [(c.previous_level, c.level, c.caused_by_event_id) for c in changes]


async def test_messages_back_out_of_order_emit_what_the_log_order_emits(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    book = Gradebook()
    mastered, slip, recovered = (
        book.attempt("maya", 4, 1), book.attempt("maya", 1, 2), book.attempt("maya", 4, 3)
    )  # fmt: skip
    async with pool.acquire() as connection:
        await write_log(connection, book.entries)
    projector = MasteryProjector(pool, bus, CalculationPolicy(method="latest"))

    # The newest arrives first (the others were held by a crashed consumer), then the rest.
    await projector.handle_gradebook_events([_delivered(recovered, 3)])
    await projector.handle_gradebook_events([_delivered(mastered, 1), _delivered(slip, 2)])

    # What the log order says, event by event, and nothing the arrival order made up.
    assert await _emitted(pool) == [
        (None, 4, mastered.event_id), (4, 1, slip.event_id), (1, 4, recovered.event_id),
    ]  # fmt: skip
    row = await pool.fetchrow("SELECT score, evidence_count FROM proficiencies")
    assert row is not None
    assert tuple(row) == (4, 3)


async def test_a_message_that_is_not_in_the_log_is_never_applied(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    book, forged = Gradebook(), Gradebook()
    real = book.attempt("maya", 2, 1)
    async with pool.acquire() as connection:
        await write_log(connection, book.entries)
    projector = MasteryProjector(pool, bus, CalculationPolicy())
    fake = msgspec.structs.replace(
        forged.attempt("maya", 4, 2, attempt_id="forged"), stream_version=2
    )
    await projector.handle_gradebook_events([_delivered(real, 1), _delivered(fake, 2)])
    assert await pool.fetchval("SELECT array_agg(attempt_id) FROM mastery_evidence") == [
        real.event.attempt_id  # type: ignore[union-attr]
    ]
