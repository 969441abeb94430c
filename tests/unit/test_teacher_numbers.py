"""Numbers that mean what teachers mean: points land on the scale, letters follow level bands,
and the explanation names the evidence it came from."""

from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from services.mastery.core.calculation import (
    DEFAULT_SCALE,
    CalculationPolicy,
    Evidence,
    calculate,
    percentage_scale,
)
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.explanation import explained, explained_records
from services.mastery.core.scales import letter_for, on_scale
from shared.contract.events.standards import StandardDefined, TenantPolicySet, effective_policy
from shared.contract.grading import (
    DEFAULT_LETTERS,
    LetterGrade,
    ProficiencyScale,
    letter_threshold,
    parameter_in_force,
    with_fractions,
)

START = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def _item(attempt_id: str, day: int, score: float | None = None, points: float | None = None,
          status: str = "scored") -> Evidence:  # fmt: skip
    return Evidence(attempt_id=attempt_id, assessed_at=START + timedelta(days=day),
                    recorded_seq=day, status=status, score=score, points_possible=points)  # type: ignore[arg-type]  # fmt: skip


@given(
    points=st.floats(min_value=0.5, max_value=1000),
    share=st.floats(min_value=0, max_value=1),
)
def test_points_convert_within_the_scale_never_below_its_minimum(
    points: float, share: float
) -> None:
    score = share * points
    for scale in (DEFAULT_SCALE, percentage_scale()):
        converted = on_scale(score, points, scale)
        assert scale.minimum <= converted <= scale.maximum + 1e-9
        assert converted == max(score / points * scale.maximum, scale.minimum)


def test_zero_of_four_points_is_the_scale_minimum_and_the_explanation_says_so() -> None:
    proficiency = explained([_item("quiz-1", 0, 0, 4)], CalculationPolicy(method="average"))
    assert proficiency.score == 1
    assert "Counted: quiz-1 (2026-10-01): 0 of 4 points → 1 (the scale's minimum)" in (
        proficiency.steps
    )


@given(score=st.floats(min_value=1, max_value=4).map(lambda x: round(x, 2)))
def test_default_letters_on_the_four_point_scale_are_the_district_bands(score: float) -> None:
    bands = [(3.5, "A"), (3.0, "B"), (2.5, "C"), (2.0, "D")]
    expected = next((letter for low, letter in bands if score >= low), "F")
    assert letter_for(score, DEFAULT_SCALE, DEFAULT_LETTERS) == expected


def test_default_letters_on_the_percentage_scale_are_the_same_bands_of_its_span() -> None:
    scale = percentage_scale()
    thresholds = [letter_threshold(grade, scale) for grade in DEFAULT_LETTERS]
    assert thresholds == [83.33, 66.67, 50, 33.33, 0]
    assert [letter_for(s, scale, DEFAULT_LETTERS) for s in (83.33, 83.32, 66.67, 50, 33.32)] == [
        "A", "B", "B", "C", "F",
    ]  # fmt: skip


@given(
    minimum=st.integers(min_value=-50, max_value=50),
    span=st.integers(min_value=1, max_value=500),
    position=st.floats(min_value=0, max_value=1),
)
def test_default_letters_never_improve_as_the_score_falls(
    minimum: int, span: int, position: float
) -> None:
    scale = msgspec.structs.replace(DEFAULT_SCALE, minimum=minimum, maximum=minimum + span)
    higher = minimum + position * span
    order = "ABCDF"
    for lower in (minimum, (minimum + higher) / 2, higher):
        assert order.index(letter_for(lower, scale, DEFAULT_LETTERS)) >= order.index(
            letter_for(higher, scale, DEFAULT_LETTERS)
        )


def test_letters_stored_with_min_fraction_keep_their_meaning() -> None:
    old = (
        LetterGrade(letter="A", min_fraction=0.9),
        LetterGrade(letter="B", min_fraction=0.8),
        LetterGrade(letter="C", min_fraction=0.7),
        LetterGrade(letter="F", min_fraction=0.0),
    )
    assert [letter_for(s, DEFAULT_SCALE, old) for s in (3.6, 3.2, 3, 2)] == ["A", "B", "C", "F"]
    stored = b'{"letter":"B","min_fraction":0.8}'  # as a standard_defined.v1 event carries it
    assert msgspec.json.decode(stored, type=LetterGrade) == old[1]


def test_new_letters_also_carry_the_fraction_an_older_reader_understands() -> None:
    letters = (LetterGrade(letter="P", min_score=3), LetterGrade(letter="N", min_position=0))
    filled = with_fractions(letters, DEFAULT_SCALE)
    assert [grade.min_fraction for grade in filled] == [0.75, 0.25]
    as_old = tuple(LetterGrade(letter=g.letter, min_fraction=g.min_fraction) for g in filled)
    for score in (1, 2.99, 3, 4):
        assert letter_for(score, DEFAULT_SCALE, as_old) == letter_for(score, DEFAULT_SCALE, filled)


