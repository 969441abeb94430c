"""The mastery change log: every `mastery_changed` message as published, kept for good, and the
outbox its relay reads (one row per change; migration `mastery/020`).

JetStream can lose acknowledged messages in a crash; the log keeps each one, so `mastery
republish` can send any range again with its original id.

Each change keeps the W3C trace context (`traceparent`) its causing event's envelope carried,
in its row and on its envelope (the CloudEvents distributed-tracing extension; migration
`mastery/040`), so the notifier's spans join the trace of the request that caused the change.

It also numbers the changes of each student-standard (1, 2, ...), as an event store numbers a
stream's events on append: the number is the message's CloudEvents `streamversion` (migration
`mastery/013`). The projector holds each student-standard's lock while it appends, so two
batches never take one number.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated

import msgspec

from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.platform.bus import BusNames
from shared.platform.outbox import OUTBOX_COLUMNS, OutboxRow, RelayedLog, outbox_log
from shared.platform.postgres import DbConnection
from shared.platform.rows import Columns, sql

EVENT_SOURCE = "/services/mastery"

StudentStandardRef = tuple[str, str, str]  # (tenant_id, student_id, standard_id)
_envelopes = EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent)


class ChangeLogRow(msgspec.Struct, frozen=True, kw_only=True):
    """A `mastery_changes` row: the message and where the change stands in its stream."""

    tenant_id: str
    subject: str
    msg_id: str
    payload: bytes
    student_id: str
    standard_id: str
    change_number: Annotated[int, sql("bigint")]
    traceparent: str | None = None


CHANGE_LOG = Columns(ChangeLogRow)
_RECORD_CHANGES = (
    f"INSERT INTO mastery_changes ({CHANGE_LOG.listed}) "  # noqa: S608 - names from the Struct
    f"SELECT {CHANGE_LOG.listed} FROM unnest({CHANGE_LOG.arrays(1)}) "
    f"WITH ORDINALITY AS item ({CHANGE_LOG.listed}, n) ORDER BY n"
)
# What the relay publishes: each row's message as stored.
RELAYED_LOG: RelayedLog = outbox_log("mastery_changes")
_LAST_NUMBERS = (
    "SELECT k.tenant_id, k.student_id, k.standard_id, "
    "(SELECT max(c.change_number) FROM mastery_changes c WHERE c.tenant_id = k.tenant_id "
    "AND c.student_id = k.student_id AND c.standard_id = k.standard_id) AS last "
    "FROM unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, student_id, standard_id)"
)
_LOGGED_CHANGES = (
    f"SELECT position, {OUTBOX_COLUMNS.listed} FROM mastery_changes "  # noqa: S608 - from OutboxRow
    "WHERE position >= $1 AND ($2::bigint IS NULL OR position <= $2) ORDER BY position LIMIT $3"
)


async def enqueue_changes(
    connection: DbConnection,
    changes: Sequence[MasteryChanged],
    bus: BusNames,
    traces: Mapping[str, str] | None = None,
) -> None:
    """The changes' change-log rows (the relay's outbox), each numbered after its
    student-standard's last logged change (its `streamversion`), in the order the plan emitted
    them, with the trace context `traces` gives its causing event id (if any)."""
    if not changes:
        return
    numbers = await last_change_numbers(connection, map(_change_key, changes))
    logged: list[ChangeLogRow] = []
    for change in changes:
        key = _change_key(change)
        numbers[key] += 1
        traceparent = (traces or {}).get(change.caused_by_event_id)
        logged.append(
            ChangeLogRow(
                tenant_id=change.tenant_id,
                subject=bus.mastery_changed(change.tenant_id),
                msg_id=change.change_id,
                payload=_envelopes.encode(_envelope(change, numbers[key], traceparent)),
                student_id=change.student_id,
                standard_id=change.standard_id,
                change_number=numbers[key],
                traceparent=traceparent,
            )
        )
    await record_changes(connection, logged)


def _change_key(change: MasteryChanged) -> tuple[str, str, str]:
    return (change.tenant_id, change.student_id, change.standard_id)


def _envelope(
    change: MasteryChanged, number: int, traceparent: str | None
) -> CloudEvent[AnyMasteryEvent]:
    return CloudEvent(
        id=change.change_id,
        source=EVENT_SOURCE,
        type=cloudevent_type(change),
        subject=f"{change.tenant_id}/{change.student_id}/{change.standard_id}",
        time=change.changed_at,
        tenantid=change.tenant_id,
        streamversion=number,
        data=change,
        traceparent=traceparent or msgspec.UNSET,
    )


async def last_change_numbers(
    connection: DbConnection, keys: Iterable[StudentStandardRef]
) -> dict[StudentStandardRef, int]:
    """The number of each student-standard's newest logged change (0: none yet)."""
    wanted = list(dict.fromkeys(keys))
    rows = await connection.fetch(
        _LAST_NUMBERS,
        [key[0] for key in wanted],
        [key[1] for key in wanted],
        [key[2] for key in wanted],
    )
    return {
        (row["tenant_id"], row["student_id"], row["standard_id"]): row["last"] or 0 for row in rows
    }


async def record_changes(connection: DbConnection, rows: Sequence[ChangeLogRow]) -> None:
    """Log a batch's changes, in the transaction that applies the batch."""
    await connection.execute(_RECORD_CHANGES, *CHANGE_LOG.array_values(rows))


async def logged_changes(
    connection: DbConnection, first: int, last: int | None, limit: int, bus: BusNames
) -> list[tuple[int, OutboxRow]]:
    """The changes from position `first` to `last` (to the end if None), at most `limit`, each
    with its position, addressed to the mastery subject of `bus` (its namespace may be new)."""
    rows = await connection.fetch(_LOGGED_CHANGES, first, last, limit)
    return [
        (
            row["position"],
            OutboxRow(
                tenant_id=row["tenant_id"],
                subject=bus.mastery_changed(row["tenant_id"]),
                msg_id=row["msg_id"],
                payload=bytes(row["payload"]),
            ),
        )
        for row in rows
    ]
