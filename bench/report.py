"""The table and the JSON of a bench run: min/median/max per metric, baseline, ratio, target."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.memory import Checkpoint
from bench.scenarios.base import MetricSpec, RunMeasurement, Target
from bench.stats import Spread, spread

# Memory counts as flat when a service grew less than this between the first and last checkpoint.
FLAT_MEMORY_GROWTH = Target("value", "<", 10.0)


@dataclass(frozen=True, slots=True)
class ReportRow:
    scenario: str
    metric: str
    spread: Spread
    baseline_median: float | None = None
    ratio: float | None = None
    targets: tuple[Target, ...] = ()

    @property
    def met(self) -> bool | None:
        verdicts = [target.met(self.spread.median, self.ratio) for target in self.targets]
        if not verdicts or None in verdicts:
            return None
        return all(verdicts)


@dataclass
class ScenarioOutcome:
    name: str
    title: str
    baseline_title: str
    metrics: tuple[MetricSpec, ...]
    runs: list[RunMeasurement] = field(default_factory=list)


def metric_rows(outcome: ScenarioOutcome) -> list[ReportRow]:
    rows = []
    for metric in outcome.metrics:
        measured = spread([run.values[metric.name] for run in outcome.runs])
        baseline = None
        if metric.has_baseline:
            baseline = statistics.median(run.baseline[metric.name] for run in outcome.runs)
        ratio = measured.median / baseline if baseline else None
        rows.append(ReportRow(outcome.name, metric.name, measured, baseline, ratio, metric.targets))
    return rows


def memory_rows(peaks: dict[str, float], checkpoints: Sequence[Checkpoint]) -> list[ReportRow]:
    """Peak RSS per service, and its growth from the first quiet checkpoint to the last."""
    rows = []
    for service, peak in sorted(peaks.items()):
        history = [point.rss_mib[service] for point in checkpoints if service in point.rss_mib]
        rows.append(ReportRow("memory", f"{service} peak RSS MiB", Spread(peak, peak, peak)))
        if len(history) >= 2:
            growth = 100 * (history[-1] - history[0]) / history[0]
            rows.append(
                ReportRow(
                    "memory",
                    f"{service} RSS growth %",
                    Spread(growth, growth, growth),
                    targets=(FLAT_MEMORY_GROWTH,),
                )
            )
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def markdown_table(rows: Sequence[ReportRow]) -> str:
    header = (
        "| scenario | metric | min | median | max | baseline median | ratio | target | met? |\n"
        "|---|---|--:|--:|--:|--:|--:|---|---|"
    )
    lines = [header]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        target = ", ".join(target.describe() for target in row.targets)
        cells = [
            row.scenario,
            row.metric,
            _number(row.spread.minimum),
            _number(row.spread.median),
            _number(row.spread.maximum),
            _number(row.baseline_median),
            ratio,
            target,
            _verdict(row.met),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def row_json(row: ReportRow) -> dict[str, object]:
    return {
        "scenario": row.scenario,
        "metric": row.metric,
        "min": row.spread.minimum,
        "median": row.spread.median,
        "max": row.spread.maximum,
        "baseline_median": row.baseline_median,
        "ratio": row.ratio,
        "targets": [target.describe() for target in row.targets],
        "met": row.met,
    }
