"""The PostgreSQL event store: streams read and appended with an expected version. The log is
its own outbox: the relay reads `attempt_events` (`RELAYED_LOG`), so an append writes one row per
event and nothing else.

Appends carry the version the writer read: rows take versions expected + 1, expected + 2, ..., and
the unique (stream_id, stream_version) index lets only one writer of a version commit. The loser
gets `ConcurrencyConflict`; `in_retried_transaction` re-reads and decides again, a bounded number of
times with jitter, then gives up with `StreamContended` (answered as 409). The event rows are each
transaction's first write, so transaction ids rise with stream versions and the relay's horizon
order keeps every stream in order on the bus.

Each row keeps the trace context its append ran in (`traceparent`: the request's, see
`shared.platform.tracing`), and the relay sends it on the event's envelope: the projector's and
the notifier's spans then join the trace of the request that caused them.
"""

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

import asyncpg
import msgspec

from shared.contract.cloudevents import TYPE_PREFIX
from shared.contract.events.attempts import ATTEMPTS_SUBJECT_KIND, LatestAttemptEvent
from shared.contract.events.gradebook import (
    SUBJECT_KIND,
    AnyGradebookEvent,
    LatestGradebookEvent,
    decode_gradebook_event,
)
from shared.contract.events.standards import AnyStandardEvent
from shared.platform.bus import BusNames
from shared.platform.outbox import OutboxRow, RelayedLog
from shared.platform.postgres import DbConnection
from shared.platform.rows import Columns, sql
from shared.platform.tenant_scope import tenant_connection
from shared.platform.tracing import current_traceparent

EVENT_SOURCE = "/services/attempts"
# Each lost race means another writer won, so n concurrent writers need at most n rounds.
MAX_APPEND_RETRIES = 16

_encoder = msgspec.json.Encoder()
T = TypeVar("T")


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream after it was read."""


class StreamContended(Exception):
    """Concurrent writers kept winning the next version of this stream."""


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: str
    version: int
    event_id: str
    event: AnyGradebookEvent
    # The W3C trace context the event was appended in (None: none), as its row keeps it.
    traceparent: str | None = None


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    event_id: str
    event: LatestGradebookEvent  # upcast
    position: int = 0  # in the whole log (0: not read)


def new_event_id() -> str:
    return str(uuid.uuid4())


async def read_stream(connection: DbConnection, stream_id: str) -> list[StoredEvent]:
    """The stream's events in order, upcast to their latest versions."""
    rows = await connection.fetch(
        "SELECT stream_version, event_id::text, data::text, global_position FROM attempt_events "
        "WHERE stream_id = $1 ORDER BY stream_version",
        stream_id,
    )
    return [_stored(row) for row in rows]


def _stored(row: asyncpg.Record) -> StoredEvent:
    stored = stored_event(row["stream_version"], row["event_id"], row["data"])
    return msgspec.structs.replace(stored, position=row["global_position"])


def stored_event(version: int, event_id: str, data: str) -> StoredEvent:
    """An event as read from its row (the `data` column as text), upcast to its latest version."""
    return StoredEvent(version=version, event_id=event_id, event=decode_gradebook_event(data))


def attempt_events(stored: Sequence[StoredEvent]) -> list[LatestAttemptEvent]:
    """The events of a student-standard stream (which holds attempt events only)."""
    return [item.event for item in stored if not isinstance(item.event, AnyStandardEvent)]


class EventRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `attempt_events` as appended."""

    tenant_id: str
    stream_id: str
    stream_version: int
    # Ids travel as text: asyncpg encodes a str as uuid in C, where uuid.UUID() parses in Python.
    event_id: Annotated[str, sql("uuid")]
    event_type: str
    data: Annotated[str, sql("jsonb")]
    recorded_at: datetime
    traceparent: str | None = None


EVENT_COLUMNS = Columns(EventRow)
# The event rows, written by one statement (one round trip): each event's id and log position.
APPEND = (
    f"INSERT INTO attempt_events ({EVENT_COLUMNS.listed}) "  # noqa: S608 - names from EventRow
    f"SELECT * FROM unnest({EVENT_COLUMNS.arrays(1)}) "
    "RETURNING event_id::text AS event_id, global_position AS position"
)


def _event_row(item: NewEvent, traceparent: str | None) -> EventRow:
    return EventRow(
        tenant_id=item.event.tenant_id,
        stream_id=item.stream_id,
        stream_version=item.version,
        event_id=item.event_id,
        event_type=_event_type(item.event),
        data=_encoder.encode(item.event).decode(),
        recorded_at=_occurred_at(item.event),
        traceparent=traceparent,
    )


class _StoredHead(msgspec.Struct, frozen=True, kw_only=True):
    """What the envelope takes from a stored event besides the event itself: its tag (as
    recorded, not upcast: the relay publishes each event in the version it was recorded in), its
    tenant, and its time as the event wrote it (the field `_occurred_at` reads)."""

    type: str
    tenant_id: str
    student_id: str | None = None  # attempt events only
    recorded_at: str | None = None
    voided_at: str | None = None
    rescored_at: str | None = None
    defined_at: str | None = None
    set_at: str | None = None

    @property
    def time(self) -> str:
        found = (
            self.recorded_at or self.voided_at or self.rescored_at or self.defined_at or self.set_at
        )
        assert found is not None, f"{self.type} has no time"
        return found


class _SplicedEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """`CloudEvent` with the stored event's JSON as its `data`, and its time as the event wrote
    it: the same envelope, without decoding the event and encoding it again."""

    id: str
    source: str
    type: str
    subject: str
    time: str
    tenantid: str
    data: msgspec.Raw
    streamversion: int
    specversion: str = "1.0"
    datacontenttype: str = "application/json"
    traceparent: str | msgspec.UnsetType = msgspec.UNSET  # as `CloudEvent`: left out when none


def _tag(kind: type) -> str:
    tag = kind.__struct_config__.tag  # type: ignore[attr-defined]
    assert isinstance(tag, str), f"{kind.__name__} has no string tag"
    return tag


_heads = msgspec.json.Decoder(_StoredHead)
_SUBJECT_KINDS = {_tag(kind): name for kind, name in SUBJECT_KIND.items()}
_STUDENT_EVENTS = frozenset(_tag(kind) for kind in ATTEMPTS_SUBJECT_KIND)


def _subject(head: _StoredHead, bus: BusNames) -> str:
    """A student's events on the student's partition (one projector applies them in order);
    standards and policies, which concern the whole tenant, on the tenant's subject."""
    kind = _SUBJECT_KINDS[head.type]
    if head.type in _STUDENT_EVENTS:
        assert head.student_id is not None, f"{head.type} names no student"
        return bus.student_attempts(head.tenant_id, head.student_id, kind)
    return bus.attempts(head.tenant_id, kind)


def _messages(rows: Sequence[asyncpg.Record], bus: BusNames) -> list[OutboxRow]:
    """Each stored event in its envelope, the stored JSON spliced in as the envelope's data."""
    return [_stored_message(row, bus) for row in rows]


def _stored_message(row: asyncpg.Record, bus: BusNames) -> OutboxRow:
    data = row["data"].encode()
    head = _heads.decode(data)
    envelope = _SplicedEnvelope(
        id=row["event_id"],
        source=EVENT_SOURCE,
        type=TYPE_PREFIX + head.type,
        subject=row["stream_id"],
        time=head.time,
        tenantid=head.tenant_id,
        data=msgspec.Raw(data),
        streamversion=row["stream_version"],
        traceparent=row.get("traceparent") or msgspec.UNSET,
    )
    return OutboxRow(
        tenant_id=head.tenant_id,
        subject=_subject(head, bus),
        msg_id=row["event_id"],
        payload=_encoder.encode(envelope),
    )


def relayed_log(bus: BusNames) -> RelayedLog:
    """The log as its relay reads it: each event becomes its CloudEvents message on `bus`."""
    return RelayedLog(
        table="attempt_events",
        position="global_position",
        columns="stream_id, stream_version, event_id::text AS event_id, data::text AS data, "
        "traceparent",
        messages=lambda rows: _messages(rows, bus),
    )


