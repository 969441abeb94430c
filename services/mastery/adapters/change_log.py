"""The mastery change log: every `mastery_changed` message as published, kept for good.

The outbox's rows are deleted once JetStream acknowledges them, and JetStream can lose
acknowledged messages in a crash; this log keeps each one, written in the same transaction as its
outbox row, so `mastery republish` can send any range again with its original id.
"""

from collections.abc import Sequence

from shared.platform.bus import BusNames
from shared.platform.outbox import OUTBOX_COLUMNS, OutboxRow, outbox_insert
from shared.platform.postgres import DbConnection

_RECORD_CHANGES = outbox_insert("mastery_changes")
_LOGGED_CHANGES = (
    f"SELECT position, {OUTBOX_COLUMNS.listed} FROM mastery_changes "  # noqa: S608 - from OutboxRow
    "WHERE position >= $1 AND ($2::bigint IS NULL OR position <= $2) ORDER BY position LIMIT $3"
)


async def record_changes(connection: DbConnection, rows: Sequence[OutboxRow]) -> None:
    """Keep the outbox rows of a batch's changes; call in the transaction that enqueues them."""
    await connection.execute(_RECORD_CHANGES, *OUTBOX_COLUMNS.array_values(rows))


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
