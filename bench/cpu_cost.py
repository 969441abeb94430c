"""CPU per event of the write paths, in this process, against a real PostgreSQL.

    python -m bench.cpu_cost [--runs 5] [--rebuild-events 100000] [--json PATH]

The full scenarios (`python -m bench`) measure the whole system, which on a small machine is
bound by every process at once; this isolates what one change does to one path. For each path it
reports the median over the runs of this process's CPU time (user + system), PostgreSQL's (every
`postgres` process on this machine, from /proc: run it on an otherwise idle server) and the wall
time, per event. A change can move work into PostgreSQL without saving any, which on a machine
that runs both is no gain; the sum tells.
- recorder, batches of 500: `AttemptRecorder.record_batch`, new attempts over 3,000 students;
- recorder, single attempts: `AttemptRecorder.record`, one at a time;
- projector, batches of 200: `MasteryProjector.handle_gradebook_events` of new attempts over
  2,000 students and the 8 bench standards;
- rebuild: `rebuild_read_model` of `--rebuild-events` attempt events (streams of 5).
PostgreSQL is embedded unless DATABASE_URL is set; either way it works in a database of its own
(`in_scratch_database`).
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.attempt_cost import attempt
from bench.attempt_data import STANDARDS, event_row
from bench.scenarios.rebuild import ATTEMPTS_PER_STREAM, COPY_CHUNK, attempt_event_rows
from bench.system import BENCH_TENANT, define_standards, in_scratch_database
from bench.workers.batch_ingest import COPY_COLUMNS
from services.attempts.adapters.event_store import EVENT_COLUMNS
from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.adapters.rebuild import rebuild_read_model
from services.mastery.app import DEFAULT_POLICY
from services.mastery.core.calculation import CalculationPolicy
from services.migrations import ALL_MIGRATIONS
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from shared.platform.postgres import create_pool
from shared.platform.roles import passwords_from, prepare_database, role_urls
from shared.platform.service import run_until_complete
from shared.platform.tenancy import create_tenant

BUS = BusNames("cpucost")
Cost = tuple[float, float, float]  # (this process's CPU, PostgreSQL's CPU, wall) µs per event


def postgres_cpu_seconds() -> float:
    """User + system CPU of every `postgres` process on this machine."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # gone meanwhile
        name, after = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if name == "postgres":
            fields = after.split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(events: int, work: Callable[[], Awaitable[object]]) -> Cost:
    cpu, postgres, wall = time.process_time(), postgres_cpu_seconds(), time.perf_counter()
    await work()
    return (
        (time.process_time() - cpu) / events * 1e6,
        (postgres_cpu_seconds() - postgres) / events * 1e6,
        (time.perf_counter() - wall) / events * 1e6,
    )