async def logged_outbox_rows(
    connection: DbConnection, first: int, last: int | None, limit: int, bus: BusNames
) -> list[tuple[int, OutboxRow]]:
    """The outbox rows the relay published for the log's events from position `first` to `last`
    (to the end if None), at most `limit`, each with its position, built again the same way. The
    log keeps values, not bytes (`jsonb`): an integer given for a float field comes back as 1.0."""
    rows = await connection.fetch(
        "SELECT position, stream_id, stream_version, event_id::text, data::text, traceparent "
        "FROM attempt_log "
        "WHERE position >= $1 AND ($2::bigint IS NULL OR position <= $2) "
        "ORDER BY position LIMIT $3",
        first,
        last,
        limit,
    )
    return list(zip([row["position"] for row in rows], _messages(rows, bus), strict=True))


def append_arguments(events: Sequence[NewEvent]) -> list[list[Any]]:
    """The parameters of `APPEND` for these events, each with the trace context of the caller
    (a request's span) unless it names its own."""
    ambient = current_traceparent()
    return EVENT_COLUMNS.array_values(
        [_event_row(item, item.traceparent or ambient) for item in events]
    )


async def append(connection: DbConnection, events: Sequence[NewEvent]) -> dict[str, int]:
    """Append events (of one or many streams) in one statement; the log position each event id
    took."""
    if not events:
        return {}
    return await execute_append(connection, APPEND, append_arguments(events))


async def execute_append(
    connection: DbConnection, sql: str, arguments: Sequence[object]
) -> dict[str, int]:
    """Run a statement that appends events and answers APPENDED_POSITIONS; a taken stream
    version (or id) is a lost race."""
    try:
        rows = await connection.fetch(sql, *arguments)
    except asyncpg.UniqueViolationError as error:
        raise ConcurrencyConflict(str(error)) from error
    return {row["event_id"]: row["position"] for row in rows}


async def position_of(connection: DbConnection, stream_id: str, version: int) -> int:
    """The log position of a stream's event at `version` (0 if there is none)."""
    found = await connection.fetchval(
        "SELECT global_position FROM attempt_events WHERE stream_id = $1 AND stream_version = $2",
        stream_id,
        version,
    )
    return int(found or 0)


def _event_type(event: AnyGradebookEvent) -> str:
    return _tag(type(event))


def _occurred_at(event: AnyGradebookEvent) -> datetime:
    for name in ("recorded_at", "voided_at", "rescored_at", "defined_at", "set_at"):
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            return value
    raise AssertionError(f"{type(event).__name__} has no time")


async def in_retried_transaction(
    pool: asyncpg.Pool, tenant_id: str, work: Callable[[DbConnection], Awaitable[T]], stream: str
) -> T:
    """Run `work` in a transaction on a connection that sees `tenant_id` alone; on a lost append
    race, read again and decide again."""
    return await _retried(pool, tenant_id, work, stream, transaction=True)


async def in_retried_statements(
    pool: asyncpg.Pool, tenant_id: str, work: Callable[[DbConnection], Awaitable[T]], stream: str
) -> T:
    """Run `work` without a transaction around it; on a lost append race, run it again.

    For work that reads, decides, then writes everything in one statement: that statement is
    atomic and the expected versions guard what was read, so BEGIN and COMMIT would add two
    round trips and no safety (each statement already reads its own snapshot in READ COMMITTED).
    """
    return await _retried(pool, tenant_id, work, stream, transaction=False)


async def _retried(
    pool: asyncpg.Pool,
    tenant_id: str,
    work: Callable[[DbConnection], Awaitable[T]],
    stream: str,
    *,
    transaction: bool,
) -> T:
    for attempt in range(MAX_APPEND_RETRIES):
        try:
            async with tenant_connection(pool, tenant_id) as connection:
                if not transaction:
                    return await work(connection)
                async with connection.transaction():
                    return await work(connection)
        except ConcurrencyConflict:
            # Jitter keeps the losers of one race from colliding again in lockstep.
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311
    raise StreamContended(stream)
