"""`mastery rebuild` (the command, as the owner role) while the three services run, a writer posts
attempts and a reader polls a student's mastery: every read answers 200 with the student's
standards, nothing written is lost, and afterwards `mastery verify` finds the read model equal to
a fresh replay of the log."""

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.polling import eventually
from tests.support.roles import service_url, urls_for
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

ROOT = Path(__file__).resolve().parents[2]
STUDENTS = 200
SEEDED_BATCHES = 8  # of 1,000 attempts: 8,000 events for the rebuild to fold


def _attempt(attempt_id: str, student: int, day: int) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "student_id": f"s{student}",
        "standard_id": "ela.argument",
        "score": 1 + (day + student) % 4,
        "points_possible": 4,
        "assessed_at": f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T10:00:00Z",
    }


@dataclass
class Load:
    accepted: int = 0
    reads: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, status, found)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def _post_batch(system: System, auth: dict[str, str], attempts: list[Any]) -> int:
    response = await system.attempts.post(
        "/v1/attempts/batch", json={"attempts": attempts}, headers=auth
    )
    if response.status_code == 429:  # the key's rate limit: the writer tries the next batch
        return 0
    assert response.status_code in (200, 201), response.text
    created: int = response.json()["created"]
    return created


async def _write(system: System, auth: dict[str, str], load: Load) -> None:
    n = 0
    while not load.stop.is_set():
        batch = [_attempt(f"w{n}-{i}", (n * 10 + i) % STUDENTS, 300 + n) for i in range(10)]
        load.accepted += await _post_batch(system, auth, batch)
        n += 1
        # The test client answers without suspending this task: let the reader and the
        # command's pipes have their turn.
        await asyncio.sleep(0)


async def _read(system: System, auth: dict[str, str], load: Load) -> None:
    while not load.stop.is_set():
        started = time.monotonic()
        response = await system.mastery.get("/v1/students/s7/mastery", headers=auth)
        found = len(response.json().get("standards", [])) if response.status_code == 200 else 0
        load.reads.append((time.monotonic() - started, response.status_code, found))
        await asyncio.sleep(0)


async def _command(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _evidence(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM mastery_evidence")
    return count


async def test_a_rebuild_under_reads_and_writes_blocks_no_read_and_loses_nothing(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        put = await system.attempts.put(
            "/v1/standards/ela.argument",
            json={"title": "Argument writing", "method": "decaying_average"},
            headers=auth,
        )
        assert put.status_code == 201, put.text
        seeded = 0
        for b in range(SEEDED_BATCHES):
            batch = [
                _attempt(f"seed{b}-{i}", i % STUDENTS, b * 5 + i // STUDENTS) for i in range(1000)
            ]
            seeded += await _post_batch(system, auth, batch)
        assert seeded == SEEDED_BATCHES * 1000
        await eventually(lambda: _evidence(pool), lambda n: n == seeded, within=60)

        load = Load()
        tasks = [asyncio.create_task(_write(system, auth, load)),
                 asyncio.create_task(_read(system, auth, load))]  # fmt: skip
        await eventually(lambda: _accepted(load), lambda n: n > 0)
        reads_before, accepted_before = len(load.reads), load.accepted
        status, rebuilt, err = await _command(
            "rebuild", "--database-url", urls_for(database_url).owner
        )
        reads_during = load.reads[reads_before:]
        accepted_during = load.accepted - accepted_before
        load.stop.set()
        await asyncio.gather(*tasks)

        assert status == 0, err
        assert "rebuilt 200 proficiencies from" in rebuilt
        assert "rebuild: " in err  # the progress on stderr
        assert "events/s" in err
        assert reads_during  # reads and writes went on while the command ran
        assert accepted_during > 0
        assert all(code == 200 and found == 1 for _, code, found in load.reads), [
            read for read in load.reads if read[1:] != (200, 1)
        ][:5]
        # the projector catches up with everything the writer had accepted...
        await eventually(lambda: _evidence(pool), lambda n: n == seeded + load.accepted, within=60)
        # ...and the read model is then what a replay of the log makes of it
        status, out, err = await _command(
            "verify", "--database-url", service_url(database_url, "mastery")
        )
        assert (status, out.splitlines()[-1]) == (
            0,
            f"0 student-standards differ from a replay of {seeded + load.accepted} events",
        ), out + err
        slowest = max(seconds for seconds, _, _ in reads_during)
        print(f"reads during the rebuild: {len(reads_during)}, slowest {slowest * 1000:.0f} ms")
        print(f"writes accepted during it: {accepted_during}; {rebuilt.strip()}")


async def _accepted(load: Load) -> int:
    return load.accepted
