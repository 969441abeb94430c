"""PostgreSQL read model of the mastery service: what the projection loads, and its plan written.

Every multi-column statement takes its rows as one JSON document that PostgreSQL unpacks with
`json_to_recordset`; the column list and the record definition come from the row Struct beside it.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec

from services.mastery.adapters.change_log import enqueue_changes
from services.mastery.core.calculation import Evidence
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.plan import EvidenceRow, GradebookEntry, Plan
from services.mastery.core.student_standard import StudentStandard, StudentStandardKey
from shared.contract.events.gradebook import decode_gradebook_event
from shared.contract.ids import stream_id
from shared.platform.bus import BusNames
from shared.platform.postgres import DbConnection
from shared.platform.rows import Columns, sql

_state_decoder = msgspec.json.Decoder(StudentStandard)
_encoder = msgspec.json.Encoder()


class EvidenceTableRow(msgspec.Struct, frozen=True, kw_only=True):
    """A `mastery_evidence` row."""

    tenant_id: str
    student_id: str
    standard_id: str
    attempt_id: str
    event_id: str
    assessed_at: datetime
    recorded_seq: Annotated[int, sql("bigint")]
    status: str
    score: float | None
    points_possible: float | None
    voided: bool
    corrected_version: Annotated[int, sql("bigint")]


class ProficiencyTableRow(msgspec.Struct, frozen=True, kw_only=True):
    """A `proficiencies` row; the state nested as JSON."""

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
    state: Annotated[StudentStandard, sql("json")]
    updated_at: datetime
    last_version: Annotated[int, sql("bigint")]


KEYS = Columns(StudentStandardKey)  # the key's fields are the columns
EVIDENCE = Columns(EvidenceTableRow)
PROFICIENCIES = Columns(ProficiencyTableRow)
_CORRECTABLE = ("status", "score", "points_possible", "voided", "corrected_version")

# The statements, built once from the row Structs (no input reaches them: S608 does not apply).
_LOCK_KEYS = (
    "SELECT count(pg_advisory_xact_lock($1, h)) FROM ("  # noqa: S608
    "SELECT DISTINCT hashtext(tenant_id || '/' || student_id || '/' || standard_id) AS h "
    f"FROM {KEYS.recordset('$2')} ORDER BY h) AS ordered"
)
# No row locks: the batch holds its student-standards' advisory locks (`lock_student_standards`),
# which every writer of these rows takes first (the rebuild's swap locks the tables). A row lock
# would give the transaction its id here, at its start, and every relay's horizon
# (shared/platform/outbox.py) would wait for the whole batch; with the id taken at its first
# write, the horizon waits for the writes only.
# LATERAL per key, as `_LOAD_RECORDS`.
_LOAD_STATES = (
    f"SELECT p.state FROM {KEYS.recordset('$1', 'k')} "  # noqa: S608
    "CROSS JOIN LATERAL (SELECT state FROM proficiencies WHERE tenant_id = k.tenant_id "
    "AND student_id = k.student_id AND standard_id = k.standard_id OFFSET 0) AS p"
)
# LATERAL, kept a subquery (OFFSET 0): an index scan per key, whatever the statistics said when
# the plan was cached. A join may be planned as a scan of the whole table when the table was small
# at planning time (a new database), and the cached plan then scans it as it grows.
_LOAD_RECORDS = (
    f"SELECT {EVIDENCE.qualified('e')} FROM {KEYS.recordset('$1', 'k')} "  # noqa: S608
    "CROSS JOIN LATERAL (SELECT * FROM mastery_evidence WHERE tenant_id = k.tenant_id "
    "AND student_id = k.student_id AND standard_id = k.standard_id OFFSET 0) AS e"
)
_LOAD_STANDARD_RECORDS = (
    f"SELECT {EVIDENCE.listed} FROM mastery_evidence "  # noqa: S608
    "WHERE tenant_id = $1 AND standard_id = $2"
)
_WRITE_EVIDENCE = (
    f"INSERT INTO mastery_evidence ({EVIDENCE.listed}) "  # noqa: S608
    f"SELECT * FROM {EVIDENCE.recordset('$1')} "
    "ON CONFLICT (tenant_id, student_id, standard_id, attempt_id) DO UPDATE SET "
    + EVIDENCE.assignments("EXCLUDED", _CORRECTABLE)
)
_SAVE_STATES = (
    f"INSERT INTO proficiencies ({PROFICIENCIES.listed}) "  # noqa: S608
    f"SELECT * FROM {PROFICIENCIES.recordset('$1')} "
    "ON CONFLICT (tenant_id, student_id, standard_id) DO UPDATE SET "
    + PROFICIENCIES.assignments("EXCLUDED", PROFICIENCIES.names[3:])
)


def evidence_row(key: StudentStandardKey, record: EvidenceRecord) -> EvidenceTableRow:
    item = record.evidence
    return EvidenceTableRow(
        tenant_id=key.tenant_id,
        student_id=key.student_id,
        standard_id=key.standard_id,
        attempt_id=item.attempt_id,
        event_id=record.event_id,
        assessed_at=item.assessed_at,
        recorded_seq=item.recorded_seq,
        status=item.status,
        score=item.score,
        points_possible=item.points_possible,
        voided=record.voided,
        corrected_version=record.corrected_version,
    )


def proficiency_row(state: StudentStandard, now: datetime) -> ProficiencyTableRow:
    standing, key = state.standing, state.key
    return ProficiencyTableRow(
        tenant_id=key.tenant_id,
        student_id=key.student_id,
        standard_id=key.standard_id,
        score=standing.score,
        level=standing.level,
        level_label=standing.level_label,
        mastered=standing.mastered,
        method=state.policy.method,
        evidence_count=state.evidence_count,
        last_assessed_at=state.newest.assessed_at if state.newest else None,
        state=state,
        updated_at=now,
        last_version=state.last_version or 0,
    )


def _keys_document(keys: Iterable[StudentStandardKey]) -> bytes:
    return KEYS.document(keys)


def record_of_row(row: asyncpg.Record) -> tuple[StudentStandardKey, EvidenceRecord]:
    key = StudentStandardKey(
        tenant_id=row["tenant_id"], student_id=row["student_id"], standard_id=row["standard_id"]
    )
    evidence = Evidence(
        attempt_id=row["attempt_id"],
        assessed_at=row["assessed_at"],
        recorded_seq=row["recorded_seq"],
        status=row["status"],
        score=row["score"],
        points_possible=row["points_possible"],
    )
    record = EvidenceRecord(
        evidence=evidence,
        event_id=row["event_id"],
        voided=row["voided"],
        corrected_version=row["corrected_version"],
    )
    return key, record


STUDENT_STANDARD_LOCKS = 0x4D5354  # the class (first int4 key) of the projector's advisory locks


async def lock_student_standards(
    connection: DbConnection, keys: Sequence[StudentStandardKey]
) -> None:
    """Hold these student-standards until the transaction ends; others wait, then read after it.

    Row locks cannot cover a student-standard that has no row yet, so two batches in flight (or
    two projector instances) first take these, in one order. A shared hash only makes one wait.
    """
    await connection.execute(
        _LOCK_KEYS,
        STUDENT_STANDARD_LOCKS,
        _keys_document(keys),
    )


async def load_states(
    connection: DbConnection, keys: Iterable[StudentStandardKey]
) -> dict[StudentStandardKey, StudentStandard]:
    """The states of these student-standards (those that have one), which the caller holds
    (`lock_student_standards`)."""
    rows = await connection.fetch(
        _LOAD_STATES,
        _keys_document(keys),
    )
    states = [_state_decoder.decode(row["state"]) for row in rows]
    return {state.key: state for state in states}


class LogRangeRow(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    student_id: str
    standard_id: str
    stream_id: str
    after: int
    up_to: int


LOG_RANGES = Columns(LogRangeRow)
# Ranges of streams, read through the attempts service's read contract.
_LOAD_LOG = (
    "SELECT k.tenant_id, k.student_id, k.standard_id, "  # noqa: S608
    "l.stream_version, l.event_id::text AS event_id, l.data::text AS data "
    f"FROM {LOG_RANGES.recordset('$1', 'k')} "
    # LATERAL: one index range scan of each stream, however large the log grows.
    "CROSS JOIN LATERAL (SELECT stream_version, event_id, data FROM attempt_log "
    "WHERE stream_id = k.stream_id AND stream_version > k.after AND stream_version <= k.up_to "
    "OFFSET 0) AS l "  # kept a subquery, so the planner cannot flatten it into a scan of the log
    "ORDER BY k.tenant_id, k.student_id, k.standard_id, l.stream_version"
)


async def load_log(
    connection: DbConnection, ranges: Iterable[tuple[StudentStandardKey, int, int]]
) -> dict[StudentStandardKey, tuple[GradebookEntry, ...]]:
    """Each stream's logged events with versions in (after, up_to], in version order."""
    document = LOG_RANGES.document(
        LogRangeRow(
            tenant_id=key.tenant_id,
            student_id=key.student_id,
            standard_id=key.standard_id,
            stream_id=stream_id(key.tenant_id, key.student_id, key.standard_id),
            after=after,
            up_to=up_to,
        )
        for key, after, up_to in ranges
    )
    logged: dict[StudentStandardKey, list[GradebookEntry]] = {}
    for row in await connection.fetch(_LOAD_LOG, document):
        key = StudentStandardKey(
            tenant_id=row["tenant_id"], student_id=row["student_id"], standard_id=row["standard_id"]
        )
        entry = GradebookEntry(
            event=decode_gradebook_event(row["data"]),
            event_id=row["event_id"],
            stream_version=row["stream_version"],
        )
        logged.setdefault(key, []).append(entry)
    return {key: tuple(entries) for key, entries in logged.items()}


