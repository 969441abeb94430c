"""What a family's report says about one student, standard by standard. Pure: the student's log in,
the facts out (`FamilyReport`), which the rendering adapter turns into words in the family's
language.

For each standard the student has evidence in: where the student stands now (the same fold and
calculation as `?as_of=`, so it is the read model's answer), which levels of the standard's scale
the student has reached (what the student can do) and which not yet, every piece of evidence with
its date and whether it counted, and the growth: the result after each scored assessment in the
order they were assessed, under the policy in force now.
"""

from collections.abc import Iterable
from datetime import datetime

import msgspec

from services.mastery.core.calculation import (
    CalculationPolicy,
    Evidence,
    calculate,
    score_on_scale,
)
from services.mastery.core.evidence import EvidenceRecord, live
from services.mastery.core.timeline import LoggedEvent, StandingThen, standings_as_of
from shared.contract.events.standards import StandardDefined
from shared.contract.grading import AttemptStatus, Method

EvidenceNote = AttemptStatus | None


class LevelReached(msgspec.Struct, frozen=True, kw_only=True):
    value: float
    label: str
    min_score: float
    reached: bool
    mastery: bool  # the level at which the standard counts as mastered


class EvidenceLine(msgspec.Struct, frozen=True, kw_only=True):
    attempt_id: str
    assessed_at: datetime
    status: AttemptStatus
    score: float | None  # as recorded
    points_possible: float | None
    on_scale: float | None  # where it lands on the standard's scale (the floor applied)
    counted: bool
    voided: bool
    rescored: bool


class GrowthPoint(msgspec.Struct, frozen=True, kw_only=True):
    assessed_at: datetime
    attempt_id: str
    assessment: float  # the assessment's score on the scale
    result: float | None  # the standing after it (None: not yet, e.g. n_mastery before n)


class StandardReport(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    title: str
    method: Method
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    scale_minimum: float
    scale_maximum: float
    mastery_threshold: float
    levels: tuple[LevelReached, ...]
    evidence: tuple[EvidenceLine, ...]  # newest first
    growth: tuple[GrowthPoint, ...]  # oldest first


class FamilyReport(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    student_id: str
    student_name: str  # the display name, else the id
    generated_at: datetime
    standards: tuple[StandardReport, ...]


def family_report(
    log: Iterable[LoggedEvent],
    *,
    tenant_id: str,
    student_id: str,
    student_name: str | None,
    now: datetime,
    default: CalculationPolicy,
) -> FamilyReport:
    """The report of `student_id` from its streams and its tenant's policy streams in the log."""
    events = list(log)
    titles = _titles(events)
    standings = [
        standing
        for standing in standings_as_of(events, None, default)
        if standing.key.tenant_id == tenant_id and standing.key.student_id == student_id
    ]
    return FamilyReport(
        tenant_id=tenant_id,
        student_id=student_id,
        student_name=student_name or student_id,
        generated_at=now,
        standards=tuple(_standard(s, titles.get(s.key.standard_id)) for s in standings),
    )


def _titles(events: list[LoggedEvent]) -> dict[str, str]:
    """Each standard's newest title in the log."""
    return {
        logged.event.standard_id: logged.event.title
        for logged in sorted(events, key=lambda logged: logged.position)
        if isinstance(logged.event, StandardDefined)
    }


def _standard(standing: StandingThen, title: str | None) -> StandardReport:
    policy, records = standing.policy, list(standing.records.values())
    proficiency = calculate(live(standing.records), policy)
    scale = policy.scale
    return StandardReport(
        standard_id=standing.key.standard_id,
        title=title or standing.key.standard_id,
        method=policy.method,
        score=proficiency.score,
        level=proficiency.level,
        level_label=proficiency.level_label,
        mastered=proficiency.mastered,
        scale_minimum=scale.minimum,
        scale_maximum=scale.maximum,
        mastery_threshold=scale.mastery_threshold,
        levels=levels_reached(policy, proficiency.score),
        evidence=tuple(_line(record, policy) for record in _newest_first(records)),
        growth=growth(live(standing.records), policy),
    )


def levels_reached(policy: CalculationPolicy, score: float | None) -> tuple[LevelReached, ...]:
    """Every level of the scale, lowest first: reached when the standing is at or above it."""
    scale = policy.scale
    mastery = max(
        (level for level in scale.levels if level.min_score <= scale.mastery_threshold),
        key=lambda level: level.min_score,
        default=None,
    )
    return tuple(
        LevelReached(
            value=level.value,
            label=level.label,
            min_score=level.min_score,
            reached=score is not None and score >= level.min_score,
            mastery=level == mastery,
        )
        for level in sorted(scale.levels, key=lambda level: level.min_score)
    )


def growth(evidence: list[Evidence], policy: CalculationPolicy) -> tuple[GrowthPoint, ...]:
    """Each scored assessment in the order assessed, with the standing after it."""
    ordered = sorted(evidence, key=lambda item: (item.assessed_at, item.recorded_seq))
    points = []
    for index, item in enumerate(ordered):
        if item.status != "scored" or item.score is None:
            continue
        points.append(
            GrowthPoint(
                assessed_at=item.assessed_at,
                attempt_id=item.attempt_id,
                assessment=score_on_scale(item, policy),
                result=calculate(ordered[: index + 1], policy).score,
            )
        )
    return tuple(points)


def _newest_first(records: list[EvidenceRecord]) -> list[EvidenceRecord]:
    return sorted(
        records,
        key=lambda record: (record.evidence.assessed_at, record.evidence.recorded_seq),
        reverse=True,
    )


def _line(record: EvidenceRecord, policy: CalculationPolicy) -> EvidenceLine:
    item = record.evidence
    scored = item.status == "scored" and item.score is not None
    return EvidenceLine(
        attempt_id=item.attempt_id,
        assessed_at=item.assessed_at,
        status=item.status,
        score=item.score,
        points_possible=item.points_possible,
        on_scale=score_on_scale(item, policy) if scored else None,
        counted=scored and not record.voided,
        voided=record.voided,
        rescored=not record.voided and record.corrected_version > 0,
    )
