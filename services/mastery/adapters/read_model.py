"""PostgreSQL read model of the mastery service: proficiencies, checkpoint and outbox, one txn."""

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from services.mastery.core.calculation import Evidence
from services.mastery.core.projection import (
    AttemptApplied,
    StudentStandard,
    StudentStandardKey,
    evidence_of,
    key_of,
)
from shared.bus import BusNames
from shared.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.events.attempts import AttemptRescored, AttemptVoided
from shared.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.postgres import DbConnection

EVENT_SOURCE = "/services/mastery"

_state_decoder = msgspec.json.Decoder(StudentStandard)
_encoder = msgspec.json.Encoder()
_envelopes = EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent)


async def record_evidence(
    connection: DbConnection, applied: Sequence[AttemptApplied]
) -> list[AttemptApplied]:
    """Insert the batch's evidence rows; returns the items that were new (redeliveries drop out)."""
    evidence = [(key_of(item.event), evidence_of(item), item.event_id) for item in applied]
    rows = await connection.fetch(
        """
        INSERT INTO mastery_evidence (
            tenant_id, student_id, standard_id, attempt_id, event_id, assessed_at, recorded_seq,
            status, score, points_possible)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
            $6::timestamptz[], $7::bigint[], $8::text[], $9::float8[], $10::float8[])
        ON CONFLICT DO NOTHING
        RETURNING event_id
        """,
        [key.tenant_id for key, _, _ in evidence],
        [key.student_id for key, _, _ in evidence],
        [key.standard_id for key, _, _ in evidence],
        [item.attempt_id for _, item, _ in evidence],
        [event_id for _, _, event_id in evidence],
        [item.assessed_at for _, item, _ in evidence],
        [item.recorded_seq for _, item, _ in evidence],
        [item.status for _, item, _ in evidence],
        [item.score for _, item, _ in evidence],
        [item.points_possible for _, item, _ in evidence],
    )
    fresh = {row["event_id"] for row in rows}
    one_per_event = {item.event_id: item for item in applied if item.event_id in fresh}
    return [item for item in applied if one_per_event.get(item.event_id) is item]


async def load_evidence(
    connection: DbConnection, keys: Sequence[StudentStandardKey]
) -> dict[StudentStandardKey, list[Evidence]]:
    rows = await connection.fetch(
        "SELECT e.* FROM mastery_evidence e "
        "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, student_id, standard_id) "
        "USING (tenant_id, student_id, standard_id) WHERE NOT e.voided",
        [key.tenant_id for key in keys],
        [key.student_id for key in keys],
        [key.standard_id for key in keys],
    )
    evidence: dict[StudentStandardKey, list[Evidence]] = {key: [] for key in keys}
    for row in rows:
        key = StudentStandardKey(
            tenant_id=row["tenant_id"], student_id=row["student_id"], standard_id=row["standard_id"]
        )
        evidence[key].append(_evidence_row(row))
    return evidence


def _evidence_row(row: asyncpg.Record) -> Evidence:
    return Evidence(
        attempt_id=row["attempt_id"],
        assessed_at=row["assessed_at"],
        recorded_seq=row["recorded_seq"],
        status=row["status"],
        score=row["score"],
        points_possible=row["points_possible"],
    )


async def load_states(
    connection: DbConnection, keys: Sequence[StudentStandardKey]
) -> dict[StudentStandardKey, StudentStandard]:
    """Lock and load the states a batch touches; the lock orders concurrent projector instances."""
    rows = await connection.fetch(
        "SELECT p.state FROM proficiencies p "
        "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, student_id, standard_id) "
        "USING (tenant_id, student_id, standard_id) "
        "ORDER BY p.tenant_id, p.student_id, p.standard_id FOR UPDATE OF p",
        [key.tenant_id for key in keys],
        [key.student_id for key in keys],
        [key.standard_id for key in keys],
    )
    states = [_state_decoder.decode(row["state"]) for row in rows]
    return {state.key: state for state in states}


async def load_states_of_standard(
    connection: DbConnection, tenant_id: str, standard_id: str
) -> dict[StudentStandardKey, StudentStandard]:
    rows = await connection.fetch(
        "SELECT state FROM proficiencies WHERE tenant_id = $1 AND standard_id = $2 "
        "ORDER BY student_id FOR UPDATE",
        tenant_id,
        standard_id,
    )
    states = [_state_decoder.decode(row["state"]) for row in rows]
    return {state.key: state for state in states}


CorrectionOutcome = Literal["applied", "stale", "missing"]


