"""What the log holds of one attempt or one piece of corrective work, read back for the URIs the
201 answers name in `Location`. Each is read from its student-standard stream, folded as the
write side folds it (`services/attempts/core/stream.py`), so a void or a rescore shows."""

import msgspec

from services.attempts.adapters.event_store import attempt_events, read_stream
from services.attempts.core.stream import AttemptOnRecord, fold_stream
from shared.contract.events.attempts import (
    AttemptRecorded,
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
)
from shared.contract.ids import stream_id
from shared.platform.postgres import DbConnection


class AttemptRecord(msgspec.Struct, frozen=True, kw_only=True):
    recorded: AttemptRecorded
    event_id: str
    position: int
    now: AttemptOnRecord  # after its corrections
    corrections: list[AttemptVoided | AttemptRescored]  # in the order logged


async def attempt_record(
    connection: DbConnection, tenant_id: str, attempt_id: str
) -> AttemptRecord | None:
    """The attempt with its corrections, or None when the tenant has no such attempt."""
    stream = await connection.fetchval(
        "SELECT stream_id FROM attempt_events WHERE tenant_id = $1 AND recorded_attempt_id = $2",
        tenant_id,
        attempt_id,
    )
    if stream is None:
        return None
    stored = await read_stream(connection, stream)
    state = fold_stream(attempt_events(stored))
    recorded = next(
        item
        for item in stored
        if isinstance(item.event, AttemptRecorded) and item.event.attempt_id == attempt_id
    )
    assert isinstance(recorded.event, AttemptRecorded)
    corrections = [
        item.event
        for item in stored
        if isinstance(item.event, AttemptVoided | AttemptRescored)
        and item.event.attempt_id == attempt_id
    ]
    return AttemptRecord(
        recorded=recorded.event,
        event_id=recorded.event_id,
        position=recorded.position,
        now=state.attempts[attempt_id],
        corrections=corrections,
    )


async def corrective_work_record(
    connection: DbConnection, tenant_id: str, student_id: str, standard_id: str, work_id: str
) -> tuple[str, int, CorrectiveWorkRecorded] | None:
    """The corrective work's event id, log position and event, or None."""
    stored = await read_stream(connection, stream_id(tenant_id, student_id, standard_id))
    for item in stored:
        if isinstance(item.event, CorrectiveWorkRecorded) and item.event.work_id == work_id:
            return item.event_id, item.position, item.event
    return None
