"""The attempts service's pure core: validation, reassessment rules, corrections, standards."""

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from services.attempts.core.recording import (
    Accept,
    AttemptLocation,
    RecordAttempt,
    RecordCorrectiveWork,
    Refuse,
    Replay,
    RescoreAttempt,
    VoidAttempt,
    decide_corrective_work,
    decide_record,
    decide_rescore,
    decide_void,
)
from services.attempts.core.refusals import (
    Conflict,
    InvalidField,
    MethodNotAllowed,
    RuleRefused,
    UndefinedStandard,
)
from services.attempts.core.standards import (
    DefineStandard,
    SetTenantPolicy,
    Unchanged,
    decide_define_standard,
    decide_set_policy,
)
from services.attempts.core.stream import StreamState, evolve_stream, fold_stream
from shared.contract.events.attempts import AttemptRecorded, AttemptRecordedV1, upcast
from shared.contract.events.standards import ReassessmentPolicy, StandardDefined
from shared.contract.grading import DEFAULT_SCALE, ProficiencyScale

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
STANDARD = StandardDefined(
    tenant_id="school", standard_id="math.1", title="Fractions", scale=DEFAULT_SCALE, defined_at=NOW
)
COMMAND = RecordAttempt(
    tenant_id="school",
    attempt_id="a1",
    student_id="maya",
    standard_id="math.1",
    score=3,
    points_possible=4,
    assessed_at=NOW - timedelta(days=1),
)
BAD_SCALE = ProficiencyScale(
    levels=DEFAULT_SCALE.levels, mastery_threshold=120, minimum=0, maximum=100
)
WHERE = AttemptLocation(student_id="maya", standard_id="math.1")


def _record(
    command: RecordAttempt = COMMAND,
    *,
    prior: RecordAttempt | None = None,
    state: StreamState | None = None,
    standard: StandardDefined | None = STANDARD,
) -> Accept | Replay | Refuse:
    return decide_record(
        command, prior=prior, state=state or StreamState(), standard=standard, now=NOW
    )


def _after(*commands: RecordAttempt, work: bool = False) -> StreamState:
    """The stream state after these attempts were accepted (and corrective work, if asked)."""
    state = StreamState()
    for command in commands:
        decision = _record(command, state=state)
        assert isinstance(decision, Accept), decision
        state = evolve_stream(state, decision.event)
    if work:
        corrective = RecordCorrectiveWork(
            tenant_id="school", student_id="maya", standard_id="math.1", work_id="w1"
        )
        decision = decide_corrective_work(corrective, state, NOW)
        assert isinstance(decision, Accept)
        state = evolve_stream(state, decision.event)
    return state


def _nth(n: int) -> RecordAttempt:
    return msgspec.structs.replace(COMMAND, attempt_id=f"a{n}")


def test_a_new_attempt_is_accepted_as_a_v2_event_stamped_now() -> None:
    decision = _record()
    assert isinstance(decision, Accept)
    assert isinstance(decision.event, AttemptRecorded)
    assert (decision.event.recorded_at, decision.event.status, decision.event.score) == (
        NOW,
        "scored",
        3,
    )


def test_same_body_replays_and_other_body_conflicts() -> None:
    assert isinstance(_record(prior=COMMAND), Replay)
    refusal = _record(msgspec.structs.replace(COMMAND, score=2), prior=COMMAND)
    assert isinstance(refusal, Conflict)
    assert refusal.reason == "attempt_id_reused"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"score": 5}, "score"),  # more than points_possible
        ({"score": 5, "points_possible": None}, "score"),  # off the 1-4 scale
        ({"score": 0.5, "points_possible": None}, "score"),
        ({"score": None, "points_possible": None}, "score"),  # scored needs a score
        ({"status": "missing"}, "score"),  # a marker carries no score
        ({"standard_id": "nope"}, "standard_id"),
        ({"assessed_at": NOW + timedelta(minutes=6)}, "assessed_at"),
    ],
)
def test_invalid_attempts_are_refused_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    command = msgspec.structs.replace(COMMAND, **change)
    standard = None if field == "standard_id" else STANDARD
    refusal = _record(command, standard=standard)
    if field == "standard_id":
        assert refusal == UndefinedStandard(standard_id="nope")
    else:
        assert isinstance(refusal, InvalidField), refusal
        assert refusal.field == field


