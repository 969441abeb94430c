"""Replay the attempt log into a pair of read-model tables: what `mastery rebuild` builds its
shadow tables with, and what `mastery verify` compares the live read model to.

It reads the attempts service's read contract, the `attempt_log` view, never its tables, and
folds each stream with the same pure evidence rules and calculation as the live projection.
"""

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import asyncpg
import msgspec

from services.mastery.adapters.read_model import (
    EVIDENCE,
    PROFICIENCIES,
    evidence_row,
    proficiency_row,
)
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import EvidenceRecord, StreamEvent, evidence_of_stream
from services.mastery.core.projection import resolved_policy
from services.mastery.core.student_standard import (
    StudentStandard,
    StudentStandardKey,
    state_of_records,
)
from shared.contract.events.gradebook import decode_gradebook_event
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.platform.postgres import DbConnection

_FETCH = 5_000
_YIELD_EVERY = 100  # streams folded between two turns of the event loop
_YOUNG_COLLECTION_EVERY = 50_000  # allocations, against CPython's default 700

Progress = Callable[[int, int], None]  # (events folded so far, events in the log)
Stream = list[StreamEvent]
StandardKey = tuple[str, str]  # (tenant, standard)
T = TypeVar("T")

STUDENT_STREAMS = (
    "SELECT stream_id, stream_version, event_id::text, data::text "
    "FROM attempt_log WHERE student_stream ORDER BY stream_id, stream_version"
)


def no_progress(_done: int, _total: int) -> None:
    """The default: nobody is watching."""


class Tables(msgspec.Struct, frozen=True):
    """Where a replay writes: the live tables' shadows, or a verification's temporary tables."""

    evidence: str
    proficiencies: str


class LogPolicies(msgspec.Struct, frozen=True):
    """The newest standard definitions and tenant policies in the log, and what they resolve to."""

    standards: dict[StandardKey, StandardDefined]
    tenants: dict[str, TenantPolicySet]
    resolved: dict[StandardKey, CalculationPolicy]
    # (tenant, stream id) -> the newest version of each standard and tenant-policy stream
    versions: dict[tuple[str, str], int]


async def log_policies(connection: DbConnection) -> LogPolicies:
    rows = await connection.fetch(
        "SELECT tenant_id, stream_id, stream_version, data::text FROM attempt_log "
        "WHERE NOT student_stream ORDER BY position"
    )
    standards: dict[StandardKey, StandardDefined] = {}
    tenants: dict[str, TenantPolicySet] = {}
    versions = {(row["tenant_id"], row["stream_id"]): row["stream_version"] for row in rows}
    for row in rows:
        event = decode_gradebook_event(row["data"])
        if isinstance(event, StandardDefined):
            standards[(event.tenant_id, event.standard_id)] = event
        elif isinstance(event, TenantPolicySet):
            tenants[event.tenant_id] = event
    resolved = {
        ref: resolved_policy(standard, tenants.get(standard.tenant_id))
        for ref, standard in standards.items()
    }
    return LogPolicies(standards, tenants, resolved, versions)


def fold_stream(
    stream: Stream, policies: dict[StandardKey, CalculationPolicy], default: CalculationPolicy
) -> tuple[dict[str, EvidenceRecord], StudentStandard] | None:
    """A whole stream's evidence and the state it gives; None when it leaves no evidence.

    The state reflects the stream's last version, as the live projector's does, even when that
    event (corrective work) left no evidence."""
    if not stream:
        return None
    first = stream[0][2]
    key = StudentStandardKey(
        tenant_id=first.tenant_id, student_id=first.student_id, standard_id=first.standard_id
    )
    records = evidence_of_stream(stream)
    if not records:
        return None
    policy = policies.get((key.tenant_id, key.standard_id), default)
    state = state_of_records(key, records.values(), policy=policy)
    if state.last_version != stream[-1][0]:
        state = msgspec.structs.replace(state, last_version=stream[-1][0])
    return records, state


async def count_events(reader: DbConnection) -> int:
    """How many events a replay will fold (in the reader's snapshot), for its progress."""
    total: int = await reader.fetchval("SELECT count(*) FROM attempt_log WHERE student_stream")
    return total


async def replay_log(
    connection: DbConnection,
    reader: DbConnection,
    writer: "Writer",
    progress: Progress,
) -> None:
    """Fold every student stream `reader` sees (it is inside its snapshot's transaction) into
    `writer`'s tables on `connection`.

    Three things overlap: PostgreSQL reading the next chunk of events (on `reader`), this process
    folding the current one, and PostgreSQL storing the previous one (on `connection`)."""
    total = await count_events(reader)
    progress(0, total)
    with _young_collections_less_often():
        try:
            cursor = await reader.cursor(STUDENT_STREAMS)
            async for streams in _one_ahead(_streams(cursor)):
                await writer.add_streams(streams)
                await writer.flush()
                progress(writer.events, total)
            await writer.finish()
        finally:
            # After a failure, the chunk being stored must end before the rollback.
            await writer.settle()


@contextmanager
def _young_collections_less_often() -> Iterator[None]:
    """A replay allocates millions of short-lived, acyclic rows and records: collecting the
    youngest generation every 700 allocations spent about a tenth of its time re-walking the
    chunk in hand. Cycles are still collected, every `_YOUNG_COLLECTION_EVERY` allocations."""
    thresholds = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


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


class Writer:
    """Folds each stream into its state and COPYs evidence and proficiency rows a chunk at a time,
    one chunk stored while the next is folded."""

    def __init__(
        self,
        connection: DbConnection,
        tables: Tables,
        policies: dict[StandardKey, CalculationPolicy],
        default_policy: CalculationPolicy,
        now: datetime,
    ) -> None:
        self._connection, self._tables = connection, tables
        self._policies, self._default, self._now = policies, default_policy, now
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
        folded = fold_stream(stream, self._policies, self._default)
        if folded is None:
            return
        records, state = folded
        for record in records.values():
            self._evidence.append(EVIDENCE.record(evidence_row(state.key, record)))
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
            self._tables.evidence, records=evidence, columns=EVIDENCE.names
        )
        await self._connection.copy_records_to_table(
            self._tables.proficiencies, records=proficiencies, columns=PROFICIENCIES.names
        )
