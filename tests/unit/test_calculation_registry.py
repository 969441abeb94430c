"""One object per calculation method: the registry covers the public vocabulary, each object's
result is its definition (design.md), and a new method needs nothing outside its object."""

import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import cast

import msgspec
import pytest

from services.mastery.core import methods as registry
from services.mastery.core.calculation import (
    CalculationPolicy,
    Evidence,
    InvalidPolicy,
    add_to_tally,
    calculate,
    percentage_scale,
    result_of,
    standing_of,
    tally_of,
    validate_policy,
)
from services.mastery.core.methods import REGISTERED, CalculationMethod
from services.mastery.core.steps import Steps, listed, number
from services.mastery.core.tally import Tally
from shared.contract import grading
from shared.contract.grading import METHODS, PARAMETER_RANGES, ParameterRange

SCALE = percentage_scale(80)
START = datetime(2026, 9, 1, tzinfo=UTC)
SEQUENCES: list[list[float]] = [
    [73.5],
    [60, 75, 92],
    [85, 70, 90, 80, 95],
    [40, 40, 95, 95, 60],
    [0, 50, 70],
    [100, 20, 20, 90],
]

Reference = Callable[[list[float], float], float | None]


def _mean(scores: list[float]) -> float:
    return sum(scores) / len(scores)


def _decaying(scores: list[float], weight: float) -> float:
    value = scores[0]
    for score in scores[1:]:
        value = (1 - weight / 100) * value + weight / 100 * score
    return value


def _weighted(scores: list[float], weight: float) -> float:
    if len(scores) == 1:
        return scores[0]
    return scores[-1] * weight / 100 + _mean(scores[:-1]) * (1 - weight / 100)


def _n_mastery(scores: list[float], n: float) -> float | None:
    reaching = [score for score in scores if score >= SCALE.mastery_threshold]
    return _mean(reaching) if len(reaching) >= n else None


def _power_law(scores: list[float], _: float) -> float:
    if len(scores) == 1:
        return scores[0]
    shift = 1.0 if min(scores) <= 0 else 0.0
    xs = [math.log(k) for k in range(1, len(scores) + 1)]
    ys = [math.log(score + shift) for score in scores]
    x_mean, y_mean = _mean(xs), _mean(ys)
    b = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - x_mean) ** 2 for x in xs
    )
    predicted = math.exp(y_mean + b * (xs[-1] - x_mean)) - shift
    return min(max(predicted, SCALE.minimum), SCALE.maximum)


def _mode(scores: list[float], _: float) -> float:
    newest_first = scores[::-1]
    return max(newest_first, key=lambda score: (scores.count(score), -newest_first.index(score)))


# The definitions of design.md's table, computed naively from the whole list of scores.
REFERENCE: dict[str, Reference] = {
    "latest": lambda scores, _: scores[-1],
    "highest": lambda scores, _: max(scores),
    "average": lambda scores, _: _mean(scores),
    "decaying_average": _decaying,
    "weighted_average": _weighted,
    "n_mastery": _n_mastery,
    "power_law": _power_law,
    "mode": _mode,
}


def _parameters(method: CalculationMethod) -> list[float | None]:
    bounds = method.parameter
    return [None] if bounds is None else [bounds.low, bounds.default, bounds.high]


def test_every_public_name_has_exactly_one_registered_object() -> None:
    assert Counter(method.name for method in REGISTERED) == Counter(METHODS)
    assert all(registry.CALCULATION_METHODS[name].name == name for name in METHODS)


@pytest.mark.parametrize("method", REGISTERED, ids=lambda method: method.name)
def test_each_method_declares_its_parameter_range(method: CalculationMethod) -> None:
    bounds = method.parameter
    assert bounds == PARAMETER_RANGES.get(method.name)
    policy = CalculationPolicy(method=method.name, scale=SCALE)
    if bounds is None:
        assert validate_policy(policy).parameter is None
        with pytest.raises(InvalidPolicy):
            validate_policy(msgspec.structs.replace(policy, parameter=1))
        return
    assert isinstance(bounds, ParameterRange)
    assert bounds.low <= bounds.default <= bounds.high
    assert validate_policy(policy).parameter == bounds.default
    for outside in (bounds.low - 1, bounds.high + 1):
        with pytest.raises(InvalidPolicy):
            validate_policy(msgspec.structs.replace(policy, parameter=outside))


def test_every_registered_method_has_a_reference_definition() -> None:
    assert set(REFERENCE) == {method.name for method in REGISTERED}


@pytest.mark.parametrize("method", REGISTERED, ids=lambda method: method.name)
@pytest.mark.parametrize("scores", SEQUENCES, ids=listed)
def test_each_result_is_the_reference_definition(
    method: CalculationMethod, scores: list[float]
) -> None:
    for parameter in _parameters(method):
        policy = validate_policy(
            CalculationPolicy(method=method.name, parameter=parameter, scale=SCALE)
        )
        expected = REFERENCE[method.name](scores, policy.parameter or 0)
        result = result_of(tally_of(scores, policy), policy)
        assert result == (None if expected is None else pytest.approx(expected, rel=1e-9))


class Lowest(CalculationMethod):
    """A method that exists only here: the minimum, its tally part the `highest` of negatives."""

    name = "lowest"  # type: ignore[assignment]

    def fold(self, tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
        lowest = score if tally.count == 0 else min(-tally.highest, score)
        return msgspec.structs.replace(tally, count=tally.count + 1, latest=score, highest=-lowest)

    def result(self, tally: Tally, policy: CalculationPolicy) -> float:
        return -tally.highest

    def explain(self, scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
        return [f"Lowest of {listed(scores)}: {number(-tally.highest)}"]


def test_a_new_method_is_its_object_registered_and_its_public_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(grading, "METHODS", (*METHODS, "lowest"))
    registered = cast(dict[str, CalculationMethod], registry.CALCULATION_METHODS)
    monkeypatch.setitem(registered, "lowest", Lowest())
    policy = validate_policy(CalculationPolicy(method="lowest", scale=SCALE))  # type: ignore[arg-type]
    evidence = [
        Evidence(attempt_id=f"a{n}", assessed_at=START + timedelta(days=n), recorded_seq=n, score=s)
        for n, s in enumerate([90, 70, 85])
    ]
    proficiency = calculate(evidence, policy)
    assert (proficiency.score, proficiency.mastered) == (70, False)
    assert "Lowest of 90, 70, 85: 70" in proficiency.steps
    # What the projector does per attempt: fold onto the stored tally, read the standing.
    tally = add_to_tally(tally_of([90, 70, 85], policy), 60, policy)
    assert standing_of(result_of(tally, policy), policy).score == 60
