"""A proficiency with the evidence named: what counted, what did not and why. Pure.

The method's steps (`calculation.calculate`) say how the number was reached; these lines say from
what: each assessment that counted (id, date, score and its conversion onto the scale), each that
did not (voided, excused, a first score superseded by a rescore) and each marker (missing,
incomplete). Worked out on read, never in the projector's path.
"""

from collections.abc import Iterable, Mapping, Sequence

import msgspec

from services.mastery.core.calculation import (
    CalculationPolicy,
    Evidence,
    Proficiency,
    calculate,
)
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.scales import on_scale, proportional
from services.mastery.core.steps import Steps, number, shown

# Rescored attempts by id, each with its evidence as first recorded (None: not known).
Rescored = Mapping[str, Evidence | None]


def explained(
    evidence: Sequence[Evidence],
    policy: CalculationPolicy,
    *,
    voided: Sequence[Evidence] = (),
    rescored: Rescored | None = None,
    dated: bool = True,
) -> Proficiency:
    """`calculate` on the live evidence, its steps led by the evidence they came from (with their
    dates unless `dated` is false: the calculator's scores may have none)."""
    proficiency = calculate(evidence, policy)
    lines = evidence_steps(evidence, policy, voided=voided, rescored=rescored, dated=dated)
    return msgspec.structs.replace(proficiency, steps=(*lines, *proficiency.steps))


def explained_records(
    records: Iterable[EvidenceRecord],
    policy: CalculationPolicy,
    first_recorded: Mapping[str, Evidence] | None = None,
) -> Proficiency:
    """From every evidence record, voided ones too, and (by attempt id) the evidence as first
    recorded of those that were rescored, where known."""
    every, first = list(records), first_recorded or {}
    return explained(
        [record.evidence for record in every if not record.voided],
        policy,
        voided=[record.evidence for record in every if record.voided],
        rescored={
            record.evidence.attempt_id: first.get(record.evidence.attempt_id)
            for record in every
            if was_rescored(record)
        },
    )


def was_rescored(record: EvidenceRecord) -> bool:
    """A live record that was corrected was rescored (a void is final)."""
    return not record.voided and record.corrected_version > 0


def evidence_steps(
    evidence: Sequence[Evidence],
    policy: CalculationPolicy,
    *,
    voided: Sequence[Evidence] = (),
    rescored: Rescored | None = None,
    dated: bool = True,
) -> Steps:
    _named = _with_date if dated else _without_date
    ordered = sorted(evidence, key=lambda item: (item.assessed_at, item.recorded_seq))
    changed = rescored or {}
    scored = [item for item in ordered if item.status == "scored" and item.score is not None]
    steps = [
        f"Counted: {_named(item)}: {converted(item, policy)}"
        + (", rescored" if item.attempt_id in changed else "")
        for item in scored
    ]
    for item in scored:
        if item.attempt_id in changed:
            first = _superseded(changed[item.attempt_id], policy)
            steps.append(f"Not counted: {_named(item)}: {first}")
    for item in sorted(voided, key=lambda item: (item.assessed_at, item.recorded_seq)):
        was = f" (it scored {converted(item, policy)})" if item.score is not None else ""
        steps.append(f"Not counted: {_named(item)}: voided{was}")
    for item in ordered:
        if item.status == "excused":
            steps.append(f"Not counted: {_named(item)}: excused")
        elif item.status in {"missing", "incomplete"}:
            steps.append(f"Not counted: {_named(item)}: {item.status}, a marker, never a zero")
    return steps


def converted(item: Evidence, policy: CalculationPolicy) -> str:
    """A score as recorded and, for points, as it lands on the scale: "0 of 4 points → 1 (the
    scale's minimum)"; then the floor, if it raised it."""
    score, scale = item.score or 0.0, policy.scale
    on = on_scale(score, item.points_possible, scale)
    text = number(score)
    if item.points_possible is not None:
        text = f"{text} of {number(item.points_possible)} points → {shown(on)}"
        if proportional(score, item.points_possible, scale) < scale.minimum:
            text += " (the scale's minimum)"
    if policy.floor_percent is not None:
        floor = policy.floor_percent / 100 * scale.maximum
        if on < floor:
            text += f", raised to the floor of {number(floor)}"
    return text


def _superseded(first: Evidence | None, policy: CalculationPolicy) -> str:
    if first is None:
        return "the score first recorded, superseded by a rescore"
    if first.status != "scored" or first.score is None:
        return f"{first.status} as first recorded, superseded by a rescore"
    return f"{converted(first, policy)} as first recorded, superseded by a rescore"


def _with_date(item: Evidence) -> str:
    return f"{item.attempt_id} ({item.assessed_at.date().isoformat()})"


def _without_date(item: Evidence) -> str:
    return item.attempt_id
