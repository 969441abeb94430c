"""PostgreSQL read model of the mastery service: proficiencies, checkpoint and outbox, one txn."""

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec

from services.mastery.core.projection import StudentStandard, StudentStandardKey
from shared.bus import BusNames
from shared.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.postgres import DbConnection

EVENT_SOURCE = "/services/mastery"

_state_decoder = msgspec.json.Decoder(StudentStandard)
_encoder = msgspec.json.Encoder()
_envelopes = EnvelopeCodec(AnyMasteryEvent)


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


async def save_states(
    connection: DbConnection, states: Sequence[StudentStandard], now: datetime
) -> None:
    await connection.executemany(
        """
        INSERT INTO proficiencies (
            tenant_id, student_id, standard_id, score, level, level_label, mastered, method,
            evidence_count, last_assessed_at, last_bus_sequence, state, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (tenant_id, student_id, standard_id) DO UPDATE SET
            score = EXCLUDED.score, level = EXCLUDED.level, level_label = EXCLUDED.level_label,
            mastered = EXCLUDED.mastered, method = EXCLUDED.method,
            evidence_count = EXCLUDED.evidence_count, last_assessed_at = EXCLUDED.last_assessed_at,
            last_bus_sequence = EXCLUDED.last_bus_sequence, state = EXCLUDED.state,
            updated_at = EXCLUDED.updated_at
        """,
        [_row(state, now) for state in states],
    )


def _row(state: StudentStandard, now: datetime) -> tuple[object, ...]:
    proficiency = state.proficiency
    last_assessed = max((item.assessed_at for item in state.evidence), default=None)
    return (
        state.key.tenant_id,
        state.key.student_id,
        state.key.standard_id,
        proficiency.score,
        proficiency.level,
        proficiency.level_label,
        proficiency.mastered,
        proficiency.method,
        proficiency.evidence_count,
        last_assessed,
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
    await connection.executemany(
        "INSERT INTO mastery_outbox (tenant_id, subject, msg_id, payload) VALUES ($1, $2, $3, $4)",
        [
            (
                change.tenant_id,
                bus.mastery_changed(change.tenant_id),
                change.change_id,
                _envelopes.encode(_envelope(change)),
            )
            for change in changes
        ],
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


async def proficiencies_of(
    pool: asyncpg.Pool, tenant_id: str, student_id: str
) -> list[StudentStandard]:
    rows = await pool.fetch(
        "SELECT state FROM proficiencies WHERE tenant_id = $1 AND student_id = $2 "
        "ORDER BY standard_id",
        tenant_id,
        student_id,
    )
    return [_state_decoder.decode(row["state"]) for row in rows]
