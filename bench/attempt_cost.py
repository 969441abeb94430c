"""Cost of one new attempt as a student's history grows: the pure fold and the real projector.

    python -m bench.attempt_cost [--sizes 10,100,1000,10000] [--runs 5] [--json PATH]

For each history size n it measures, with the median of several runs:
- core, every method: `evolve` of one attempt newer than all n earlier ones (the incremental path);
- core, late evidence: `replay` of the standard's n + 1 pieces of evidence (the O(n) path);
- core, the old way: `calculate` over all n + 1 pieces of evidence, what a fold without a tally
  would pay per attempt;
- projector on PostgreSQL (a database of its own, on DATABASE_URL's server if set, else
  embedded): one `handle_gradebook_events` transaction for one new attempt, the student having
  n attempts on that standard, and again with the n attempts spread over n / 10 other standards.
Each row is reported as a ratio to its cost at the smallest n, measured in the same run.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.system import in_scratch_database
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import METHODS, CalculationPolicy, Evidence, calculate
from services.mastery.core.projection import (
    AttemptApplied,
    StudentStandard,
    cause_of,
    evidence_of,
    evolve,
    key_of,
    replay,
)
from services.migrations import ALL_MIGRATIONS
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import AnyGradebookEvent
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from shared.platform.postgres import apply_migrations, create_pool
from shared.platform.service import run_until_complete

START = datetime(2020, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)
Row = dict[str, Any]


def attempt(n: int, *, standard: str = "math.1", student: str = "maya") -> AttemptApplied:
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
    return AttemptApplied(event=event, event_id=f"e-{student}-{standard}-{n}", stream_version=n,
                          bus_sequence=n)  # fmt: skip


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
        rows.append(_core_row(f"core evolve, newest ({method})", sizes, runs, policy, "evolve"))
    latest = CalculationPolicy(method="latest")
    rows.append(_core_row("core replay, late evidence (latest)", sizes, runs, latest, "replay"))
    rows.append(_core_row("core calculate over all evidence", sizes, runs, latest, "calculate"))
    return rows


def _core_row(name: str, sizes: Sequence[int], runs: int, policy: CalculationPolicy,
              path: str) -> Row:  # fmt: skip
    medians = []
    for n in sizes:
        history = [attempt(k) for k in range(1, n + 1)]
        state: StudentStandard | None = None
        for item in history:
            outcome = evolve(state, item, policy=policy, now=NOW)
            assert isinstance(outcome, tuple)
            state = outcome[0]
        new = attempt(n + 1)
        evidence = [evidence_of(item) for item in (*history, new)]
        operation = _operation(path, state, new, evidence, policy)
        calls = max(3, 20_000 // (n if path != "evolve" else 1) // 10)
        medians.append(statistics.median(per_call_us(operation, calls) for _ in range(runs)))
    return _row(name, sizes, medians)


def _operation(
    path: str,
    state: StudentStandard | None,
    new: AttemptApplied,
    evidence: list[Evidence],
    policy: CalculationPolicy,
) -> Callable[[], object]:
    if path == "evolve":
        return partial(evolve, state, new, policy=policy, now=NOW)
    if path == "replay":
        key = key_of(new.event)
        cause = cause_of(new)
        return partial(replay, key, evidence, before=state, cause=cause, policy=policy, now=NOW)
    return partial(calculate, evidence, policy)


def _row(name: str, sizes: Sequence[int], medians: Sequence[float]) -> Row:
    ratios = [median / medians[0] for median in medians]
    return {
        "scenario": name,
        "microseconds_per_attempt": dict(zip(map(str, sizes), medians, strict=True)),
        "ratio_to_smallest": dict(zip(map(str, sizes), ratios, strict=True)),
    }


def _delivered(item: AttemptApplied) -> Delivered[AnyGradebookEvent]:
    envelope = CloudEvent[AnyGradebookEvent](
        id=item.event_id, source="/bench", type=cloudevent_type(item.event), subject="bench",
        time=NOW, tenantid="bench", streamversion=item.stream_version, data=item.event,
    )  # fmt: skip
    return Delivered(envelope, item.bus_sequence)


async def projector_rows(database_url: str, sizes: Sequence[int], runs: int) -> list[Row]:
    await apply_migrations(database_url, ALL_MIGRATIONS)
    pool = await create_pool(database_url)
    projector = MasteryProjector(pool, BusNames("bench"), CalculationPolicy(method="latest"))
    rows = []
    try:
        for spread, name in ((False, "projector txn, one standard"),
                             (True, "projector txn, history over n/10 standards")):  # fmt: skip
            medians = []
            for n in sizes:
                for table in ("proficiencies", "mastery_evidence", "mastery_outbox"):
                    await pool.execute(f"DELETE FROM {table} WHERE tenant_id = 'bench'")  # noqa: S608
                student = f"s{n}{'x' if spread else ''}"
                history = [attempt(k, student=student, standard=_standard(k, spread))
                           for k in range(1, n + 1)]  # fmt: skip
                for start in range(0, n, 500):
                    batch = history[start : start + 500]
                    await projector.handle_gradebook_events([_delivered(i) for i in batch])
                medians.append(statistics.median(
                    [await _time_new_attempts(projector, student, n, run) for run in range(runs)]
                ))  # fmt: skip
            rows.append(_row(name, sizes, medians))
    finally:
        await pool.close()
    return rows


def _standard(k: int, spread: bool) -> str:
    return f"std.{k % 10}" if spread else "math.1"


async def _time_new_attempts(projector: MasteryProjector, student: str, n: int, run: int) -> float:
    calls = 30
    items = [attempt(n + 1 + run * calls + c, student=student) for c in range(calls)]
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
