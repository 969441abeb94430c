"""What a scenario is: named metrics with targets, measured once per run against a baseline."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from bench.memory import RssSampler
from bench.system import BenchSystem


@dataclass(frozen=True, slots=True)
class Target:
    """A goal from the issue, on the median itself or on its ratio to the baseline median."""

    on: Literal["value", "ratio"]
    op: Literal[">=", "<"]
    threshold: float

    def met(self, value: float, ratio: float | None) -> bool | None:
        measured = value if self.on == "value" else ratio
        if measured is None:
            return None
        return measured >= self.threshold if self.op == ">=" else measured < self.threshold

    def describe(self) -> str:
        subject = "" if self.on == "value" else "ratio "
        return f"{subject}{self.op} {self.threshold:,g}"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    targets: tuple[Target, ...] = ()
    # Whether the baseline measures this metric too (same name), giving a ratio.
    has_baseline: bool = False


@dataclass(frozen=True, slots=True)
class BenchSettings:
    quick: bool
    runs: int

    def seconds(self, *, full: float, quick: float) -> float:
        return quick if self.quick else full

    def count(self, *, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass
class BenchContext:
    system: BenchSystem
    settings: BenchSettings
    sampler: RssSampler
    # Attempts appended through the API so far: the x axis of the memory checkpoints.
    attempts_appended: int = 0


@dataclass
class RunMeasurement:
    values: dict[str, float]
    baseline: dict[str, float] = field(default_factory=dict)
    # Facts worth keeping in the JSON that are not metrics (errors, backlog drain time, ...).
    notes: dict[str, float] = field(default_factory=dict)


class Scenario(ABC):
    name: ClassVar[str]
    title: ClassVar[str]
    baseline_title: ClassVar[str]
    metrics: ClassVar[tuple[MetricSpec, ...]]

    async def prepare(self, context: BenchContext) -> None:  # noqa: B027 - optional hook
        """Set up what every run needs (pre-filled streams, tables); default: nothing."""

    @abstractmethod
    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement: ...
