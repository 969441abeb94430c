"""The attempts log as the read API replays it: a student's streams with their policies. PostgreSQL.

Reads the attempts service's read contract (the `attempt_log` view, as `mastery rebuild` does),
never its tables; what the rows mean is the pure core's (`core/timeline.py`): the evidence known
at a time under the policy then in force.

A student's streams are found by their id's prefix (`tenant/student/`), a standard's and the
tenant's policy streams by `tenant//`: each as a range in byte order (`COLLATE "C"`), which the
index of attempts migration 014 serves, where a LIKE pattern would need escaping and a scan.
"""

from datetime import datetime

import asyncpg

from services.mastery.core.calculation import Evidence
from services.mastery.core.evidence import evidence_of_attempt
from services.mastery.core.timeline import LoggedEvent
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import decode_gradebook_event
from shared.contract.events.standards import policy_stream_id, standard_stream_id
from shared.contract.ids import stream_id
from shared.platform.postgres import DbConnection

_COLUMNS = "position, stream_version, event_id::text, recorded_at, data::text"
# `/` is followed by `0` in byte order: [prefix, prefix without its `/` + `0`) holds exactly the
# ids that start with the prefix.
_AFTER_SLASH = chr(ord("/") + 1)


def _prefix_range(prefix: str) -> tuple[str, str]:
    assert prefix.endswith("/")
    return prefix, prefix[:-1] + _AFTER_SLASH


async def student_log(
    connection: DbConnection, tenant_id: str, student_id: str, at: datetime | None
) -> list[LoggedEvent]:
    """Every event of a student's streams and of the tenant's policy streams recorded by `at`."""
    student, policy = _prefix_range(f"{tenant_id}/{student_id}/"), _prefix_range(f"{tenant_id}//")
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM attempt_log "  # noqa: S608 - constant columns
        'WHERE ((stream_id COLLATE "C" >= $1 AND stream_id COLLATE "C" < $2) '
        'OR (stream_id COLLATE "C" >= $3 AND stream_id COLLATE "C" < $4)) '
        "AND ($5::timestamptz IS NULL OR recorded_at <= $5) ORDER BY position",
        *student,
        *policy,
        at,
    )
    return [_logged(row) for row in rows]


async def stream_log(
    connection: DbConnection,
    tenant_id: str,
    student_id: str,
    standard_id: str,
    at: datetime | None,
) -> list[LoggedEvent]:
    """One student-standard stream with its standard's and its tenant's policy streams."""
    streams = [
        stream_id(tenant_id, student_id, standard_id),
        standard_stream_id(tenant_id, standard_id),
        policy_stream_id(tenant_id),
    ]
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM attempt_log WHERE stream_id = ANY($1) "  # noqa: S608
        "AND ($2::timestamptz IS NULL OR recorded_at <= $2) ORDER BY position",
        streams,
        at,
    )
    return [_logged(row) for row in rows]


def _logged(row: asyncpg.Record) -> LoggedEvent:
    return LoggedEvent(
        position=row["position"],
        stream_version=row["stream_version"],
        event_id=row["event_id"],
        recorded_at=row["recorded_at"],
        event=decode_gradebook_event(row["data"]),
    )


async def first_recorded(connection: DbConnection, event_ids: list[str]) -> dict[str, Evidence]:
    """The evidence of these attempts' own events as first recorded, by event id: what a rescore
    superseded (the read model keeps only the current score). One index look-up per event."""
    if not event_ids:
        return {}
    rows = await connection.fetch(
        "SELECT event_id::text, stream_version, data::text FROM attempt_log "
        "WHERE event_id = ANY($1::uuid[])",
        event_ids,
    )
    found = {}
    for row in rows:
        event = decode_gradebook_event(row["data"])
        if isinstance(event, AttemptRecorded):
            found[row["event_id"]] = evidence_of_attempt(event, row["stream_version"])
    return found
