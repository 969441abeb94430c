"""`mastery rebuild` and `mastery verify`: the read model against the log, with progress on
stderr and the outcome on stdout."""

import sys
from datetime import UTC, datetime
from typing import TextIO

import asyncpg

from services.mastery.adapters.rebuild import rebuild_read_model
from services.mastery.adapters.verify import Difference, Standing, verify_read_model
from services.mastery.app import DEFAULT_POLICY
from services.progress import ProgressLine
from shared.platform.tenant_scope import ALL_TENANTS, TENANT_SETTING


async def connect_all_tenants(url: str) -> "asyncpg.Connection[asyncpg.Record]":
    """A connection that sees every tenant's rows, whichever role the URL names (the owner sees
    them anyway): the rebuild, verify and republish read every tenant's log."""
    return await asyncpg.connect(url, server_settings={TENANT_SETTING: ALL_TENANTS})


async def rebuild(url: str, err: TextIO = sys.stderr) -> None:
    connection, reader = await connect_all_tenants(url), await connect_all_tenants(url)
    progress = ProgressLine("rebuild", err)
    try:
        report = await rebuild_read_model(
            connection,
            reader,
            default_policy=DEFAULT_POLICY,
            now=datetime.now(UTC),
            progress=progress,
        )
    finally:
        progress.close()
        await reader.close()
        await connection.close()
    rate = report.events / report.seconds if report.seconds else 0.0
    print(
        f"rebuilt {report.proficiencies} proficiencies from {report.events} events "
        f"in {report.seconds:.1f} s ({rate:,.0f} events/s); swapped in after catching up "
        f"{report.caught_up} student-standards the projector changed meanwhile "
        f"(projector paused {report.paused_seconds * 1000:.0f} ms)"
    )


async def verify(url: str, err: TextIO = sys.stderr) -> int:
    """0 when the live read model equals a replay of the log, 1 (each difference printed) if not."""
    connection, reader = await connect_all_tenants(url), await connect_all_tenants(url)
    progress = ProgressLine("verify", err)
    try:
        report = await verify_read_model(
            connection,
            reader,
            default_policy=DEFAULT_POLICY,
            now=datetime.now(UTC),
            progress=progress,
        )
    finally:
        progress.close()
        await reader.close()
        await connection.close()
    for difference in report.differences:
        print(describe(difference))
    print(
        f"{len(report.differences)} student-standards differ from a replay of "
        f"{report.events} events"
    )
    return 1 if report.differences else 0


def describe(difference: Difference) -> str:
    key = difference.key
    line = (
        f"tenant={key.tenant_id} student={key.student_id} standard={key.standard_id}: "
        f"live {_standing(difference.live)} | replayed {_standing(difference.replayed)}"
    )
    return line + ("; evidence rows differ" if difference.evidence_differs else "")


def _standing(standing: Standing | None) -> str:
    if standing is None:
        return "(none)"
    return (
        f"score={standing.score} level={standing.level} mastered={standing.mastered} "
        f"evidence={standing.evidence_count} version={standing.last_version}"
    )