async def apply_correction(
    connection: DbConnection, event: AttemptVoided | AttemptRescored, stream_version: int
) -> CorrectionOutcome:
    """Void or rescore an evidence row, unless a newer correction of it was applied already."""
    keys = (event.tenant_id, event.student_id, event.standard_id, event.attempt_id, stream_version)
    if isinstance(event, AttemptVoided):
        done = await connection.fetchval(
            "UPDATE mastery_evidence SET voided = true, corrected_version = $5 "
            "WHERE tenant_id = $1 AND student_id = $2 AND standard_id = $3 AND attempt_id = $4 "
            "AND corrected_version < $5 RETURNING 1",
            *keys,
        )
    else:
        done = await connection.fetchval(
            "UPDATE mastery_evidence SET status = 'scored', score = $6, points_possible = $7, "
            "corrected_version = $5 "
            "WHERE tenant_id = $1 AND student_id = $2 AND standard_id = $3 AND attempt_id = $4 "
            "AND corrected_version < $5 RETURNING 1",
            *keys,
            event.score,
            event.points_possible,
        )
    if done:
        return "applied"
    exists = await connection.fetchval(
        "SELECT 1 FROM mastery_evidence WHERE tenant_id = $1 AND student_id = $2 "
        "AND standard_id = $3 AND attempt_id = $4",
        *keys[:4],
    )
    return "stale" if exists else "missing"


async def save_states(
    connection: DbConnection, states: Sequence[StudentStandard], now: datetime
) -> None:
    """Upsert the states in one statement (arrays of columns), not one statement per row."""
    if not states:
        return
    rows = [proficiency_row(state, now) for state in states]
    await connection.execute(_SAVE_STATES, *(list(column) for column in zip(*rows, strict=True)))


_SAVE_STATES = """
INSERT INTO proficiencies (
    tenant_id, student_id, standard_id, score, level, level_label, mastered, method,
    evidence_count, last_assessed_at, last_bus_sequence, state, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::text[],
    $7::bool[], $8::text[], $9::int[], $10::timestamptz[], $11::bigint[], $12::jsonb[],
    $13::timestamptz[])
ON CONFLICT (tenant_id, student_id, standard_id) DO UPDATE SET
    score = EXCLUDED.score, level = EXCLUDED.level, level_label = EXCLUDED.level_label,
    mastered = EXCLUDED.mastered, method = EXCLUDED.method,
    evidence_count = EXCLUDED.evidence_count, last_assessed_at = EXCLUDED.last_assessed_at,
    last_bus_sequence = EXCLUDED.last_bus_sequence, state = EXCLUDED.state,
    updated_at = EXCLUDED.updated_at
"""


def proficiency_row(state: StudentStandard, now: datetime) -> tuple[object, ...]:
    standing = state.standing
    return (
        state.key.tenant_id,
        state.key.student_id,
        state.key.standard_id,
        standing.score,
        standing.level,
        standing.level_label,
        standing.mastered,
        state.policy.method,
        state.evidence_count,
        state.newest.assessed_at if state.newest else None,
        state.last_bus_sequence,
        _encoder.encode(state).decode(),
        now,
    )


async def save_checkpoint(connection: DbConnection, projector: str, sequence: int) -> None:
    await connection.execute(
        "INSERT INTO projector_checkpoints (projector, last_sequence) VALUES ($1, $2) "
        "ON CONFLICT (projector) DO UPDATE SET "
        "last_sequence = greatest(projector_checkpoints.last_sequence, EXCLUDED.last_sequence), "
        "updated_at = now()",
        projector,
        sequence,
    )


async def enqueue_changes(
    connection: DbConnection, changes: Sequence[MasteryChanged], bus: BusNames
) -> None:
    if not changes:
        return
    await connection.execute(
        # Positions follow the changes' order: the relay publishes by position.
        "INSERT INTO mastery_outbox (tenant_id, subject, msg_id, payload) "
        "SELECT tenant_id, subject, msg_id, payload "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) "
        "WITH ORDINALITY AS item (tenant_id, subject, msg_id, payload, n) ORDER BY n",
        [change.tenant_id for change in changes],
        [bus.mastery_changed(change.tenant_id) for change in changes],
        [change.change_id for change in changes],
        [_envelopes.encode(_envelope(change)) for change in changes],
    )


def _envelope(change: MasteryChanged) -> CloudEvent[AnyMasteryEvent]:
    return CloudEvent(
        id=change.change_id,
        source=EVENT_SOURCE,
        type=cloudevent_type(change),
        subject=f"{change.tenant_id}/{change.student_id}/{change.standard_id}",
        time=change.changed_at,
        tenantid=change.tenant_id,
        data=change,
    )


class StoredStanding(msgspec.Struct, frozen=True, kw_only=True):
    state: StudentStandard
    evidence: list[Evidence]


async def standings_of(
    connection: DbConnection, tenant_id: str, student_id: str
) -> list[StoredStanding]:
    """Every standard of one student with its evidence, for explaining each result on read."""
    rows = await connection.fetch(
        "SELECT state FROM proficiencies WHERE tenant_id = $1 AND student_id = $2 "
        "ORDER BY standard_id",
        tenant_id,
        student_id,
    )
    states = [_state_decoder.decode(row["state"]) for row in rows]
    evidence = await load_evidence(connection, [state.key for state in states])
    return [StoredStanding(state=state, evidence=evidence[state.key]) for state in states]