def test_a_score_on_the_scale_needs_no_points_and_small_clock_skew_is_fine() -> None:
    on_scale = msgspec.structs.replace(
        COMMAND, score=3.5, points_possible=None, assessed_at=NOW + timedelta(minutes=4)
    )
    assert isinstance(_record(on_scale), Accept)


@pytest.mark.parametrize("status", ["missing", "excused", "incomplete"])
def test_markers_are_recorded_without_a_score_and_are_not_reassessments(status: str) -> None:
    marker = msgspec.structs.replace(COMMAND, status=status, score=None, points_possible=None)
    strict = msgspec.structs.replace(STANDARD, reassessment=ReassessmentPolicy(max_reassessments=0))
    state = _after(_nth(1))
    decision = _record(marker, state=state, standard=strict)
    assert isinstance(decision, Accept)
    assert isinstance(decision.event, AttemptRecorded)
    assert (decision.event.status, decision.event.score) == (status, None)


def test_the_reassessment_limit_refuses_with_the_rule_and_the_student_standard() -> None:
    limited = msgspec.structs.replace(
        STANDARD, reassessment=ReassessmentPolicy(max_reassessments=2)
    )
    state = _after(_nth(1), _nth(2), _nth(3))  # the first assessment and 2 reassessments
    refusal = _record(_nth(4), state=state, standard=limited)
    assert isinstance(refusal, RuleRefused)
    assert (refusal.rule, refusal.student_id, refusal.standard_id) == (
        "max_reassessments",
        "maya",
        "math.1",
    )
    assert "used 2 of 2 reassessments" in refusal.detail


def test_a_voided_attempt_gives_its_reassessment_back() -> None:
    limited = msgspec.structs.replace(
        STANDARD, reassessment=ReassessmentPolicy(max_reassessments=1)
    )
    state = _after(_nth(1), _nth(2))
    assert isinstance(_record(_nth(3), state=state, standard=limited), Refuse)
    void = decide_void(
        VoidAttempt(tenant_id="school", attempt_id="a2", reason="wrong student"),
        state.attempts["a2"],
        WHERE,
        NOW,
    )
    assert isinstance(void, Accept)
    state = evolve_stream(state, void.event)
    assert isinstance(_record(_nth(3), state=state, standard=limited), Accept)


def test_corrective_work_is_required_before_each_reassessment_when_the_standard_says_so() -> None:
    strict = msgspec.structs.replace(
        STANDARD, reassessment=ReassessmentPolicy(corrective_work_required=True)
    )
    first = _after(_nth(1))
    assert isinstance(_record(_nth(1), state=StreamState(), standard=strict), Accept)
    refusal = _record(_nth(2), state=first, standard=strict)
    assert isinstance(refusal, RuleRefused)
    assert (refusal.rule, refusal.student_id, refusal.standard_id) == (
        "corrective_work_required",
        "maya",
        "math.1",
    )
    assert isinstance(_record(_nth(2), state=_after(_nth(1), work=True), standard=strict), Accept)
    # The work is used up by that reassessment: the next one needs new corrective work.
    used = _after(_nth(1), _nth(2), work=False)
    assert isinstance(_record(_nth(3), state=used, standard=strict), Refuse)


def test_voids_need_a_reason_and_happen_once() -> None:
    state = _after(_nth(1))
    blank = VoidAttempt(tenant_id="school", attempt_id="a1", reason="  ")
    refusal = decide_void(blank, state.attempts["a1"], WHERE, NOW)
    assert refusal == InvalidField(field="reason", message="a void needs a reason")
    void = decide_void(
        msgspec.structs.replace(blank, reason="typo"), state.attempts["a1"], WHERE, NOW
    )
    assert isinstance(void, Accept)
    state = evolve_stream(state, void.event)
    again = decide_void(
        msgspec.structs.replace(blank, reason="typo"), state.attempts["a1"], WHERE, NOW
    )
    assert isinstance(again, Conflict)
    assert again.reason == "attempt_voided"