class Paths:
    def __init__(self, database_url: str) -> None:
        self.url = database_url  # the admin's: setting up, filling the log, the rebuild
        self.roles = role_urls(database_url, passwords_from(os.environ))
        self.numbers = iter(range(10**9))

    async def prepare(self) -> None:
        await prepare_database(self.url, passwords_from(os.environ), ALL_MIGRATIONS)
        connection = await asyncpg.connect(self.url)
        try:
            await create_tenant(connection, BENCH_TENANT, "Bench School")
        finally:
            await connection.close()
        await define_standards(self.url, BUS, BENCH_TENANT, STANDARDS)

    def _commands(self, count: int, when: datetime) -> list[RecordAttempt]:
        commands = []
        for _ in range(count):
            n = next(self.numbers)
            commands.append(RecordAttempt(
                tenant_id=BENCH_TENANT, attempt_id=f"cpu-{n}", student_id=f"s{n % 3000}",
                standard_id=STANDARDS[n % len(STANDARDS)], score=1 + n % 4, assessed_at=when,
            ))  # fmt: skip
        return commands

    async def recorder(self, batch_size: int, batches: int) -> Cost:
        # As the service runs it: its own role, a request pool, the tenant wall.
        pool = await create_pool(self.roles.services["attempts"])
        try:
            recorder, now = AttemptRecorder(pool), datetime.now(UTC)
            work = [self._commands(batch_size, now - timedelta(days=1)) for _ in range(batches)]

            async def record_all() -> None:
                for commands in work:
                    await recorder.record_batch(commands, now=now)

            return await measure(batch_size * batches, record_all)
        finally:
            await pool.close()

    async def projector(self, batch_size: int, batches: int) -> Cost:
        pool = await create_pool(self.roles.services["mastery"], all_tenants=True)
        admin = await asyncpg.connect(self.url)
        try:
            await admin.execute("TRUNCATE proficiencies, mastery_evidence")
            projector = MasteryProjector(pool, BUS, CalculationPolicy(method="latest"))
            work, logged = [], []
            # Students of their own: the read model starts empty, the log keeps earlier runs.
            run = next(self.numbers)
            for _ in range(batches):
                batch = []
                for _ in range(batch_size):
                    n = next(self.numbers)
                    item = attempt(n, student=f"r{run}s{n % 2000}", standard=STANDARDS[n % 8])
                    envelope = CloudEvent[LatestGradebookEvent](
                        id=str(uuid.uuid4()), source="/bench", type=cloudevent_type(item.event),
                        subject="bench", time=item.event.recorded_at, tenantid=BENCH_TENANT,
                        streamversion=n + 1, data=item.event,
                    )  # fmt: skip
                    batch.append(Delivered(envelope, n))
                    logged.append(event_row(item.event, version=n + 1, event_id=envelope.id))
                work.append(batch)
            # The projector applies what the log holds: record it first, outside the measure.
            await admin.copy_records_to_table(
                "attempt_events",
                records=[EVENT_COLUMNS.values(row) for row in logged],
                columns=COPY_COLUMNS,
            )

            async def project_all() -> None:
                for batch in work:
                    await projector.handle_gradebook_events(batch)

            return await measure(batch_size * batches, project_all)
        finally:
            await admin.close()
            await pool.close()

    async def fill_event_store(self, events: int) -> int:
        """Add `events` attempt events; returns how many student-stream events the store holds."""
        connection = await asyncpg.connect(self.url)
        try:
            students = max(1, events // ATTEMPTS_PER_STREAM // len(STANDARDS))
            for first in range(0, events, COPY_CHUNK):
                chunk = range(first, min(events, first + COPY_CHUNK))
                await connection.copy_records_to_table(
                    "attempt_events",
                    records=attempt_event_rows(chunk, students),
                    columns=COPY_COLUMNS,
                )
            await connection.execute("VACUUM ANALYZE attempt_events")
            stored: int = await connection.fetchval(
                "SELECT count(*) FROM attempt_events WHERE stream_id NOT LIKE '%//%'"
            )
            return stored
        finally:
            await connection.close()

    async def rebuild(self, events: int) -> Cost:
        connection, reader = await asyncpg.connect(self.url), await asyncpg.connect(self.url)
        try:

            async def rebuild_all() -> None:
                report = await rebuild_read_model(
                    connection, reader, default_policy=DEFAULT_POLICY, now=datetime.now(UTC)
                )
                if report.events != events:
                    raise RuntimeError(f"rebuilt {report.events} events, expected {events}")

            return await measure(events, rebuild_all)
        finally:
            await reader.close()
            await connection.close()


async def run_paths(database_url: str, runs: int, rebuild_events: int) -> dict[str, list[Cost]]:
    paths = Paths(database_url)
    await paths.prepare()
    costs: dict[str, list[Cost]] = {
        "recorder, batches of 500": [],
        "recorder, single attempts": [],
        "projector, batches of 200": [],
        "rebuild": [],
    }
    for run in range(runs):
        costs["recorder, batches of 500"].append(await paths.recorder(500, 10))
        costs["recorder, single attempts"].append(await paths.recorder(1, 500))
        costs["projector, batches of 200"].append(await paths.projector(200, 40))
        print(f"run {run + 1}: write paths done", file=sys.stderr, flush=True)
    stored = await paths.fill_event_store(rebuild_events)  # with the recorder's events
    for run in range(runs):
        costs["rebuild"].append(await paths.rebuild(stored))
        print(f"run {run + 1}: rebuild done", file=sys.stderr, flush=True)
    return costs


def summary(costs: dict[str, list[Cost]]) -> list[dict[str, object]]:
    return [
        {
            "path": path,
            "cpu_us_per_event": statistics.median(cpu for cpu, _, _ in runs),
            "postgres_cpu_us_per_event": statistics.median(postgres for _, postgres, _ in runs),
            "wall_us_per_event": statistics.median(wall for _, _, wall in runs),
            "events_per_second": 1e6 / statistics.median(wall for _, _, wall in runs),
            "runs": [
                {"cpu_us": cpu, "postgres_cpu_us": postgres, "wall_us": wall}
                for cpu, postgres, wall in runs
            ],
        }
        for path, runs in costs.items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild-events", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = summary(
        run_until_complete(
            in_scratch_database(
                "cpucost", lambda url: run_paths(url, args.runs, args.rebuild_events)
            )
        )
    )
    print(f"{'path':<28}{'CPU µs/event':>14}{'PostgreSQL':>12}{'wall µs':>10}{'events/s':>10}")
    for row in rows:
        print(
            f"{row['path']:<28}{row['cpu_us_per_event']:>14.1f}"
            f"{row['postgres_cpu_us_per_event']:>12.1f}{row['wall_us_per_event']:>10.1f}"
            f"{row['events_per_second']:>10,.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
