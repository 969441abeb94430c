"""Rebuild the read model from the attempt event store, the system of record.

It reads the attempts service's read contract, the `attempt_log` view, never its tables, and folds
each stream with the same pure evidence rules and calculation as the live projection. The rebuild
holds an exclusive lock on the read model while it runs, so a running projector waits and then goes
on: anything it delivers again is already evidence and drops out. Nothing is emitted: a rebuild
restates what is known, it is not news for families.
"""

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import asyncpg
import msgspec

from services.mastery.adapters import policies, positions
from services.mastery.adapters.read_model import (
    EVIDENCE,
    PROFICIENCIES,
    evidence_row,
    proficiency_row,
)
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import StreamEvent, evidence_of_stream
from services.mastery.core.projection import resolved_policy
from services.mastery.core.student_standard import StudentStandardKey, state_of_records
from shared.contract.events.gradebook import decode_gradebook_event
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.platform.postgres import DbConnection

_FETCH = 5_000
_YIELD_EVERY = 100  # streams folded between two turns of the event loop
_YOUNG_COLLECTION_EVERY = 50_000  # allocations, against CPython's default 700


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    proficiencies: int
    seconds: float


async def rebuild_read_model(
    connection: DbConnection,
    reader: DbConnection,
    *,
    default_policy: CalculationPolicy,
    now: datetime,
) -> RebuildReport:
    """Refill the read model on `connection`, reading the event store on `reader`.

    Three things overlap: PostgreSQL reading the next chunk of events (on `reader`), this process
    folding the current one, and PostgreSQL storing the previous one (on `connection`). The
    reader's snapshot is taken after the read model is locked, so every event projected before
    the lock is in it, and the projector applies anything later once the rebuild commits.
    """
    started = time.perf_counter()
    with _young_collections_less_often():
        events, proficiencies = await _rebuild(connection, reader, default_policy, now)
    return RebuildReport(
        events=events, proficiencies=proficiencies, seconds=time.perf_counter() - started
    )


@contextmanager
def _young_collections_less_often() -> Iterator[None]:
    """A rebuild allocates millions of short-lived, acyclic rows and records: collecting the
    youngest generation every 700 allocations spent about a tenth of its time re-walking the
    chunk in hand. Cycles are still collected, every `_YOUNG_COLLECTION_EVERY` allocations."""
    thresholds = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


async def _rebuild(
    connection: DbConnection,
    reader: DbConnection,
    default_policy: CalculationPolicy,
    now: datetime,
) -> tuple[int, int]:
    """The rebuild itself; returns how many events it folded and how many proficiencies it made."""
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
        try:
            async with reader.transaction(isolation="repeatable_read", readonly=True):
                cursor = await reader.cursor(
                    "SELECT stream_id, stream_version, event_id::text, data::text "
                    "FROM attempt_log WHERE student_stream ORDER BY stream_id, stream_version"
                )
                async for streams in _one_ahead(_streams(cursor)):
                    await writer.add_streams(streams)
                    await writer.flush()
            await writer.finish()
        finally:
            # After a failure, the chunk being stored must end before the rollback.
            await writer.settle()
    return writer.events, writer.proficiencies


async def _rebuild_policies(connection: DbConnection) -> dict[tuple[str, str], CalculationPolicy]:
    rows = await connection.fetch(
        "SELECT tenant_id, stream_id, stream_version, data::text FROM attempt_log "
        "WHERE NOT student_stream ORDER BY position"
    )
    standards: dict[tuple[str, str], StandardDefined] = {}
    tenants: dict[str, TenantPolicySet] = {}
    versions = {(row["tenant_id"], row["stream_id"]): row["stream_version"] for row in rows}
    await positions.mark_policies_applied(
        connection, [(tenant, stream, version) for (tenant, stream), version in versions.items()]
    )
    for row in rows:
        event = decode_gradebook_event(row["data"])
        if isinstance(event, StandardDefined):
            standards[(event.tenant_id, event.standard_id)] = event
        elif isinstance(event, TenantPolicySet):
            tenants[event.tenant_id] = event
    for tenant_policy in tenants.values():
        await policies.save_tenant_default(connection, tenant_policy)
    known = {}
    for ref, standard in standards.items():
        known[ref] = resolved_policy(standard, tenants.get(standard.tenant_id))
        await policies.save_standard(connection, standard, known[ref])
    return known


Stream = list[StreamEvent]
T = TypeVar("T")


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
            event = decode_gradebook_event(row[3])
            assert not isinstance(event, StandardDefined | TenantPolicySet)
            stream.append((row[1], row[2], event))
        yield streams
    if stream:
        yield [stream]


async def _one_ahead(chunks: AsyncIterator[T]) -> AsyncIterator[T]:
    """The same chunks, each next one already being fetched while the caller works on this one."""
    following = asyncio.ensure_future(anext(chunks, None))
    try:
        while (chunk := await following) is not None:
            following = asyncio.ensure_future(anext(chunks, None))
            yield chunk
    finally:
        # After a failure the fetch under way ends before its transaction rolls back.
        await asyncio.gather(following, return_exceptions=True)


class _Writer:
    """Folds each stream into its state and COPYs evidence and proficiency rows a chunk at a time,
    one chunk stored while the next is folded."""

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
        self._storing: asyncio.Task[None] | None = None
        self.events = 0
        self.proficiencies = 0

    async def add_streams(self, streams: list[Stream]) -> None:
        """Fold a chunk's streams, letting the chunk being stored go on every `_YIELD_EVERY`.

        asyncpg encodes COPY rows in this thread and waits for the socket to drain: without these
        turns of the event loop PostgreSQL would sit idle while a whole chunk is folded.
        """
        for index, stream in enumerate(streams, 1):
            self.add_stream(stream)
            if index % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def add_stream(self, stream: Stream) -> None:
        self.events += len(stream)
        first = stream[0][2]
        key = StudentStandardKey(
            tenant_id=first.tenant_id, student_id=first.student_id, standard_id=first.standard_id
        )
        records = evidence_of_stream(stream)
        if not records:
            return
        policy = self._known.get((key.tenant_id, key.standard_id), self._default)
        state = state_of_records(key, records.values(), policy=policy)
        # It reflects the whole stream, corrective work after the last evidence included.
        last = max(state.last_version or 0, stream[-1][0])
        state = msgspec.structs.replace(state, last_version=last)
        for record in records.values():
            self._evidence.append(EVIDENCE.record(evidence_row(key, record)))
        self._proficiencies.append(PROFICIENCIES.record(proficiency_row(state, self._now)))
        self.proficiencies += 1

    async def flush(self) -> None:
        """Start storing the rows gathered so far, once the previous chunk is stored."""
        await self.finish()
        evidence, proficiencies = self._evidence, self._proficiencies
        self._evidence, self._proficiencies = [], []
        self._storing = asyncio.create_task(self._store(evidence, proficiencies))

    async def finish(self) -> None:
        if self._storing is not None:
            storing, self._storing = self._storing, None
            await storing

    async def settle(self) -> None:
        """Wait for the chunk being stored, whatever its outcome (the caller is failing)."""
        if self._storing is not None:
            await asyncio.gather(self._storing, return_exceptions=True)
            self._storing = None

    async def _store(
        self, evidence: list[tuple[object, ...]], proficiencies: list[tuple[object, ...]]
    ) -> None:
        await self._connection.copy_records_to_table(
            "mastery_evidence", records=evidence, columns=EVIDENCE.names
        )
        await self._connection.copy_records_to_table(
            "proficiencies", records=proficiencies, columns=PROFICIENCIES.names
        )
