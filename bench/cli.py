"""`python -m bench`: start the system, run the scenarios, print the table, write the JSON."""

import argparse
import asyncio
import datetime
import os
import platform
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import msgspec

from bench.memory import RssSampler
from bench.profiling import ServiceProfiles
from bench.report import ScenarioOutcome, markdown_table, memory_rows, metric_rows, row_json
from bench.scenarios import SCENARIOS, scenario_names
from bench.scenarios.base import BenchContext, BenchSettings, Scenario
from bench.statements import PRELOAD_SETTINGS, StatementProfile
from bench.system import (
    attempts_recorded,
    create_database,
    prepare_tenant,
    server_versions,
    start_servers,
    start_services,
    stop_system,
    warm_up,
)

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "latest.json"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 5, quick 3)")
    parser.add_argument(
        "--scenario", action="append", choices=scenario_names(), help="only these (repeatable)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON to write")
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="py-spy the services and rank PostgreSQL's statements in each first run",
    )
    return parser.parse_args(argv)


def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text(encoding="ascii").split()
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1),
        "cpu": cpu_model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


async def run_scenario(
    scenario: Scenario, context: BenchContext, profile_dir: Path | None
) -> ScenarioOutcome:
    outcome = ScenarioOutcome(
        scenario.name, scenario.title, scenario.baseline_title, scenario.metrics
    )
    await scenario.prepare(context)
    for run in range(context.settings.runs):
        profiles = statements = None
        recorded_before = 0
        if profile_dir is not None and run == 0:
            recorded_before = await attempts_recorded(context.system)
            profiles = ServiceProfiles(profile_dir, scenario.name, context.system.service_pids())
            statements = StatementProfile(
                context.system.database_url, profile_dir / f"{scenario.name}-statements.txt"
            )
            await statements.start()
        measurement = await scenario.run_once(context, run)
        if profiles is not None:
            profiles.stop()
        recorded = await attempts_recorded(context.system)
        if statements is not None:
            await statements.write(recorded - recorded_before)
        outcome.runs.append(measurement)
        context.sampler.checkpoint(f"{scenario.name} run {run + 1}", recorded)
        print(
            f"{scenario.name} run {run + 1}: {measurement.values} baseline {measurement.baseline}",
            file=sys.stderr,
            flush=True,
        )
    return outcome


async def run_bench(context: BenchContext, args: argparse.Namespace) -> dict[str, object]:
    system = context.system
    system.database_url = await create_database(system, "system")
    system.api_key = await prepare_tenant(system.database_url, system.bus)
    await asyncio.to_thread(start_services, system)
    context.sampler.pids = system.service_pids()
    context.sampler.start()
    await warm_up(system)
    context.sampler.checkpoint("after warm-up", await attempts_recorded(system))
    versions = await server_versions(system)
    chosen = [cls() for cls in SCENARIOS if not args.scenario or cls.name in args.scenario]
    outcomes = [await run_scenario(scenario, context, args.profile_dir) for scenario in chosen]
    context.sampler.stop()
    rows = [row for outcome in outcomes for row in metric_rows(outcome)]
    rows += memory_rows(context.sampler.peaks, context.sampler.checkpoints)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
        "machine": machine(),
        "servers": versions,
        "embedded": {
            "postgres": system.infra.postgres is not None,
            "nats": system.infra.nats is not None,
        },
        "settings": {"quick": context.settings.quick, "runs": context.settings.runs},
        "table": markdown_table(rows),
        "rows": [row_json(row) for row in rows],
        "scenarios": [msgspec.to_builtins(outcome) for outcome in outcomes],
        "memory_checkpoints": msgspec.to_builtins(context.sampler.checkpoints),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = BenchSettings(quick=args.quick, runs=args.runs or (3 if args.quick else 5))
    with tempfile.TemporaryDirectory(prefix="mastery-bench-") as data_dir:
        settings_for_profiles = PRELOAD_SETTINGS if args.profile_dir is not None else ()
        system = start_servers(os.environ, Path(data_dir), settings_for_profiles)
        context = BenchContext(system, settings, RssSampler({}))
        try:
            result = asyncio.run(run_bench(context, args))
        finally:
            context.sampler.stop()
            stop_system(system)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    print(result["table"])
    print(f"\nwritten: {args.output}")
    return 0
