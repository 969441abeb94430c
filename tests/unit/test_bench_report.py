import pytest

from bench.memory import Checkpoint
from bench.report import ScenarioOutcome, markdown_table, memory_rows, metric_rows
from bench.scenarios.base import MetricSpec, RunMeasurement, Target
from bench.stats import percentile, spread


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7


def test_percentile_refuses_nothing() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_spread_is_min_median_max() -> None:
    assert spread([3.0, 1.0, 2.0]) == spread([1.0, 2.0, 3.0])
    assert spread([3.0, 1.0, 2.0]).median == 2.0


def test_ratio_uses_medians_and_every_target_must_hold() -> None:
    outcome = ScenarioOutcome(
        "projector",
        "projector",
        "fetch+ack",
        (
            MetricSpec(
                "events/s",
                (Target("value", ">=", 10_000), Target("ratio", ">=", 0.5)),
                has_baseline=True,
            ),
        ),
        [
            RunMeasurement({"events/s": 11_000}, {"events/s": 30_000}),
            RunMeasurement({"events/s": 12_000}, {"events/s": 20_000}),
            RunMeasurement({"events/s": 13_000}, {"events/s": 22_000}),
        ],
    )
    [row] = metric_rows(outcome)
    assert row.spread.median == 12_000
    assert row.baseline_median == 22_000
    assert row.ratio == pytest.approx(12_000 / 22_000)
    assert row.met is True
    assert "| projector | events/s | 11,000 | 12,000 | 13,000 | 22,000 | 0.55 |" in (
        markdown_table([row])
    )


def test_a_missed_target_shows_in_the_table() -> None:
    outcome = ScenarioOutcome(
        "end-to-end",
        "e2e",
        "",
        (MetricSpec("p99 ms", (Target("value", "<", 100),)),),
        [RunMeasurement({"p99 ms": 125.0})],
    )
    assert markdown_table(metric_rows(outcome)).endswith("| < 100 | NO |")


def test_memory_growth_is_measured_between_first_and_last_checkpoint() -> None:
    checkpoints = [
        Checkpoint("first", 1000, {"attempts": 50.0}),
        Checkpoint("last", 90_000, {"attempts": 60.0}),
    ]
    peak, growth = memory_rows({"attempts": 61.0}, checkpoints)
    assert peak.spread.median == 61.0
    assert growth.spread.median == pytest.approx(20.0)
    assert growth.met is False
