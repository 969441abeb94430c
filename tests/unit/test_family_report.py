"""The family report's facts (pure): levels reached on a school's own scale, the growth under a
method that has no result yet, the name's fallback, and only the student asked about."""

import uuid
from datetime import UTC, datetime, timedelta

from services.mastery.core.calculation import FALLBACK_POLICY
from services.mastery.core.family_report import family_report
from services.mastery.core.scales import percentage_scale
from services.mastery.core.timeline import LoggedEvent
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.contract.events.standards import StandardDefined

START = datetime(2026, 10, 1, 9, tzinfo=UTC)


def _log(*events: LatestGradebookEvent) -> list[LoggedEvent]:
    return [
        LoggedEvent(
            position=position,
            stream_version=position,
            event_id=str(uuid.uuid4()),
            recorded_at=START + timedelta(days=position),
            event=event,
        )
        for position, event in enumerate(events, start=1)
    ]


def _attempt(student: str, attempt: str, score: float, day: int) -> AttemptRecorded:
    return AttemptRecorded(
        tenant_id="school", student_id=student, standard_id="essay", attempt_id=attempt,
        score=score, assessed_at=START + timedelta(days=day), recorded_at=START,
    )  # fmt: skip


ESSAY = StandardDefined(
    tenant_id="school",
    standard_id="essay",
    title="Write an argument",
    scale=percentage_scale(80),
    method="n_mastery",
    parameter=2,
    defined_at=START,
)


def test_levels_growth_and_name_on_a_percentage_scale_under_n_mastery() -> None:
    log = _log(
        ESSAY,
        _attempt("maya", "e1", 85, 1),
        _attempt("noah", "e-noah", 10, 1),
        _attempt("maya", "e2", 70, 2),
        _attempt("maya", "e3", 95, 3),
    )
    report = family_report(
        log, tenant_id="school", student_id="maya", student_name=None, now=START,
        default=FALLBACK_POLICY,
    )  # fmt: skip
    assert report.student_name == "maya"  # no name: the id
    [essay] = report.standards
    assert (essay.title, essay.method, essay.mastery_threshold) == (
        "Write an argument",
        "n_mastery",
        80,
    )
    # Two scores at or above 80 (85, 95): their mean, 90, is Advanced (from (80+100)/2 = 90).
    assert (essay.score, essay.level_label, essay.mastered) == (90, "Advanced", True)
    assert [(lv.label, lv.min_score, lv.reached, lv.mastery) for lv in essay.levels] == [
        ("Beginning", 0, True, False),
        ("Developing", 40, True, False),
        ("Proficient", 80, True, True),
        ("Advanced", 90, True, False),
    ]
    # No result until two scores reach mastery.
    assert [(p.attempt_id, p.assessment, p.result) for p in essay.growth] == [
        ("e1", 85, None), ("e2", 70, None), ("e3", 95, 90),
    ]  # fmt: skip
    assert [line.attempt_id for line in essay.evidence] == ["e3", "e2", "e1"]
    assert all(line.counted for line in essay.evidence)
