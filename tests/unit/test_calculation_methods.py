"""Worked examples for every calculation method; the numbers a teacher can check by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from services.mastery.core.calculation import (
    DEFAULT_SCALE,
    CalculationPolicy,
    Evidence,
    InvalidPolicy,
    ProficiencyScale,
    calculate,
    percentage_scale,
    points_scale,
    round_half_up,
)

PERCENT = ProficiencyScale(
    levels=DEFAULT_SCALE.levels, mastery_threshold=80, minimum=0, maximum=100
)
START = datetime(2026, 9, 1, tzinfo=UTC)


def _evidence(*scores: float) -> list[Evidence]:
    return [
        Evidence(attempt_id=f"a{n}", assessed_at=START + timedelta(days=n), recorded_seq=n, score=s)
        for n, s in enumerate(scores)
    ]


def _score(
    method: str, *scores: float, parameter: float | None = None, scale: ProficiencyScale = PERCENT
) -> float | None:
    policy = CalculationPolicy(method=method, parameter=parameter, scale=scale)  # type: ignore[arg-type]
    return calculate(_evidence(*scores), policy).score


@pytest.mark.parametrize(
    ("method", "scores", "parameter", "expected"),
    [
        ("latest", (60, 75, 92, 70), None, 70),
        ("highest", (60, 92, 75), None, 92),
        ("average", (60, 75, 92), None, 75.67),
        ("decaying_average", (60, 75, 92), 65, 84.21),
        ("decaying_average", (60, 75, 92), 50, 79.75),
        ("weighted_average", (60, 80, 90), 65, 83.0),
        ("n_mastery", (85, 70, 90, 80), 3, 85.0),
        ("n_mastery", (85, 70, 90), 3, None),
        ("mode", (3, 2, 3, 2), None, 2),
        ("mode", (2, 2, 3), None, 2),
    ],
)
def test_worked_examples(
    method: str, scores: tuple[float, ...], parameter: float | None, expected: float | None
) -> None:
    assert _score(method, *scores, parameter=parameter) == expected


def test_decaying_average_explains_each_step() -> None:
    policy = CalculationPolicy(method="decaying_average", scale=PERCENT)
    steps = calculate(_evidence(60, 75, 92), policy).steps
    assert "0.35×60 + 0.65×75 = 69.75" in steps
    assert "0.35×69.75 + 0.65×92 = 84.21" in steps
    assert "Plain average, for comparison: 75.67" in steps


def test_power_law_follows_an_exact_power_curve() -> None:
    # 10·k^0.5 at k = 1..4 is exactly 10, 14.14.., 17.32.., 20: the fit recovers 20 at k = 4.
    scores = [10 * k**0.5 for k in range(1, 5)]
    assert _score("power_law", *scores) == 20.0


def test_power_law_with_two_scores_is_the_exact_line_through_them() -> None:
    assert _score("power_law", 40, 60) == 60.0


def test_power_law_with_a_zero_score_shifts_and_stays_on_the_scale() -> None:
    result = _score("power_law", 0, 50, 70)
    assert result is not None
    assert 0 <= result <= 100


def test_power_law_is_clamped_to_the_scale() -> None:
    # The falling trend through 4, 1, 1 predicts 0.81 at k = 3, below the scale's lowest level.
    policy = CalculationPolicy(method="power_law")
    proficiency = calculate(_evidence(4, 1, 1), policy)
    assert proficiency.score == 1.0
    assert "Clamped to the scale: 1" in proficiency.steps


def test_one_score_returns_itself_for_every_method() -> None:
    for method in (
        "latest",
        "highest",
        "average",
        "decaying_average",
        "weighted_average",
        "power_law",
        "mode",
    ):
        assert _score(method, 73.5) == 73.5
    assert _score("n_mastery", 85, parameter=1) == 85


def test_order_is_assessed_at_not_arrival() -> None:
    late_but_older = Evidence(attempt_id="old", assessed_at=START, recorded_seq=9, score=1)
    newer = Evidence(
        attempt_id="new", assessed_at=START + timedelta(days=5), recorded_seq=1, score=4
    )
    proficiency = calculate([newer, late_but_older], CalculationPolicy(method="latest"))
    assert proficiency.score == 4


def test_no_scored_evidence_is_none_never_zero() -> None:
    missing = Evidence(attempt_id="m", assessed_at=START, recorded_seq=1, status="missing")
    proficiency = calculate([missing], CalculationPolicy())
    assert (proficiency.score, proficiency.level, proficiency.mastered) == (None, None, False)


def test_rounding_is_half_up() -> None:
    assert round_half_up(4.125) == 4.13
    assert _score("average", 4.12, 4.13, scale=DEFAULT_SCALE) == 4.13


def test_points_convert_to_the_scale() -> None:
    evidence = [
        Evidence(attempt_id="a", assessed_at=START, recorded_seq=1, score=8, points_possible=10)
    ]
    assert calculate(evidence, CalculationPolicy()).score == 3.2


@pytest.mark.parametrize(
    ("method", "parameter"),
    [("decaying_average", 49), ("decaying_average", 100), ("weighted_average", 0),
     ("n_mastery", 11), ("latest", 5), ("median", None)],
)  # fmt: skip
def test_bad_parameters_are_errors_not_clamps(method: str, parameter: float | None) -> None:
    with pytest.raises(InvalidPolicy):
        _score(method, 60, parameter=parameter)


def test_missing_and_incomplete_are_markers_never_zeros() -> None:
    evidence = [
        *_evidence(3),
        Evidence(
            attempt_id="m", assessed_at=START + timedelta(days=3), recorded_seq=3, status="missing"
        ),
        Evidence(
            attempt_id="i",
            assessed_at=START + timedelta(days=4),
            recorded_seq=4,
            status="incomplete",
        ),
        Evidence(
            attempt_id="e", assessed_at=START + timedelta(days=5), recorded_seq=5, status="excused"
        ),
    ]
    proficiency = calculate(evidence, CalculationPolicy(method="average"))
    assert proficiency.score == 3
    assert proficiency.evidence_count == 1
    assert [(m.attempt_id, m.status) for m in proficiency.markers] == [
        ("m", "missing"),
        ("i", "incomplete"),
    ]


def test_floor_policy_lifts_low_scores() -> None:
    policy = CalculationPolicy(method="average", scale=PERCENT, floor_percent=50)
    proficiency = calculate(_evidence(20, 90), policy)
    assert proficiency.score == 70  # 20 counts as 50
    assert any("floor of 50" in step for step in proficiency.steps)


def test_voided_attempt_leaves_and_rescored_attempt_counts_with_new_score() -> None:
    first, second = _evidence(2, 4)
    assert calculate([first], CalculationPolicy(method="highest")).score == 2  # second voided
    rescored = Evidence(
        attempt_id=second.attempt_id, assessed_at=second.assessed_at, recorded_seq=2, score=3
    )
    assert calculate([first, rescored], CalculationPolicy(method="highest")).score == 3


@pytest.mark.parametrize(
    ("score", "letter"),
    [(4, "A"), (3.5, "A"), (3.49, "B"), (3, "B"), (2.99, "C"), (2.5, "C"), (2.49, "D"), (2, "D"),
     (1.99, "F"), (1, "F")],
)  # fmt: skip
def test_default_letters_are_level_bands(score: float, letter: str) -> None:
    assert calculate(_evidence(score), CalculationPolicy()).letter == letter


def test_percentage_and_points_scales() -> None:
    percent = percentage_scale(threshold=80)
    proficiency = calculate(_evidence(82), CalculationPolicy(scale=percent))
    assert (proficiency.level_label, proficiency.mastered) == ("Proficient", True)
    points = points_scale(10)
    assert calculate(_evidence(7.5), CalculationPolicy(scale=points)).mastered is False
    assert calculate(_evidence(8), CalculationPolicy(scale=points)).mastered is True
