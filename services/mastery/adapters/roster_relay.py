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
