"""Cost of one new attempt as a student's history grows: the pure fold and the real projector.

    python -m bench.attempt_cost [--sizes 10,100,1000,10000] [--runs 5] [--json PATH]

For each history size n it measures, with the median of several runs:
- core, every method: `fold_attempt` of one attempt newer than all n earlier ones (the
  incremental path);
- core, late evidence: `state_from_evidence` over the standard's n + 1 pieces of evidence (the
  O(n) path);
- core, the old way: `calculate` over all n + 1 pieces of evidence, what a fold without a tally
  would pay per attempt;
- projector on PostgreSQL (a database of its own, on DATABASE_URL's server if set, else
  embedded): one `handle_gradebook_events` transaction for one new attempt, the student having
  n attempts on that standard, and again with the n attempts spread over n / 10 other standards.
Each row is reported as a ratio to its cost at the smallest n, measured in the same run.
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from bench.attempt_data import event_row
from bench.system import in_scratch_database
from services.attempts.adapters.event_store import EVENT_COLUMNS
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import METHODS, CalculationPolicy, Evidence, calculate
from services.mastery.core.evidence import evidence_of_attempt
from services.mastery.core.student_standard import (
    NeedsHistory,
    StudentStandard,
    StudentStandardKey,
    empty_state,
    fold_attempt,
    state_from_evidence,
)
from services.migrations import ALL_MIGRATIONS
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from shared.platform.postgres import create_pool
from shared.platform.roles import passwords_from, prepare_database
from shared.platform.service import run_until_complete

START = datetime(2020, 1, 1, tzinfo=UTC)
_EVENT_IDS = uuid.UUID("7d1c0c59-8d2e-4b8e-9a53-3c7a1f0f5e11")
NOW = datetime(2026, 11, 1, tzinfo=UTC)
Row = dict[str, Any]


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    event: AttemptRecorded
    event_id: str
    stream_version: int

    @property
    def evidence(self) -> Evidence:
        return evidence_of_attempt(self.event, self.stream_version)


def attempt(n: int, *, standard: str = "math.1", student: str = "maya") -> Attempt:
    event = AttemptRecorded(
        tenant_id="bench",
        student_id=student,
        standard_id=standard,
        attempt_id=f"{student}-{standard}-{n}",
        score=1 + (n * 7) % 4,
        points_possible=4,
        assessed_at=START + timedelta(minutes=n),
        recorded_at=NOW,
    )
    event_id = str(uuid.uuid5(_EVENT_IDS, f"{student}/{standard}/{n}"))
    return Attempt(event=event, event_id=event_id, stream_version=n)


async def record(pool: asyncpg.Pool, items: Sequence[Attempt]) -> None:
    """Append the attempts to the event store: the projector applies what the log holds."""
    rows = [event_row(i.event, version=i.stream_version, event_id=i.event_id) for i in items]
    async with pool.acquire() as connection:
        await connection.copy_records_to_table(
            "attempt_events", records=[EVENT_COLUMNS.values(row) for row in rows],
            columns=EVENT_COLUMNS.names,
        )  # fmt: skip


def per_call_us(operation: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        operation()
    return (time.perf_counter() - started) / calls * 1e6


def core_rows(sizes: Sequence[int], runs: int) -> list[Row]:
    rows: list[Row] = []
    for method in METHODS:
        parameter = 2 if method == "n_mastery" else None
        policy = CalculationPolicy(method=method, parameter=parameter)
        rows.append(_core_row(f"core fold, newest ({method})", sizes, runs, policy, "fold"))
    latest = CalculationPolicy(method="latest")
    rows.append(_core_row("core recalculate, late evidence (latest)", sizes, runs, latest, "all"))
    rows.append(_core_row("core calculate over all evidence", sizes, runs, latest, "calculate"))
    return rows


def _core_row(
    name: str, sizes: Sequence[int], runs: int, policy: CalculationPolicy, path: str
) -> Row:
    medians = []
    key = StudentStandardKey(tenant_id="bench", student_id="maya", standard_id="math.1")
    for n in sizes:
        history = [attempt(k) for k in range(1, n + 1)]
        state = empty_state(key, policy)
        for item in history:
            folded = fold_attempt(state, item.evidence, policy)
            assert not isinstance(folded, NeedsHistory)
            state = folded
        new = attempt(n + 1)
        evidence = [item.evidence for item in (*history, new)]
        operation = _operation(path, state, new, evidence, policy)
        calls = max(3, 20_000 // (n if path != "fold" else 1) // 10)
        medians.append(statistics.median(per_call_us(operation, calls) for _ in range(runs)))
    return _row(name, sizes, medians)


def _operation(
    path: str,
    state: StudentStandard,
    new: Attempt,
    evidence: list[Evidence],
    policy: CalculationPolicy,
) -> Callable[[], object]:
    if path == "fold":
        return partial(fold_attempt, state, new.evidence, policy)
    if path == "all":
        return partial(state_from_evidence, state.key, evidence, policy=policy)
    return partial(calculate, evidence, policy)


def _row(name: str, sizes: Sequence[int], medians: Sequence[float]) -> Row:
    ratios = [median / medians[0] for median in medians]
    return {
        "scenario": name,
        "microseconds_per_attempt": dict(zip(map(str, sizes), medians, strict=True)),
        "ratio_to_smallest": dict(zip(map(str, sizes), ratios, strict=True)),
    }


def _delivered(item: Attempt) -> Delivered[LatestGradebookEvent]:
    envelope = CloudEvent[LatestGradebookEvent](
        id=item.event_id, source="/bench", type=cloudevent_type(item.event), subject="bench",
        time=NOW, tenantid="bench", streamversion=item.stream_version, data=item.event,
    )  # fmt: skip
    return Delivered(envelope, item.stream_version)


async def projector_rows(database_url: str, sizes: Sequence[int], runs: int) -> list[Row]:
    await prepare_database(database_url, passwords_from(os.environ), ALL_MIGRATIONS)
    pool = await create_pool(database_url, all_tenants=True)
    projector = MasteryProjector(pool, BusNames("bench"), CalculationPolicy(method="latest"))
    rows = []
    try:
        for spread, name in ((False, "projector txn, one standard"),
                             (True, "projector txn, history over n/10 standards")):  # fmt: skip
            medians = []
            for n in sizes:
                for table in ("proficiencies", "mastery_evidence"):
                    await pool.execute(f"DELETE FROM {table} WHERE tenant_id = 'bench'")  # noqa: S608
                student = f"s{n}{'x' if spread else ''}"
                history = [attempt(k, student=student, standard=_standard(k, spread))
                           for k in range(1, n + 1)]  # fmt: skip
                await record(pool, history)
                for start in range(0, n, 500):
                    batch = history[start : start + 500]
                    await projector.handle_gradebook_events([_delivered(i) for i in batch])
                timed = [
                    await _time_new_attempts(pool, projector, student, n, run)
                    for run in range(runs)
                ]
                medians.append(statistics.median(timed))
            rows.append(_row(name, sizes, medians))
    finally:
        await pool.close()
    return rows


def _standard(k: int, spread: bool) -> str:
    return f"std.{k % 10}" if spread else "math.1"


async def _time_new_attempts(
    pool: asyncpg.Pool, projector: MasteryProjector, student: str, n: int, run: int
) -> float:
    calls = 30
    items = [attempt(n + 1 + run * calls + c, student=student) for c in range(calls)]
    await record(pool, items)
    started = time.perf_counter()
    for item in items:
        await projector.handle_gradebook_events([_delivered(item)])
    return (time.perf_counter() - started) / calls * 1e6


def print_table(rows: Sequence[Row], sizes: Sequence[int]) -> None:
    header = f"{'scenario':<48}" + "".join(f"{'n=' + str(n):>16}" for n in sizes)
    print(header)
    for row in rows:
        costs = row["microseconds_per_attempt"]
        ratios = row["ratio_to_smallest"]
        cells = "".join(f"{costs[str(n)]:>9.1f}µs×{ratios[str(n)]:<4.1f}" for n in sizes)
        print(f"{row['scenario']:<48}{cells}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = core_rows(sizes, args.runs) + run_until_complete(
        in_scratch_database("attemptcost", lambda url: projector_rows(url, sizes, args.runs))
    )
    print_table(rows, sizes)
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
