"""One student on one standard: the projector's constant-size state and when mastery moved. Pure.

The state keeps a running tally, not the evidence, so an attempt that is the newest evidence costs
the same however long the history. Evidence older than the newest (a late arrival), or a policy
other than the one the tally was built under, cannot be folded on top: `fold_attempt` answers
`NeedsHistory`, and the state is calculated again from that standard's evidence (O(n) in it).
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

import msgspec

from services.mastery.core.calculation import (
    NO_STANDING,
    CalculationPolicy,
    Evidence,
    Standing,
    add_to_tally,
    result_of,
    score_on_scale,
    standing_of,
    tally_of,
)
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.tally import Tally
from shared.contract.events.mastery import MasteryChanged, ReassessmentOutlook
from shared.contract.events.standards import StandardDefined

# Change ids derive from the causing event, so replays produce the same ids (and bus dedupe works).
_CHANGE_NAMESPACE = uuid.UUID("6f1f3c2e-2b61-4c41-9d0a-6d1c5a0b7e21")


class StudentStandardKey(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    student_id: str
    standard_id: str


class EvidenceOrder(msgspec.Struct, frozen=True, array_like=True, order=True):
    """Where evidence sits in the calculation: by assessed_at, ties by recorded order."""

    assessed_at: datetime
    recorded_seq: int


class StudentStandard(msgspec.Struct, frozen=True, kw_only=True):
    """The projector's state for one student on one standard: constant size."""

    key: StudentStandardKey
    policy: CalculationPolicy
    tally: Tally
    newest: EvidenceOrder | None
    standing: Standing
    evidence_count: int
    # The highest version of this student-standard's stream the state reflects: an attempt of a
    # higher version cannot be on record yet. None: not known (states stored before it was kept).
    last_version: int | None = None


class NeedsHistory(msgspec.Struct, frozen=True):
    """The evidence cannot be folded onto the tally; calculate from the standard's evidence."""

    reason: str


class ChangeCause(msgspec.Struct, frozen=True, kw_only=True):
    """What a MasteryChanged names as its cause: new evidence, a correction or a policy change."""

    event_id: str
    attempt_id: str
    assessed_at: datetime
    reason: Literal["evidence", "correction", "policy"]


def empty_state(key: StudentStandardKey, policy: CalculationPolicy) -> StudentStandard:
    return StudentStandard(
        key=key,
        policy=policy,
        tally=Tally(),
        newest=None,
        standing=NO_STANDING,
        evidence_count=0,
        last_version=0,
    )


def _reflecting(state: StudentStandard, version: int) -> StudentStandard:
    if state.last_version is None or version <= state.last_version:
        return state
    return msgspec.structs.replace(state, last_version=version)


def fold_attempt(
    state: StudentStandard, evidence: Evidence, policy: CalculationPolicy
) -> StudentStandard | NeedsHistory:
    """One new piece of evidence onto the tally, when it is the newest under the same policy."""
    if state.policy != policy:
        return NeedsHistory("the policy changed since the tally was built")
    if evidence.status != "scored" or evidence.score is None:
        # Missing, excused or incomplete work is shown beside the result, not in it.
        return _reflecting(state, evidence.recorded_seq)
    order = EvidenceOrder(evidence.assessed_at, evidence.recorded_seq)
    if state.newest is not None and order < state.newest:
        return NeedsHistory("evidence older than the newest: its place in the order changed")
    tally = add_to_tally(state.tally, score_on_scale(evidence, policy), policy)
    folded = msgspec.structs.replace(
        state,
        tally=tally,
        newest=order,
        standing=standing_of(result_of(tally, policy), policy),
        evidence_count=tally.count,
    )
    return _reflecting(folded, evidence.recorded_seq)


def state_from_evidence(
    key: StudentStandardKey, evidence: Sequence[Evidence], *, policy: CalculationPolicy
) -> StudentStandard:
    """The state the whole (live) evidence of one student on one standard gives."""
    ordered = sorted(evidence, key=lambda item: (item.assessed_at, item.recorded_seq))
    scored = [item for item in ordered if item.status == "scored" and item.score is not None]
    if not scored:
        return empty_state(key, policy)
    tally = tally_of([score_on_scale(item, policy) for item in scored], policy)
    newest = scored[-1]
    return StudentStandard(
        key=key,
        policy=policy,
        tally=tally,
        newest=EvidenceOrder(newest.assessed_at, newest.recorded_seq),
        standing=standing_of(result_of(tally, policy), policy),
        evidence_count=len(scored),
    )


def state_of_records(
    key: StudentStandardKey, records: Iterable[EvidenceRecord], *, policy: CalculationPolicy
) -> StudentStandard:
    """The state the whole evidence of one student on one standard gives (voided records leave
    the calculation, not the stream versions the state reflects)."""
    every = list(records)
    state = state_from_evidence(key, [r.evidence for r in every if not r.voided], policy=policy)
    versions = (max(r.evidence.recorded_seq, r.corrected_version) for r in every)
    return msgspec.structs.replace(state, last_version=max(versions, default=0))


def newest_evidence(evidence: Sequence[Evidence]) -> Evidence | None:
    return max(evidence, key=lambda item: (item.assessed_at, item.recorded_seq), default=None)


def mastery_moved(before: Standing, after: Standing) -> bool:
    """A change for families and SIS: the level or the mastered flag moved, not the score."""
    return (before.level, before.mastered) != (after.level, after.mastered)


def change_between(
    before: StudentStandard | None,
    after: StudentStandard,
    cause: ChangeCause,
    now: datetime,
    standard: StandardDefined | None = None,
) -> MasteryChanged | None:
    """The MasteryChanged event when mastery moved from `before` to `after`, else None; it names
    `standard`'s title and CASE GUID, the definition in force when the change was made."""
    previous = before.standing if before else NO_STANDING
    if not mastery_moved(previous, after.standing):
        return None
    key, standing = after.key, after.standing
    # One event can move many students (a policy change): the change id names both.
    change_name = (
        f"{cause.event_id}/{key.student_id}" if cause.reason == "policy" else cause.event_id
    )
    return MasteryChanged(
        tenant_id=key.tenant_id,
        student_id=key.student_id,
        standard_id=key.standard_id,
        change_id=str(uuid.uuid5(_CHANGE_NAMESPACE, change_name)),
        previous_level=previous.level,
        previous_mastered=previous.mastered,
        level=standing.level,
        level_label=standing.level_label,
        mastered=standing.mastered,
        score=standing.score,
        method=after.policy.method,
        caused_by_attempt_id=cause.attempt_id,
        caused_by_event_id=cause.event_id,
        assessed_at=cause.assessed_at,
        changed_at=now,
        reason=cause.reason,
        standard_title=standard.title if standard else None,
        case_guid=standard.case_guid if standard else None,
        previous_score=previous.score,
        previous_level_label=previous.level_label,
        reassessment=reassessment_outlook(after, standard) if standard else None,
    )


def reassessment_outlook(state: StudentStandard, standard: StandardDefined) -> ReassessmentOutlook:
    """The reassessments `state`'s evidence has used under `standard`'s rules: every scored
    assessment that counts after the first (as the write side counts them when it refuses one)."""
    rules = standard.reassessment
    return ReassessmentOutlook(
        reassessments_used=max(state.evidence_count - 1, 0),
        max_reassessments=rules.max_reassessments,
        corrective_work_required=rules.corrective_work_required,
    )