def test_a_rescore_is_validated_against_the_scale_and_keeps_the_original_in_the_log() -> None:
    state = _after(_nth(1))
    rescore = RescoreAttempt(
        tenant_id="school", attempt_id="a1", score=9, points_possible=None, reason="regraded"
    )
    refusal = decide_rescore(rescore, state.attempts["a1"], WHERE, STANDARD, NOW)
    assert isinstance(refusal, InvalidField)
    assert refusal.field == "score"
    decision = decide_rescore(
        msgspec.structs.replace(rescore, score=4), state.attempts["a1"], WHERE, STANDARD, NOW
    )
    assert isinstance(decision, Accept)
    after = evolve_stream(state, decision.event)
    assert (after.version, after.attempts["a1"].score) == (2, 4)


def test_the_same_corrective_work_id_replays() -> None:
    state = _after(_nth(1), work=True)
    again = RecordCorrectiveWork(
        tenant_id="school", student_id="maya", standard_id="math.1", work_id="w1"
    )
    assert isinstance(decide_corrective_work(again, state, NOW), Replay)


def test_v1_attempt_events_upcast_to_v2_scored_evidence() -> None:
    v1 = AttemptRecordedV1(
        tenant_id="school",
        student_id="maya",
        standard_id="math.1",
        attempt_id="a1",
        score=3,
        points_possible=4,
        assessed_at=NOW,
        recorded_at=NOW,
    )
    decoded = msgspec.json.decode(msgspec.json.encode(v1), type=AttemptRecordedV1 | AttemptRecorded)
    assert isinstance(decoded, AttemptRecordedV1)
    latest = upcast(decoded)
    assert isinstance(latest, AttemptRecorded)
    assert (latest.status, latest.score, latest.points_possible) == ("scored", 3, 4)
    assert fold_stream([latest]).assessments == 1


def _define(**change: object) -> DefineStandard:
    command = DefineStandard(
        tenant_id="school", standard_id="math.1", title="Fractions", scale=DEFAULT_SCALE
    )
    return msgspec.structs.replace(command, **change)


def test_a_standard_with_an_out_of_range_parameter_or_a_bad_scale_is_refused() -> None:
    for command, field in [
        (_define(method="decaying_average", parameter=120), "parameter"),
        (_define(method="latest", parameter=3), "parameter"),
        (_define(scale=BAD_SCALE), "scale"),
    ]:
        refusal = decide_define_standard(command, current=None, tenant_policy=None, now=NOW)
        assert isinstance(refusal, InvalidField), command
        assert refusal.field == field


def test_the_allow_list_limits_methods_and_an_identical_put_changes_nothing() -> None:
    policy = decide_set_policy(
        SetTenantPolicy(tenant_id="school", method="latest", allowed_methods=("latest", "highest")),
        current=None,
        standards=[],
        now=NOW,
    )
    assert not isinstance(policy, Refuse | Unchanged)
    refusal = decide_define_standard(
        _define(method="mode"), current=None, tenant_policy=policy, now=NOW
    )
    assert refusal == MethodNotAllowed(method="mode", allowed=("latest", "highest"))
    defined = decide_define_standard(_define(), current=None, tenant_policy=policy, now=NOW)
    assert isinstance(defined, StandardDefined)
    later = NOW + timedelta(hours=1)
    again = decide_define_standard(_define(), current=defined, tenant_policy=policy, now=later)
    assert isinstance(again, Unchanged)


def test_an_allow_list_cannot_drop_a_method_a_standard_uses() -> None:
    uses_mode = msgspec.structs.replace(STANDARD, method="mode")
    refusal = decide_set_policy(
        SetTenantPolicy(tenant_id="school", method="latest", allowed_methods=("latest",)),
        current=None,
        standards=[uses_mode],
        now=NOW,
    )
    assert isinstance(refusal, RuleRefused)
    assert refusal.rule == "allowed_methods"
    assert "math.1" in refusal.detail