async def load_records(
    connection: DbConnection, keys: Iterable[StudentStandardKey]
) -> list[tuple[StudentStandardKey, EvidenceRecord]]:
    """Every evidence record (voided ones too) of these student-standards."""
    rows = await connection.fetch(
        _LOAD_RECORDS,
        _keys_document(keys),
    )
    return [record_of_row(row) for row in rows]


async def load_standard(
    connection: DbConnection, tenant_id: str, standard_id: str
) -> tuple[list[StudentStandard], list[tuple[StudentStandardKey, EvidenceRecord]]]:
    """Every state on a standard (locked) and every evidence record on it."""
    states = await connection.fetch(
        "SELECT state FROM proficiencies WHERE tenant_id = $1 AND standard_id = $2 "
        "ORDER BY student_id FOR UPDATE",
        tenant_id,
        standard_id,
    )
    records = await connection.fetch(_LOAD_STANDARD_RECORDS, tenant_id, standard_id)
    return (
        [_state_decoder.decode(row["state"]) for row in states],
        [record_of_row(row) for row in records],
    )


async def write_plan(
    connection: DbConnection,
    plan: Plan,
    now: datetime,
    bus: BusNames,
    traces: Mapping[str, str] | None = None,
) -> None:
    """The batch's evidence, states and change-log rows (policies:
    `policies.write_plan_policies`); `traces`: the trace context of each causing event id."""
    if plan.evidence:
        await connection.execute(_WRITE_EVIDENCE, _evidence_document(plan.evidence))
    await save_states(connection, plan.states, now)
    await enqueue_changes(connection, plan.changes, bus, traces)


