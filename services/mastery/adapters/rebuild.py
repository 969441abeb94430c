"""Rebuild the read model from the attempt event store, the system of record.

This is the one place the mastery service reads the attempts service's table, read-only, through
its documented columns (`stream_id`, `stream_version`, `event_id`, `data`). The rebuild holds an
exclusive lock on the read model while it runs, so a running projector waits and then goes on:
anything it delivers again is already evidence and drops out. Nothing is emitted: a rebuild
restates what is known, it is not news for families.
"""

import time
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime

import asyncpg
import msgspec

from services.mastery.adapters import policies
from services.mastery.adapters.read_model import proficiency_row
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import EvidenceRecord, StreamEvent, live, with_event
from services.mastery.core.projection import StudentStandardKey, state_from_evidence
from shared.events.attempts import (
    upcast,
)
from shared.events.gradebook import AnyGradebookEvent
from shared.events.standards import StandardDefined, TenantPolicySet
from shared.postgres import DbConnection

_events = msgspec.json.Decoder(AnyGradebookEvent)
_FETCH = 5_000
_EVIDENCE_COLUMNS = (
    "tenant_id", "student_id", "standard_id", "attempt_id", "event_id", "assessed_at",
    "recorded_seq", "status", "score", "points_possible", "voided", "corrected_version",
)  # fmt: skip
_PROFICIENCY_COLUMNS = (
    "tenant_id", "student_id", "standard_id", "score", "level", "level_label", "mastered",
    "method", "evidence_count", "last_assessed_at", "last_bus_sequence", "state", "updated_at",
)  # fmt: skip
# Standard and tenant-policy streams hold `//` after the tenant; student streams never do.


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    proficiencies: int
    seconds: float


async def rebuild_read_model(
    connection: DbConnection, *, default_policy: CalculationPolicy, now: datetime
) -> RebuildReport:
    started = time.perf_counter()
    async with connection.transaction():
        await connection.execute(
            "LOCK TABLE proficiencies, mastery_evidence, standard_policies, "
            "tenant_default_policies IN ACCESS EXCLUSIVE MODE"
        )
        await connection.execute(
            "TRUNCATE proficiencies, mastery_evidence, standard_policies, tenant_default_policies"
        )
        known = await _rebuild_policies(connection)
        writer = _Writer(connection, known, default_policy, now)
        cursor = connection.cursor(
            "SELECT stream_id, stream_version, event_id::text, data::text FROM attempt_events "
            "WHERE stream_id NOT LIKE '%//%' ORDER BY stream_id, stream_version",
            prefetch=_FETCH,
        )
        async for stream in _streams(cursor):
            await writer.add_stream(stream)
        await writer.flush()
    return RebuildReport(
        events=writer.events, proficiencies=writer.proficiencies,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


async def _rebuild_policies(connection: DbConnection) -> dict[tuple[str, str], CalculationPolicy]:
    rows = await connection.fetch(
        "SELECT data::text FROM attempt_events WHERE stream_id LIKE '%//%' ORDER BY global_position"
    )
    standards: dict[tuple[str, str], StandardDefined] = {}
    tenants: dict[str, TenantPolicySet] = {}
    for row in rows:
        event = _events.decode(row["data"])
        if isinstance(event, StandardDefined):
            standards[(event.tenant_id, event.standard_id)] = event
        elif isinstance(event, TenantPolicySet):
            tenants[event.tenant_id] = event
    for tenant_policy in tenants.values():
        await policies.save_tenant_default(connection, tenant_policy)
    known = {}
    for ref, standard in standards.items():
        known[ref] = policies.resolved(standard, tenants.get(standard.tenant_id))
        await policies.save_standard(connection, standard, known[ref])
    return known


Stream = list[StreamEvent]


async def _streams(cursor: AsyncIterable[asyncpg.Record]) -> AsyncIterator[Stream]:
    """Consecutive rows of one stream (the cursor is ordered by stream), one list per stream."""
    stream_id, stream = "", Stream()
    async for row in cursor:
        if row["stream_id"] != stream_id and stream:
            yield stream
            stream = []
        stream_id = row["stream_id"]
        event = _events.decode(row["data"])
        assert not isinstance(event, StandardDefined | TenantPolicySet)
        stream.append((row["stream_version"], row["event_id"], upcast(event)))
    if stream:
        yield stream


class _Writer:
    """Folds each stream into its state and COPYs evidence and proficiency rows in chunks."""

    def __init__(
        self,
        connection: DbConnection,
        known: dict[tuple[str, str], CalculationPolicy],
        default_policy: CalculationPolicy,
        now: datetime,
    ) -> None:
        self._connection = connection
        self._known = known
        self._default = default_policy
        self._now = now
        self._evidence: list[tuple[object, ...]] = []
        self._proficiencies: list[tuple[object, ...]] = []
        self.events = 0
        self.proficiencies = 0

    async def add_stream(self, stream: Stream) -> None:
        self.events += len(stream)
        first = stream[0][2]
        key = StudentStandardKey(
            tenant_id=first.tenant_id, student_id=first.student_id, standard_id=first.standard_id
        )
        records: dict[str, EvidenceRecord] = {}
        for version, event_id, event in stream:
            records = with_event(records, version, event_id, event)
        rows = list(records.values())
        if not rows:
            return
        policy = self._known.get((key.tenant_id, key.standard_id), self._default)
        state = state_from_evidence(key, live(records), policy=policy)
        self._evidence += [
            (key.tenant_id, key.student_id, key.standard_id, row.evidence.attempt_id,
             row.event_id, row.evidence.assessed_at, row.evidence.recorded_seq,
             row.evidence.status, row.evidence.score, row.evidence.points_possible, row.voided,
             row.corrected_version)
            for row in rows
        ]  # fmt: skip
        self._proficiencies.append(proficiency_row(state, self._now))
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
