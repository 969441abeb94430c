"""The mastery projector as a fold: evolve(state | None, event) -> (state, emitted events). Pure.

The state keeps a running tally, not the evidence, so an attempt that is the newest evidence costs
the same however long the history. Evidence that is older than the newest (a late arrival), or a
policy that differs from the one the tally was built under, cannot be folded on top: `evolve`
answers `NeedsHistory`, and the shell calls `replay` with every piece of evidence on that one
standard (O(n) in those attempts). Whether mastery changed is decided here, never inferred in SQL.
"""

import uuid
from collections.abc import Sequence
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
    validate_policy,
)
from services.mastery.core.evidence import evidence_of_attempt
from services.mastery.core.tally import Tally
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.mastery import MasteryChanged

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
    last_bus_sequence: int


class AttemptApplied(msgspec.Struct, frozen=True, kw_only=True):
    """An attempt event as the projector sees it: the event plus where it was recorded."""

    event: AttemptRecorded
    event_id: str
    stream_version: int
    bus_sequence: int


class ChangeCause(msgspec.Struct, frozen=True, kw_only=True):
    """What a MasteryChanged names as its cause: new evidence, a correction or a policy change."""

    event_id: str
    attempt_id: str
    assessed_at: datetime
    reason: Literal["evidence", "correction", "policy"]


class NeedsHistory(msgspec.Struct, frozen=True):
    """The event cannot be folded onto the tally; replay the standard's evidence instead."""

    reason: str


Evolved = tuple[StudentStandard, tuple[MasteryChanged, ...]]


def key_of(event: AttemptRecorded) -> StudentStandardKey:
    return StudentStandardKey(
        tenant_id=event.tenant_id, student_id=event.student_id, standard_id=event.standard_id
    )


def evidence_of(applied: AttemptApplied) -> Evidence:
    return evidence_of_attempt(applied.event, applied.stream_version)


def cause_of(applied: AttemptApplied) -> ChangeCause:
    return ChangeCause(
        event_id=applied.event_id,
        attempt_id=applied.event.attempt_id,
        assessed_at=applied.event.assessed_at,
        reason="evidence",
    )


def newest_evidence(evidence: Sequence[Evidence]) -> Evidence | None:
    return max(evidence, key=lambda item: (item.assessed_at, item.recorded_seq), default=None)


def evolve(
    state: StudentStandard | None,
    applied: AttemptApplied,
    *,
    policy: CalculationPolicy,
    now: datetime,
) -> Evolved | NeedsHistory:
    """Fold one new attempt (the shell has already dropped redeliveries) onto the tally."""
    policy = validate_policy(policy)
    if state is not None and state.policy != policy:
        return NeedsHistory("the policy changed since the tally was built")
    if applied.event.status != "scored" or applied.event.score is None:
        return _with_marker(state, applied, policy), ()
    order = EvidenceOrder(applied.event.assessed_at, applied.stream_version)
    if state is not None and state.newest is not None and order < state.newest:
        return NeedsHistory("evidence older than the newest: its place in the order changed")
    item = evidence_of(applied)
    tally = add_to_tally(state.tally if state else Tally(), score_on_scale(item, policy), policy)
    new_state = StudentStandard(
        key=key_of(applied.event),
        policy=policy,
        tally=tally,
        newest=order,
        standing=standing_of(result_of(tally, policy), policy),
        evidence_count=tally.count,
        last_bus_sequence=max(applied.bus_sequence, state.last_bus_sequence if state else 0),
    )
    return new_state, _changes(state, new_state, cause_of(applied), now)


def _with_marker(
    state: StudentStandard | None, applied: AttemptApplied, policy: CalculationPolicy
) -> StudentStandard:
    """Missing, excused or incomplete work: shown beside the result, never in the tally."""
    if state is None:
        state = state_from_evidence(key_of(applied.event), (), policy=policy)
    return msgspec.structs.replace(
        state, last_bus_sequence=max(applied.bus_sequence, state.last_bus_sequence)
    )


def replay(
    key: StudentStandardKey,
    evidence: Sequence[Evidence],
    *,
    before: StudentStandard | None,
    cause: ChangeCause,
    policy: CalculationPolicy,
    now: datetime,
    bus_sequence: int = 0,
) -> Evolved:
    """The state from the standard's whole evidence set; a change if the standing moved."""
    new_state = state_from_evidence(key, evidence, policy=policy)
    new_state = msgspec.structs.replace(
        new_state,
        last_bus_sequence=max(bus_sequence, before.last_bus_sequence if before else 0),
    )
    return new_state, _changes(before, new_state, cause, now)


def state_from_evidence(
    key: StudentStandardKey, evidence: Sequence[Evidence], *, policy: CalculationPolicy
) -> StudentStandard:
    policy = validate_policy(policy)
    ordered = sorted(evidence, key=lambda item: (item.assessed_at, item.recorded_seq))
    scored = [item for item in ordered if item.status == "scored" and item.score is not None]
    tally = tally_of([score_on_scale(item, policy) for item in scored], policy)
    newest = scored[-1] if scored else None
    return StudentStandard(
        key=key,
        policy=policy,
        tally=tally,
        newest=EvidenceOrder(newest.assessed_at, newest.recorded_seq) if newest else None,
        standing=standing_of(result_of(tally, policy), policy) if scored else NO_STANDING,
        evidence_count=len(scored),
        last_bus_sequence=0,
    )


def mastery_moved(before: Standing, after: Standing) -> bool:
    """A change for families and SIS: the level or the mastered flag moved, not the score."""
    return (before.level, before.mastered) != (after.level, after.mastered)


def _changes(
    before: StudentStandard | None, after: StudentStandard, cause: ChangeCause, now: datetime
) -> tuple[MasteryChanged, ...]:
    previous = before.standing if before else NO_STANDING
    if not mastery_moved(previous, after.standing):
        return ()
    key, standing = after.key, after.standing
    # One event can move many students (a policy change): the change id names both.
    change_name = (
        f"{cause.event_id}/{key.student_id}" if cause.reason == "policy" else cause.event_id
    )
    return (
        MasteryChanged(
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
        ),
    )
