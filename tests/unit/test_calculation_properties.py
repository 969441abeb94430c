"""Properties of every calculation, over generated evidence."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.mastery.core.calculation import (
    METHODS,
    CalculationPolicy,
    Evidence,
    calculate,
    percentage_scale,
    round_half_up,
)

SCALE = percentage_scale()
START = datetime(2026, 1, 1, tzinfo=UTC)
scores = st.lists(
    st.integers(min_value=0, max_value=10_000).map(lambda n: n / 100), min_size=1, max_size=12
)


def _evidence(values: list[float], days: list[int] | None = None) -> list[Evidence]:
    days = days or list(range(len(values)))
    return [
        Evidence(
            attempt_id=f"a{n}", assessed_at=START + timedelta(days=day), recorded_seq=n, score=value
        )
        for n, (value, day) in enumerate(zip(values, days, strict=True))
    ]


def _score(method: str, values: list[float], days: list[int] | None = None) -> float | None:
    parameter = 1 if method == "n_mastery" else None
    policy = CalculationPolicy(method=method, parameter=parameter, scale=SCALE)  # type: ignore[arg-type]
    return calculate(_evidence(values, days), policy).score


@settings(max_examples=60)
@given(scores, st.randoms())
def test_highest_and_average_ignore_order(values: list[float], random: object) -> None:
    shuffled = list(values)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    for method in ("highest", "average"):
        assert _score(method, values) == _score(method, shuffled)


@settings(max_examples=60)
@given(scores, st.data())
def test_latest_follows_assessed_at_not_arrival(values: list[float], data: st.DataObject) -> None:
    days = data.draw(st.permutations(list(range(len(values)))))
    newest = values[days.index(max(days))]
    assert _score("latest", values, list(days)) == round_half_up(newest)


@settings(max_examples=60)
@given(scores)
def test_results_lie_within_the_scores_range(values: list[float]) -> None:
    for method in METHODS:
        result = _score(method, values)
        if result is None:
            continue
        low, high = min(values), max(values)
        if method == "power_law":
            low, high = SCALE.minimum, SCALE.maximum
        assert round_half_up(low) <= result <= round_half_up(high), method


@settings(max_examples=60)
@given(st.integers(min_value=80_00, max_value=100_00).map(lambda n: n / 100))
def test_one_score_returns_itself(value: float) -> None:
    for method in METHODS:
        assert _score(method, [value]) == value, method


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=10**7))
def test_rounding_is_half_up(thousandths: int) -> None:
    value = thousandths / 1000
    expected = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert round_half_up(value) == float(expected)
