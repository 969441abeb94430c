"""`scripts/chaos.sh`: the fault experiments with a larger load, and a table of what happened.

    python -m tests.faults.chaos [--attempts 8000] [--students 200] [--rate 100]
                                 [--recover-within 180] [--only NAME ...] [--keep DIR]

The attempts and students are shared out among the experiments: each has a school of its own.
Exits 1 if any experiment did not recover by itself.
"""

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.faults.experiments import Fault, Outcome, all_faults, run_experiment
from tests.faults.load import LoadPlan
from tests.faults.system import FaultSystem

COLUMNS = ("experiment", "accepted", "stored", "changes", "emails expected", "received",
           "duplicates", "lost", "recovered by itself")  # fmt: skip


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chaos.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=8000, help="in all (default 8000)")
    parser.add_argument("--students", type=int, default=200, help="in all (default 200)")
    parser.add_argument("--rate", type=float, default=100.0, help="attempts per second")
    parser.add_argument("--recover-within", type=float, default=180.0, help="seconds")
    parser.add_argument("--only", nargs="*", help="experiment names, e.g. kill-mastery")
    parser.add_argument("--keep", type=Path, help="keep servers' data and logs in this directory")
    return parser.parse_args(argv)


def row(outcome: Outcome) -> tuple[str, ...]:
    seen = outcome.seen
    recovered = f"yes, {outcome.seconds_to_recover:.1f} s" if outcome.recovered else "NO"
    return (outcome.fault.title, str(seen.accepted), str(seen.stored), str(seen.changes),
            str(seen.emails_expected), str(seen.received), str(seen.duplicates), str(seen.lost),
            recovered)  # fmt: skip


def table(rows: Sequence[tuple[str, ...]]) -> str:
    lines = [COLUMNS, *rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(COLUMNS))]
    rendered = [" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
                for line in lines]  # fmt: skip
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


async def run(arguments: argparse.Namespace, scratch: Path) -> list[Outcome]:
    faults: list[Fault] = [
        fault for fault in all_faults() if not arguments.only or fault.name in arguments.only
    ]
    share = len(faults) or 1
    system = await FaultSystem.start(scratch)
    outcomes = []
    try:
        for number, fault in enumerate(faults, 1):
            plan = LoadPlan(
                attempts=arguments.attempts // share,
                students=max(1, arguments.students // share),
                rate=arguments.rate,
                seed=number,
            )
            print(f"{fault.title}: {plan.attempts} attempts ...", file=sys.stderr, flush=True)
            outcome = await run_experiment(
                system, fault, plan, recover_within=arguments.recover_within
            )
            for problem in outcome.problems:
                print(f"  {problem}", file=sys.stderr)
            outcomes.append(outcome)
    finally:
        await system.stop()
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(sys.argv[1:] if argv is None else argv)
    if arguments.keep:
        arguments.keep.mkdir(parents=True, exist_ok=True)
        outcomes = asyncio.run(run(arguments, arguments.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="mastery-chaos-") as scratch:
            outcomes = asyncio.run(run(arguments, Path(scratch)))
    print(table([row(outcome) for outcome in outcomes]))
    for outcome in outcomes:
        retried = dict(outcome.load.failures) or "none"
        print(f"{outcome.fault.name}: requests the load retried: {retried}")
        for problem in outcome.problems:
            print(f"  {problem}")
    return 0 if all(outcome.recovered for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
