"""Order statistics for latencies and for the spread of repeated runs."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spread:
    """The minimum, median and maximum of one metric over several runs."""

    minimum: float
    median: float
    maximum: float


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values to summarise")
    return Spread(min(values), statistics.median(values), max(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank: the smallest value with at least `fraction` of the values at or below it."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return ordered[rank - 1]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50 ms": percentile(latencies_ms, 0.50),
        "p99 ms": percentile(latencies_ms, 0.99),
        "max ms": max(latencies_ms),
    }
