"""A student-standard stream as it happened: every event with the proficiency after it.

Reads the attempts service's read contract (the `attempt_log` view, as `mastery rebuild` does) and
replays the stream with the pure evidence rules and calculation, under the standard's current
policy, so a teacher can show growth attempt by attempt and explain every step.
"""

from datetime import datetime

import msgspec

from services.mastery.core.calculation import CalculationPolicy, Evidence, calculate
from services.mastery.core.evidence import evidence_after_each, evidence_of_attempt, live
from shared.contract.events.attempts import AttemptRecorded, LatestAttemptEvent
from shared.contract.events.gradebook import decode_gradebook_event
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.contract.ids import stream_id
from shared.platform.postgres import DbConnection


class ProficiencyAfter(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    evidence_count: int


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    stream_version: int
    event_id: str
    type: str
    recorded_at: datetime
    event: LatestAttemptEvent
    proficiency: ProficiencyAfter


async def stream_history(
    connection: DbConnection, tenant_id: str, student_id: str, standard_id: str
) -> list[tuple[int, str, datetime, LatestAttemptEvent]]:
    rows = await connection.fetch(
        "SELECT stream_version, event_id::text, recorded_at, data::text FROM attempt_log "
        "WHERE stream_id = $1 ORDER BY stream_version",
        stream_id(tenant_id, student_id, standard_id),
    )
    history = []
    for row in rows:
        event = decode_gradebook_event(row["data"])
        assert not isinstance(event, StandardDefined | TenantPolicySet)
        history.append((row["stream_version"], row["event_id"], row["recorded_at"], event))
    return history


async def first_recorded(connection: DbConnection, event_ids: list[str]) -> dict[str, Evidence]:
    """The evidence of these attempts' own events as first recorded, by event id: what a rescore
    superseded (the read model keeps only the current score). One index look-up per event."""
    if not event_ids:
        return {}
    rows = await connection.fetch(
        "SELECT event_id::text, stream_version, data::text FROM attempt_log "
        "WHERE event_id = ANY($1::uuid[])",
        event_ids,
    )
    found = {}
    for row in rows:
        event = decode_gradebook_event(row["data"])
        if isinstance(event, AttemptRecorded):
            found[row["event_id"]] = evidence_of_attempt(event, row["stream_version"])
    return found


def with_proficiency(
    history: list[tuple[int, str, datetime, LatestAttemptEvent]], policy: CalculationPolicy
) -> list[HistoryEntry]:
    """Each event with the proficiency the evidence so far gives (voided attempts left out)."""
    entries = []
    steps = evidence_after_each(
        (version, event_id, event) for version, event_id, _, event in history
    )
    for (version, event_id, recorded_at, event), records in zip(history, steps, strict=True):
        result = calculate(live(records), policy)
        tag = type(event).__struct_config__.tag
        entries.append(
            HistoryEntry(
                stream_version=version, event_id=event_id, type=str(tag),
                recorded_at=recorded_at, event=event,
                proficiency=ProficiencyAfter(
                    score=result.score, level=result.level, level_label=result.level_label,
                    mastered=result.mastered, evidence_count=result.evidence_count,
                ),
            )
        )  # fmt: skip
    return entries
