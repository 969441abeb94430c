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
from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.attempts import AttemptRescored, AttemptVoided
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.platform.bus import BusNames
from shared.platform.postgres import DbConnection

EVENT_SOURCE = "/services/mastery"

_state_decoder = msgspec.json.Decoder(StudentStandard)
_encoder = msgspec.json.Encoder()
_envelopes = EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent)


class _EvidenceInsert(msgspec.Struct, frozen=True):
    """A `mastery_evidence` row as `record_evidence` sends it (in one JSON array)."""

    tenant_id: str
    student_id: str
    standard_id: str
    attempt_id: str
    event_id: str
    assessed_at: datetime
    recorded_seq: int
    status: str
    score: float | None
    points_possible: float | None


def evidence_columns(
    key: StudentStandardKey, evidence: Evidence, event_id: str
) -> tuple[str, str, str, str, str, datetime, int, str, float | None, float | None]:
    """A `mastery_evidence` row up to `points_possible`, as the projector and rebuild write it."""
    return (
        key.tenant_id, key.student_id, key.standard_id, evidence.attempt_id, event_id,
        evidence.assessed_at, evidence.recorded_seq, evidence.status, evidence.score,
        evidence.points_possible,
    )  # fmt: skip


async def record_evidence(
    connection: DbConnection, applied: Sequence[AttemptApplied]
) -> list[AttemptApplied]:
    """Insert the batch's evidence rows; returns the items that were new (redeliveries drop out)."""
    rows = [
        _EvidenceInsert(*evidence_columns(key_of(item.event), evidence_of(item), item.event_id))
        for item in applied
    ]
    inserted = await connection.fetch(
        """
        INSERT INTO mastery_evidence (
            tenant_id, student_id, standard_id, attempt_id, event_id, assessed_at, recorded_seq,
            status, score, points_possible)
        SELECT * FROM json_to_recordset(convert_from($1::bytea, 'UTF8')::json) AS r(
            tenant_id text, student_id text, standard_id text, attempt_id text, event_id text,
            assessed_at timestamptz, recorded_seq bigint, status text, score float8,
            points_possible float8)
        ON CONFLICT DO NOTHING
        RETURNING event_id
        """,
        _encoder.encode(rows),
    )
    fresh = {row["event_id"] for row in inserted}
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


STUDENT_STANDARD_LOCKS = 0x4D5354  # the class (first int4 key) of the projector's advisory locks


async def lock_student_standards(
    connection: DbConnection, keys: Sequence[StudentStandardKey]
) -> None:
    """Hold these student-standards until the transaction ends; others wait, then read after it.

    Row locks cannot cover a student-standard that has no row yet, so two batches in flight (or
    two projector instances) first take these, in one order. A shared hash only makes one wait.
    """
    await connection.execute(
        "SELECT count(pg_advisory_xact_lock($1, h)) FROM ("
        "SELECT DISTINCT hashtext(t || '/' || s || '/' || d) AS h "
        "FROM unnest($2::text[], $3::text[], $4::text[]) AS k(t, s, d) ORDER BY h) AS ordered",
        STUDENT_STANDARD_LOCKS,
        [key.tenant_id for key in keys],
        [key.student_id for key in keys],
        [key.standard_id for key in keys],
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


class _ProficiencyRow(msgspec.Struct, frozen=True):
    """A `proficiencies` row as `save_states` sends it, the state nested as JSON."""

    tenant_id: str
    student_id: str
    standard_id: str
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    method: str
    evidence_count: int
    last_assessed_at: datetime | None
    last_bus_sequence: int
    state: StudentStandard
    updated_at: datetime


async def save_states(
    connection: DbConnection, states: Sequence[StudentStandard], now: datetime
) -> None:
    """Upsert the states in one statement: the rows go as one JSON document PostgreSQL unpacks."""
    if not states:
        return
    rows = [_ProficiencyRow(*_standing_columns(state), state, now) for state in states]
    await connection.execute(_SAVE_STATES, _encoder.encode(rows))


_SAVE_STATES = """
INSERT INTO proficiencies (
    tenant_id, student_id, standard_id, score, level, level_label, mastered, method,
    evidence_count, last_assessed_at, last_bus_sequence, state, updated_at)
SELECT * FROM json_to_recordset(convert_from($1::bytea, 'UTF8')::json) AS r(
    tenant_id text, student_id text, standard_id text, score float8, level float8,
    level_label text, mastered bool, method text, evidence_count int, last_assessed_at timestamptz,
    last_bus_sequence bigint, state json, updated_at timestamptz)
ON CONFLICT (tenant_id, student_id, standard_id) DO UPDATE SET
    score = EXCLUDED.score, level = EXCLUDED.level, level_label = EXCLUDED.level_label,
    mastered = EXCLUDED.mastered, method = EXCLUDED.method,
    evidence_count = EXCLUDED.evidence_count, last_assessed_at = EXCLUDED.last_assessed_at,
    last_bus_sequence = EXCLUDED.last_bus_sequence, state = EXCLUDED.state,
    updated_at = EXCLUDED.updated_at
"""


def proficiency_row(state: StudentStandard, now: datetime) -> tuple[object, ...]:
    """A `proficiencies` row for COPY (the rebuild), the state as JSON text."""
    return (*_standing_columns(state), _encoder.encode(state).decode(), now)


def _standing_columns(
    state: StudentStandard,
) -> tuple[
    str, str, str, float | None, float | None, str | None, bool, str, int, datetime | None, int
]:
    """The `proficiencies` columns read off a state, up to `last_bus_sequence`."""
    standing = state.standing
    return (
        state.key.tenant_id, state.key.student_id, state.key.standard_id, standing.score,
        standing.level, standing.level_label, standing.mastered, state.policy.method,
        state.evidence_count, state.newest.assessed_at if state.newest else None,
        state.last_bus_sequence,
    )  # fmt: skip


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
