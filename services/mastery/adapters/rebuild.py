"""Rebuild the read model from the attempt event store, the system of record.

This is the one place the mastery service reads the attempts service's table, read-only, through
its documented columns (`stream_id`, `stream_version`, `event_id`, `data`). The rebuild holds an
exclusive lock on the read model while it runs, so a running projector waits and then goes on:
anything it delivers again is already evidence and drops out. Nothing is emitted: a rebuild
restates what is known, it is not news for families.
"""

import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from datetime import datetime

import asyncpg
import msgspec

from services.mastery.adapters.read_model import proficiency_row
from services.mastery.core.calculation import CalculationPolicy, Evidence
from services.mastery.core.projection import (
    AttemptApplied,
    StudentStandard,
    evidence_of,
    key_of,
    state_from_evidence,
)
from shared.events.attempts import AnyAttemptEvent
from shared.postgres import DbConnection

_events = msgspec.json.Decoder(AnyAttemptEvent)
_FETCH = 5_000
_EVIDENCE_COLUMNS = (
    "tenant_id", "student_id", "standard_id", "attempt_id", "event_id", "assessed_at",
    "recorded_seq", "status", "score", "points_possible",
)  # fmt: skip
_PROFICIENCY_COLUMNS = (
    "tenant_id", "student_id", "standard_id", "score", "level", "level_label", "mastered",
    "method", "evidence_count", "last_assessed_at", "last_bus_sequence", "state", "updated_at",
)  # fmt: skip


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    proficiencies: int
    seconds: float


async def rebuild_read_model(
    connection: DbConnection, *, policy: CalculationPolicy, now: datetime
) -> RebuildReport:
    started = time.perf_counter()
    async with connection.transaction():
        await connection.execute(
            "LOCK TABLE proficiencies, mastery_evidence IN ACCESS EXCLUSIVE MODE"
        )
        await connection.execute("TRUNCATE proficiencies, mastery_evidence")
        writer = _Writer(connection, policy, now)
        cursor = connection.cursor(
            "SELECT stream_id, stream_version, event_id::text, data::text FROM attempt_events "
            "ORDER BY stream_id, stream_version",
            prefetch=_FETCH,
        )
        async for stream in _streams(cursor):
            await writer.add_stream(stream)
        await writer.flush()
    return RebuildReport(
        events=writer.events,
        proficiencies=writer.proficiencies,
        seconds=time.perf_counter() - started,
    )


async def _streams(cursor: AsyncIterable[asyncpg.Record]) -> AsyncIterator[list[AttemptApplied]]:
    """Consecutive rows of one stream (the cursor is ordered by stream), one list per stream."""
    stream_id, stream = "", list[AttemptApplied]()
    async for row in cursor:
        if row["stream_id"] != stream_id and stream:
            yield stream
            stream = []
        stream_id = row["stream_id"]
        stream.append(_applied(row))
    if stream:
        yield stream


class _Writer:
    """Folds each stream into its state and COPYs evidence and proficiency rows in chunks."""

    def __init__(self, connection: DbConnection, policy: CalculationPolicy, now: datetime):
        self._connection = connection
        self._policy = policy
        self._now = now
        self._evidence: list[tuple[object, ...]] = []
        self._proficiencies: list[tuple[object, ...]] = []
        self.events = 0
        self.proficiencies = 0

    async def add_stream(self, stream: Sequence[AttemptApplied]) -> None:
        evidence = [evidence_of(item) for item in stream]
        state = state_from_evidence(key_of(stream[0].event), evidence, policy=self._policy)
        self._evidence.extend(_evidence_rows(state, evidence, stream))
        self._proficiencies.append(proficiency_row(state, self._now))
        self.events += len(stream)
        self.proficiencies += 1
        if len(self._evidence) >= _FETCH:
            await self.flush()

    async def flush(self) -> None:
        await self._connection.copy_records_to_table(
            "mastery_evidence", records=self._evidence, columns=_EVIDENCE_COLUMNS
        )
        await self._connection.copy_records_to_table(
            "proficiencies", records=self._proficiencies, columns=_PROFICIENCY_COLUMNS
        )
        self._evidence, self._proficiencies = [], []


def _evidence_rows(
    state: StudentStandard, evidence: Sequence[Evidence], stream: Sequence[AttemptApplied]
) -> Iterator[tuple[object, ...]]:
    key = state.key
    for item, applied in zip(evidence, stream, strict=True):
        yield (
            key.tenant_id, key.student_id, key.standard_id, item.attempt_id, applied.event_id,
            item.assessed_at, item.recorded_seq, item.status, item.score, item.points_possible,
        )  # fmt: skip


def _applied(row: asyncpg.Record) -> AttemptApplied:
    return AttemptApplied(
        event=_events.decode(row["data"]),
        event_id=row["event_id"],
        stream_version=row["stream_version"],
        bus_sequence=0,
    )
