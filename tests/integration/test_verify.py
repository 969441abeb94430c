"""`mastery verify` (the command, as the mastery role) finds every student-standard whose read model
differs from a replay of the log, names it, and exits 1; 0 when there is none."""

import asyncio
import sys
from pathlib import Path

import asyncpg

from shared.platform.bus import BusNames
from tests.integration.test_rebuild import _record_and_project
from tests.support.roles import service_url

ROOT = Path(__file__).resolve().parents[2]


async def _verify(database_url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "verify",
        "--database-url",
        service_url(database_url, "mastery"),  # reads only: the service's own role will do
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_verify_passes_a_read_model_that_equals_the_replay(
    pool: asyncpg.Pool, bus: BusNames, database_url: str
) -> None:
    await _record_and_project(pool, bus)
    status, out, err = await _verify(database_url)
    assert (status, out) == (0, "0 student-standards differ from a replay of 10 events\n"), err
    assert "verify: 10/10 events (100%)" in err  # the progress, one line at a time off a TTY


async def test_verify_names_each_corrupted_student_standard_and_exits_non_zero(
    pool: asyncpg.Pool, bus: BusNames, database_url: str
) -> None:
    await _record_and_project(pool, bus)
    await pool.execute(
        "UPDATE proficiencies SET score = 1, mastered = false "
        "WHERE student_id = 'lee' AND standard_id = 'math.ratio'"
    )
    await pool.execute("UPDATE mastery_evidence SET score = 2 WHERE attempt_id = 'a3'")
    await pool.execute("DELETE FROM proficiencies WHERE student_id = 'ana'")

    status, out, err = await _verify(database_url)

    assert status == 1, err
    lines = out.splitlines()
    assert lines == [
        "tenant=school student=ana standard=math.ratio: live (none) | replayed score=3.83 "
        "level=3.0 mastered=True evidence=2 version=6",
        "tenant=school student=lee standard=ela.theme: live score=3.0 level=3.0 mastered=True "
        "evidence=1 version=1 | replayed score=3.0 level=3.0 mastered=True evidence=1 version=1; "
        "evidence rows differ",
        "tenant=school student=lee standard=math.ratio: live score=1.0 level=3.0 mastered=False "
        "evidence=3 version=3 | replayed score=3.18 level=3.0 mastered=True evidence=3 "
        "version=3",
        "3 student-standards differ from a replay of 10 events",
    ]
