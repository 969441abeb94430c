"""Rebuild the read model from the attempt event store, the system of record.

This is the one place the mastery service reads the attempts service's table, read-only, through
its documented columns (`stream_id`, `stream_version`, `event_id`, `data`). The rebuild holds an
exclusive lock on the read model while it runs, so a running projector waits and then goes on:
anything it delivers again is already evidence and drops out. Nothing is emitted: a rebuild
restates what is known, it is not news for families.
"""

import time
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import msgspec

from services.mastery.adapters import policies, read_model
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import EvidenceRecord, StreamEvent, live, with_event
from services.mastery.core.projection import (
    StudentStandard,
    StudentStandardKey,
    state_from_evidence,
)
from shared.events.attempts import (
    upcast,
)
from shared.events.gradebook import AnyGradebookEvent
from shared.events.standards import StandardDefined, TenantPolicySet
from shared.postgres import DbConnection

_events = msgspec.json.Decoder(AnyGradebookEvent)
_FETCH = 5_000
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
        cursor = await connection.cursor(
            "SELECT stream_id, stream_version, event_id::text, data::text FROM attempt_events "
            "WHERE stream_id NOT LIKE '%//%' ORDER BY stream_id, stream_version"
        )
        async for streams in _streams(cursor):
            for stream in streams:
                writer.add_stream(stream)
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


async def _streams(cursor: "asyncpg.cursor.Cursor[asyncpg.Record]") -> AsyncIterator[list[Stream]]:
    """The streams of the next `_FETCH` rows (the cursor is ordered by stream), each whole.

    The last stream of a chunk may go on in the next one, so it is held back until it ends.
    """
    stream_id, stream = "", Stream()
    while rows := await cursor.fetch(_FETCH):
        streams: list[Stream] = []
        for row in rows:
            if row[0] != stream_id and stream:
                streams.append(stream)
                stream = []
            stream_id = row[0]
            event = _events.decode(row[3])
            assert not isinstance(event, StandardDefined | TenantPolicySet)
            stream.append((row[1], row[2], upcast(event)))
        yield streams
    if stream:
        yield [stream]


class _Writer:
    """Folds each stream into its state and writes evidence and proficiencies a chunk at a time."""

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
        self._evidence: list[tuple[StudentStandardKey, EvidenceRecord]] = []
        self._states: list[StudentStandard] = []
        self.events = 0
        self.proficiencies = 0

    def add_stream(self, stream: Stream) -> None:
        self.events += len(stream)
        first = stream[0][2]
        key = StudentStandardKey(
            tenant_id=first.tenant_id, student_id=first.student_id, standard_id=first.standard_id
        )
        records: dict[str, EvidenceRecord] = {}
        for version, event_id, event in stream:
            records = with_event(records, version, event_id, event)
        if not records:
            return
        policy = self._known.get((key.tenant_id, key.standard_id), self._default)
        self._evidence += [(key, record) for record in records.values()]
        self._states.append(state_from_evidence(key, live(records), policy=policy))
        self.proficiencies += 1

    async def flush(self) -> None:
        await read_model.insert_evidence_records(self._connection, self._evidence)
        await read_model.save_states(self._connection, self._states, self._now)
        self._evidence, self._states = [], []
