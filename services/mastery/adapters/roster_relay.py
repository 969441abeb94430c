"""The roster log as its relay reads it: each row becomes a CloudEvents message on
`rosters.<tenant>.changed` (stream ROSTERS), so notify learns students' names and guardians.

ROSTERS is a stream of its own rather than subjects on MASTERY: its events carry people's names
and addresses, and the read-only `sis` user may read all of MASTERY. `streamversion` is the row's
number in its tenant's roster log (1, 2, ...), by which a consumer keeps the newest of an entity.
"""

from collections.abc import Sequence

import asyncpg

from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.roster import RosterChange, decode_roster_change
from shared.platform.bus import BusNames
from shared.platform.outbox import OutboxRow, RelayedLog
from shared.platform.postgres import DbConnection

EVENT_SOURCE = "/services/mastery/rosters"
_envelopes = EnvelopeCodec[RosterChange](RosterChange)


def roster_msg_id(tenant_id: str, number: int) -> str:
    """The message id of a roster log row: its place in the log, so a row published twice is
    the same message."""
    return f"roster:{tenant_id}:{number}"


def roster_messages(rows: Sequence[asyncpg.Record], bus: BusNames) -> list[OutboxRow]:
    return [_message(row, bus) for row in rows]


def _message(row: asyncpg.Record, bus: BusNames) -> OutboxRow:
    tenant_id, number = row["tenant_id"], row["position"]
    change = decode_roster_change(row["data"])
    envelope = CloudEvent[RosterChange](
        id=roster_msg_id(tenant_id, number),
        source=EVENT_SOURCE,
        type=cloudevent_type(change),
        subject=f"{tenant_id}/roster",
        time=row["recorded_at"],
        tenantid=tenant_id,
        streamversion=number,
        data=change,
    )
    return OutboxRow(
        tenant_id=tenant_id,
        subject=bus.rosters(tenant_id),
        msg_id=envelope.id,
        payload=_envelopes.encode(envelope),
    )


def roster_log(bus: BusNames) -> RelayedLog:
    return RelayedLog(
        table="roster_log",
        position="number",
        columns="tenant_id, data::text AS data, recorded_at",
        messages=lambda rows: roster_messages(rows, bus),
    )


_LOGGED_ROSTER_ROWS = (
    "SELECT tenant_id, number AS position, data::text AS data, recorded_at FROM roster_log "
    "WHERE number >= $1 AND ($2::bigint IS NULL OR number <= $2) "
    "ORDER BY number, tenant_id LIMIT $3"
)
_ROWS_NUMBERED = (
    "SELECT tenant_id, number AS position, data::text AS data, recorded_at FROM roster_log "
    "WHERE number = $1 ORDER BY tenant_id"
)


async def logged_roster_changes(
    connection: DbConnection, first: int, last: int | None, limit: int, bus: BusNames
) -> list[tuple[int, OutboxRow]]:
    """The roster log's rows numbered `first` to `last` (to the end if None), built again as the
    relay built them, each with its number. Numbers are each tenant's own (1, 2, ...), so the
    rows come by number and then tenant, and a batch ends with every tenant's row of its last
    number: the next batch starts at the number after it and skips nothing (a batch may exceed
    `limit` by the tenants sharing one number)."""
    rows = list(await connection.fetch(_LOGGED_ROSTER_ROWS, first, last, limit))
    if len(rows) == limit:
        boundary = rows[-1]["position"]
        rows = [row for row in rows if row["position"] != boundary]
        rows += await connection.fetch(_ROWS_NUMBERED, boundary)
    return [
        (row["position"], message)
        for row, message in zip(rows, roster_messages(rows, bus), strict=True)
    ]
