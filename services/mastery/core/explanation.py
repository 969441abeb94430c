"""A proficiency with the evidence named: what counted, what did not and why. Pure.

The method's steps (`calculation.calculate`) say how the number was reached; these lines say from
what: each assessment that counted (id, date, score and its conversion onto the scale), each that
did not (voided, excused) and each marker (missing, incomplete). Worked out on read, never in the
projector's path.
"""

from collections.abc import Iterable, Sequence

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


def explained(
    evidence: Sequence[Evidence],
    policy: CalculationPolicy,
    *,
    voided: Sequence[Evidence] = (),
    rescored: frozenset[str] = frozenset(),
) -> Proficiency:
    """`calculate` on the live evidence, its steps led by the evidence they came from."""
    proficiency = calculate(evidence, policy)
    lines = evidence_steps(evidence, policy, voided=voided, rescored=rescored)
    return msgspec.structs.replace(proficiency, steps=(*lines, *proficiency.steps))


def explained_records(records: Iterable[EvidenceRecord], policy: CalculationPolicy) -> Proficiency:
    """From every evidence record, voided ones too; a live record that was corrected was rescored
    (a void is final)."""
    every = list(records)
    return explained(
        [record.evidence for record in every if not record.voided],
        policy,
        voided=[record.evidence for record in every if record.voided],
        rescored=frozenset(
            record.evidence.attempt_id
            for record in every
            if not record.voided and record.corrected_version > 0
        ),
    )


def evidence_steps(
    evidence: Sequence[Evidence],
    policy: CalculationPolicy,
    *,
    voided: Sequence[Evidence] = (),
    rescored: frozenset[str] = frozenset(),
) -> Steps:
    ordered = sorted(evidence, key=lambda item: (item.assessed_at, item.recorded_seq))
    steps = [
        f"Counted: {_named(item)}: {converted(item, policy)}"
        + (
            ", rescored (the score first recorded no longer counts)"
            if item.attempt_id in rescored
            else ""
        )
        for item in ordered
        if item.status == "scored" and item.score is not None
    ]
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


def _named(item: Evidence) -> str:
    return f"{item.attempt_id} ({item.assessed_at.date().isoformat()})"