def test_letters_come_from_the_standard_else_the_tenant_else_the_default() -> None:
    pass_fail = (LetterGrade(letter="P", min_score=3), LetterGrade(letter="N", min_score=1))
    standard = StandardDefined(tenant_id="t", standard_id="s", title="s", scale=DEFAULT_SCALE,
                               defined_at=START)  # fmt: skip
    tenant = TenantPolicySet(tenant_id="t", method="latest", allowed_methods=("latest",),
                             set_at=START, letters=pass_fail)  # fmt: skip
    assert effective_policy(standard, None).letters == DEFAULT_LETTERS
    assert effective_policy(standard, tenant).letters == pass_fail
    own = (LetterGrade(letter="X", min_position=0),)
    assert effective_policy(msgspec.structs.replace(standard, letters=own), tenant).letters == own
    assert calculate([_item("a", 0, 3)], effective_policy(standard, tenant)).letter == "P"


def test_the_parameter_in_force_is_shown_when_the_default_applies() -> None:
    assert parameter_in_force("decaying_average", None) == 65
    assert parameter_in_force("decaying_average", 80) == 80
    assert parameter_in_force("latest", None) is None
    decaying = CalculationPolicy(method="decaying_average")
    assert calculate([_item("a", 0, 3)], decaying).parameter == 65


def test_the_explanation_names_what_counted_what_did_not_and_why() -> None:
    records = [
        EvidenceRecord(evidence=_item("quiz-1", 0, 3, 4), event_id="e1"),
        EvidenceRecord(
            evidence=_item("quiz-2", 1, 4), event_id="e2", voided=True, corrected_version=6
        ),
        EvidenceRecord(evidence=_item("quiz-3", 2, 2.5), event_id="e3", corrected_version=7),
        EvidenceRecord(evidence=_item("quiz-4", 3, status="excused"), event_id="e4"),
        EvidenceRecord(evidence=_item("hw-5", 4, status="missing"), event_id="e5"),
        EvidenceRecord(evidence=_item("hw-6", 5, status="incomplete"), event_id="e6"),
        EvidenceRecord(evidence=_item("hw-7", 6, 2), event_id="e7", corrected_version=9),
    ]
    first = {"quiz-3": _item("quiz-3", 2, 1, 4), "hw-7": _item("hw-7", 6, status="missing")}
    proficiency = explained_records(records, CalculationPolicy(method="average"), first)
    assert proficiency.steps[:10] == (
        "Counted: quiz-1 (2026-10-01): 3 of 4 points → 3",
        "Counted: quiz-3 (2026-10-03): 2.5, rescored",
        "Counted: hw-7 (2026-10-07): 2, rescored",
        "Not counted: quiz-3 (2026-10-03): 1 of 4 points → 1 as first recorded, superseded by a "
        "rescore",
        "Not counted: hw-7 (2026-10-07): missing as first recorded, superseded by a rescore",
        "Not counted: quiz-2 (2026-10-02): voided (it scored 4)",
        "Not counted: quiz-4 (2026-10-04): excused",
        "Not counted: hw-5 (2026-10-05): missing, a marker, never a zero",
        "Not counted: hw-6 (2026-10-06): incomplete, a marker, never a zero",
        "(3 + 2.5 + 2) / 3 = 2.5",
    )
    unknown = explained_records(records[2:3], CalculationPolicy())
    assert unknown.steps[1] == (
        "Not counted: quiz-3 (2026-10-03): the score first recorded, superseded by a rescore"
    )


def test_the_explanation_says_when_the_floor_raised_a_score() -> None:
    policy = CalculationPolicy(method="latest", scale=percentage_scale(), floor_percent=50)
    steps = explained([_item("q", 0, 1, 10)], policy).steps
    assert steps[0] == "Counted: q (2026-10-01): 1 of 10 points → 10, raised to the floor of 50"


def test_a_custom_scale_minimum_is_named_in_the_explanation() -> None:
    scale = ProficiencyScale(levels=DEFAULT_SCALE.levels, mastery_threshold=3, minimum=1, maximum=4)
    steps = explained([_item("q", 0, 1, 8)], CalculationPolicy(scale=scale)).steps
    assert steps[0] == "Counted: q (2026-10-01): 1 of 8 points → 1 (the scale's minimum)"


def test_the_calculator_names_scores_without_the_dates_it_made_up() -> None:
    steps = explained([_item("#1", 0, 3)], CalculationPolicy(), dated=False).steps
    assert steps[0] == "Counted: #1: 3"