def _evidence_document(rows: Iterable[EvidenceRow]) -> bytes:
    return EVIDENCE.document(evidence_row(row.key, row.record) for row in rows)


async def save_states(
    connection: DbConnection, states: Sequence[StudentStandard], now: datetime
) -> None:
    """Upsert the states in one statement."""
    if not states:
        return
    await connection.execute(
        _SAVE_STATES,
        PROFICIENCIES.document(proficiency_row(state, now) for state in states),
    )


class StoredStanding(msgspec.Struct, frozen=True, kw_only=True):
    state: StudentStandard
    records: list[EvidenceRecord]  # voided ones too: the explanation names them


async def standings_of(
    connection: DbConnection, tenant_id: str, student_id: str
) -> list[StoredStanding]:
    """Every standard of one student with its evidence, for explaining each result on read."""
    rows = await connection.fetch(
        "SELECT state FROM proficiencies WHERE tenant_id = $1 AND student_id = $2 "
        'ORDER BY standard_id COLLATE "C"',
        tenant_id,
        student_id,
    )
    states = [_state_decoder.decode(row["state"]) for row in rows]
    records: dict[StudentStandardKey, list[EvidenceRecord]] = {state.key: [] for state in states}
    for key, record in await load_records(connection, records):
        records[key].append(record)
    return [StoredStanding(state=state, records=records[state.key]) for state in states]
