"""What a family reads when mastery changes. Pure: the event and the guardian in, text out."""

import uuid

import msgspec

from shared.contract.events.mastery import MasteryChanged

_MESSAGE_NAMESPACE = uuid.UUID("0c8c7a52-5d0e-4d7b-9a44-2f4d8f7c1b36")
_key_encoder = msgspec.json.Encoder()


class Guardian(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    name: str = ""


class Email(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    subject: str
    body: str


def _level_text(level: float | None, label: str | None) -> str:
    if level is None:
        return "no evidence yet"
    return f"{label} (level {level:g})" if label else f"level {level:g}"


def _headline(change: MasteryChanged) -> str:
    if change.mastered and not change.previous_mastered:
        return f"has mastered {change.standard_id}"
    if change.previous_mastered and not change.mastered:
        return f"is no longer at mastery on {change.standard_id}"
    if change.previous_level is None:
        return f"has a first result on {change.standard_id}"
    if change.level is not None and change.level > change.previous_level:
        return f"moved up on {change.standard_id}"
    return f"has a new level on {change.standard_id}"


def _cause(change: MasteryChanged) -> str:
    """Why the level moved, in the family's terms: new evidence, a correction, or a new policy."""
    method = f"the school's '{change.method}' method"
    if change.reason == "correction":
        return (
            f"A teacher corrected the record (attempt {change.caused_by_attempt_id} was voided or "
            f"rescored); the result was recalculated with {method}."
        )
    if change.reason == "policy":
        return (
            f"The school changed how this standard is graded; the same evidence, recalculated "
            f"with {method}, now gives this result."
        )
    return (
        f"Based on the assessment of {change.assessed_at.date().isoformat()} "
        f"(attempt {change.caused_by_attempt_id}), using {method}."
    )


def compose_change_email(change: MasteryChanged, guardian: Guardian) -> Email:
    student = change.student_id
    greeting = f"Dear {guardian.name}," if guardian.name else "Hello,"
    previous = (
        _level_text(change.previous_level, None) if change.previous_level is not None else None
    )
    lines = [
        greeting,
        "",
        f"Student {student} {_headline(change)}.",
        "",
        f"Now: {_level_text(change.level, change.level_label)}"
        + (" - mastered." if change.mastered else " - not yet mastered."),
    ]
    if previous is not None:
        lines.append(f"Before: {previous}.")
    lines += [
        _cause(change),
        "",
        "In mastery-based grading the newest evidence counts: students can reassess after "
        "corrective work, and missing work is never counted as a zero.",
    ]
    return Email(
        to=guardian.email,
        subject=f"{student} {_headline(change)}",
        body="\n".join(lines) + "\n",
    )


def message_id(tenant_id: str, change_id: str, guardian_email: str, domain: str) -> str:
    """The email's Message-ID, the same every time it is sent: a copy sent again after a crash is
    the same message to every mail system that sees both."""
    name = _key_encoder.encode([tenant_id, change_id, guardian_email]).decode()
    return f"<{uuid.uuid5(_MESSAGE_NAMESPACE, name)}@{domain}>"
