"""The calculation methods, one object each, and the registry of them by public name. Pure.

A method keeps its own parts of the tally up to date (`fold`, constant time per score), reads its
unrounded result from them (`result`) and explains that result step by step (`explain`). Its name
and parameter range are public (`shared/contract/grading.py`, where every service validates a
policy); what the parameter means is the method's. So a new method is one class here, listed in
`REGISTERED`, plus its name (and range, if it takes a parameter) in the public vocabulary.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import msgspec

from services.mastery.core.steps import Steps, listed, number, shown
from services.mastery.core.tally import (
    Tally,
    add_exact,
    counted,
    earlier_mean,
    fitted,
    mode_of,
    power_fit,
)
from shared.contract.grading import PARAMETER_RANGES, CalculationPolicy, Method, ParameterRange

_replace = msgspec.structs.replace


class CalculationMethod(ABC):
    """A method under a validated policy: its parameter, if it takes one, is filled in."""

    name: ClassVar[Method]

    @property
    def parameter(self) -> ParameterRange | None:
        return PARAMETER_RANGES.get(self.name)

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        """The tally after one more score, newer than all in it. Here: the count and the latest."""
        return _replace(tally, count=tally.count + 1, latest=score)

    @abstractmethod
    def result(self, tally: Tally, policy: CalculationPolicy) -> float | None:
        """Unrounded, from a tally of at least one score; None: no result yet."""

    @abstractmethod
    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        """From `scores` (on the scale, oldest first, as folded into `tally`) to the result."""


def _weight(policy: CalculationPolicy) -> float:
    return (policy.parameter or 0) / 100


class Latest(CalculationMethod):
    name = "latest"

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        return tally.latest

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        return [f"Most recent score: {number(tally.latest)}"]


class Highest(CalculationMethod):
    name = "highest"

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        highest = score if tally.count == 0 else max(tally.highest, score)
        return _replace(tally, count=tally.count + 1, latest=score, highest=highest)

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        return tally.highest

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        return [f"Highest of {listed(scores)}: {number(tally.highest)}"]


class Average(CalculationMethod):
    name = "average"

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        total = add_exact(tally.total, score)
        return _replace(tally, count=tally.count + 1, latest=score, total=total)

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        return math.fsum(tally.total) / tally.count

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        mean = self.result(tally, policy)
        return [f"({' + '.join(map(number, scores))}) / {tally.count} = {shown(mean)}"]


class DecayingAverage(CalculationMethod):
    """D1 = S1; Dk = (1 - w)·Dk-1 + w·Sk, with the parameter as the weight w in percent."""

    name = "decaying_average"

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        weight = _weight(policy)
        decaying = score if tally.count == 0 else (1 - weight) * tally.decaying + weight * score
        return _replace(tally, count=tally.count + 1, latest=score, decaying=decaying)

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        return tally.decaying

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        weight = _weight(policy)
        value = scores[0]
        steps = [f"Start with the first score: {number(value)}"]
        for score in scores[1:]:
            next_value = (1 - weight) * value + weight * score
            steps.append(
                f"{number(1 - weight)}×{shown(value)} + {number(weight)}×{number(score)}"
                f" = {shown(next_value)}"
            )
            value = next_value
        return steps


class WeightedAverage(CalculationMethod):
    """latest·w + mean(all earlier)·(1 - w), with the parameter as the weight w in percent."""

    name = "weighted_average"

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        total = add_exact(tally.total, score)
        return _replace(tally, count=tally.count + 1, latest=score, total=total)

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        if tally.count == 1:
            return tally.latest
        weight = _weight(policy)
        return tally.latest * weight + earlier_mean(tally) * (1 - weight)

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        if tally.count == 1:
            return [f"Only one score: {number(tally.latest)}"]
        weight = _weight(policy)
        earlier = earlier_mean(tally)
        return [
            f"Mean of the earlier scores {listed(scores[:-1])}: {shown(earlier)}",
            f"{number(weight)}×{number(tally.latest)} + {number(1 - weight)}×{shown(earlier)}"
            f" = {shown(self.result(tally, policy))}",
        ]


class NMastery(CalculationMethod):
    """No result until n scores (the parameter) reach the threshold; then the mean of those."""

    name = "n_mastery"

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        if score < policy.scale.mastery_threshold:
            return _replace(tally, count=tally.count + 1, latest=score)
        return _replace(
            tally,
            count=tally.count + 1,
            latest=score,
            reaching_count=tally.reaching_count + 1,
            reaching_total=add_exact(tally.reaching_total, score),
        )

    def result(self, tally: Tally, policy: CalculationPolicy) -> float | None:
        if tally.reaching_count < (policy.parameter or 0):
            return None
        return math.fsum(tally.reaching_total) / tally.reaching_count

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        needed = int(policy.parameter or 0)
        threshold = policy.scale.mastery_threshold
        if tally.reaching_count < needed:
            return [
                f"{tally.reaching_count} of {needed} required scores at or above "
                f"{number(threshold)} so far: no result yet"
            ]
        reaching = [score for score in scores if score >= threshold]
        mean = math.fsum(tally.reaching_total) / tally.reaching_count
        return [
            f"{tally.reaching_count} scores at or above {number(threshold)} (needed {needed})",
            f"Mean of {listed(reaching)} = {shown(mean)}",
        ]


class PowerLaw(CalculationMethod):
    """Marzano's trend: score = a·k^b by least squares over attempt index k, at the last k.

    One score returns itself, two give the exact curve through them (so the latest score), three
    or more the least-squares fit; a score of 0 shifts all scores by 1 for the fit (ln 0 is
    undefined). The value is clamped to the scale.
    """

    name = "power_law"

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        count = tally.count + 1
        return _replace(tally, count=count, latest=score, fit=fitted(tally.fit, score, count))

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        if tally.count == 1:
            return tally.latest
        return min(max(power_fit(tally).predicted, policy.scale.minimum), policy.scale.maximum)

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        if tally.count == 1:
            return [f"Only one score: {number(tally.latest)}"]
        fit = power_fit(tally)
        value = min(max(fit.predicted, policy.scale.minimum), policy.scale.maximum)
        steps = [
            f"Least-squares fit of score = a·k^b over attempts k = 1..{tally.count}: "
            f"a = {shown(fit.a)}, b = {shown(fit.b)}"
            + (" (scores shifted by 1: a score is 0)" if fit.shifted else ""),
            f"Trend value at k = {tally.count}: {shown(fit.predicted)}",
        ]
        if value != fit.predicted:
            steps.append(f"Clamped to the scale: {shown(value)}")
        return steps


class Mode(CalculationMethod):
    """The most frequent score; a tie goes to the most recent."""

    name = "mode"

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        count = tally.count + 1
        return _replace(
            tally, count=count, latest=score, counts=counted(tally.counts, score, count)
        )

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        return mode_of(tally).score

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        winner = mode_of(tally)
        tied = sorted(entry.score for entry in tally.counts if entry.count == winner.count)
        steps = [f"Most frequent score: {number(winner.score)} ({winner.count} times)"]
        if len(tied) > 1:
            steps.append(f"Tie between {listed(tied)}: the most recent wins")
        return steps


# The one place a method is registered; every lookup by name goes through CALCULATION_METHODS.
REGISTERED: tuple[CalculationMethod, ...] = (
    Latest(),
    Highest(),
    Average(),
    DecayingAverage(),
    WeightedAverage(),
    NMastery(),
    PowerLaw(),
    Mode(),
)
CALCULATION_METHODS: Mapping[Method, CalculationMethod] = {
    method.name: method for method in REGISTERED
}


def method_of(policy: CalculationPolicy) -> CalculationMethod:
    return CALCULATION_METHODS[policy.method]
