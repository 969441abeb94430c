"""Compare the live read model with a fresh replay of the log, in one snapshot.

The replay goes into temporary tables on a connection that imports the reader's snapshot, so the
live tables it is compared with and the log it replays are seen at the same instant; the
comparison is SQL over whole rows (every evidence column, the proficiency's numbers, method,
evidence count, newest assessment and stream version; not `updated_at` nor the stored tally).
Only reads: the mastery role may run it (temporary tables need no grant on the schema).
"""

import re
import time
from datetime import datetime

import asyncpg
import msgspec

from services.mastery.adapters.read_model import EVIDENCE
from services.mastery.adapters.replay import (
    Progress,
    Tables,
    Writer,
    log_policies,
    no_progress,
    replay_log,
)
from services.mastery.adapters.shadow import LIVE
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.student_standard import StudentStandardKey
from shared.platform.postgres import DbConnection

REPLAY = Tables(evidence="verify_evidence", proficiencies="verify_proficiencies")
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")
_COMPARED = (
    "score",
    "level",
    "level_label",
    "mastered",
    "method",
    "evidence_count",
    "last_assessed_at",
    "last_version",
)
_SHOWN = ("score", "level", "mastered", "evidence_count", "last_version")


def _row(alias: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{column}" for column in columns)


# Built once from constants (no input reaches them).
_EVIDENCE_DIFFERS = (
    f"SELECT DISTINCT tenant_id, student_id, standard_id FROM ("  # noqa: S608
    f"(SELECT {EVIDENCE.listed} FROM {LIVE.evidence} "
    f"EXCEPT ALL SELECT {EVIDENCE.listed} FROM {REPLAY.evidence}) UNION ALL "
    f"(SELECT {EVIDENCE.listed} FROM {REPLAY.evidence} "
    f"EXCEPT ALL SELECT {EVIDENCE.listed} FROM {LIVE.evidence})) AS d"
)
_DIFFERENCES = (
    f"WITH e AS ({_EVIDENCE_DIFFERS}) "  # noqa: S608
    "SELECT tenant_id, student_id, standard_id, "
    f"l.tenant_id IS NOT NULL AS live_found, {_row('l', _SHOWN)}, "
    f"r.tenant_id IS NOT NULL AS replayed_found, {_row('r', _SHOWN)}, "
    "e.tenant_id IS NOT NULL AS evidence_differs "
    f"FROM {LIVE.proficiencies} l FULL JOIN {REPLAY.proficiencies} r "
    "USING (tenant_id, student_id, standard_id) "
    "FULL JOIN e USING (tenant_id, student_id, standard_id) "
    f"WHERE e.tenant_id IS NOT NULL OR ({_row('l', _COMPARED)}) IS DISTINCT FROM "
    f"({_row('r', _COMPARED)}) ORDER BY 1, 2, 3"
)


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    level: float | None
    mastered: bool
    evidence_count: int
    last_version: int


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    key: StudentStandardKey
    live: Standing | None  # None: the live read model has no row
    replayed: Standing | None  # None: the log gives no proficiency
    evidence_differs: bool  # the evidence rows differ (any column, or a row missing)


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    differences: list[Difference]
    seconds: float


async def verify_read_model(
    connection: DbConnection,
    reader: DbConnection,
    *,
    default_policy: CalculationPolicy,
    now: datetime,
    progress: Progress = no_progress,
) -> VerifyReport:
    """Every student-standard whose live read model differs from a replay of the log."""
    started = time.perf_counter()
    async with reader.transaction(isolation="repeatable_read", readonly=True):
        snapshot = await reader.fetchval("SELECT pg_export_snapshot()")
        found = await log_policies(reader)
        async with connection.transaction(isolation="repeatable_read"):
            await _import_snapshot(connection, snapshot)
            for table, like in (
                (REPLAY.evidence, LIVE.evidence),
                (REPLAY.proficiencies, LIVE.proficiencies),
            ):
                await connection.execute(
                    f"CREATE TEMPORARY TABLE {table} (LIKE {like}) ON COMMIT DROP"
                )
            writer = Writer(connection, REPLAY, found.resolved, default_policy, now)
            await replay_log(connection, reader, writer, progress)
            rows = await connection.fetch(_DIFFERENCES)
    differences = [_difference(row) for row in rows]
    return VerifyReport(
        events=writer.events, differences=differences, seconds=time.perf_counter() - started
    )


async def _import_snapshot(connection: DbConnection, snapshot: str) -> None:
    """See exactly what the reader sees (SET TRANSACTION SNAPSHOT takes a literal only)."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    await connection.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")


def _difference(row: asyncpg.Record) -> Difference:
    key = StudentStandardKey(
        tenant_id=row["tenant_id"], student_id=row["student_id"], standard_id=row["standard_id"]
    )
    values = list(row.values())
    live, replayed = values[4 : 4 + len(_SHOWN)], values[5 + len(_SHOWN) : 5 + 2 * len(_SHOWN)]
    return Difference(
        key=key,
        live=Standing(**dict(zip(_SHOWN, live, strict=True))) if row["live_found"] else None,
        replayed=(
            Standing(**dict(zip(_SHOWN, replayed, strict=True))) if row["replayed_found"] else None
        ),
        evidence_differs=row["evidence_differs"],
    )
