"""Guardians from the school's roster: which of a student's OneRoster `agents` notify can write
to. Pure: the people on record come in, the guardians (and the links skipped) go out."""

from collections.abc import Mapping

import msgspec


class RosterContact(msgspec.Struct, frozen=True, kw_only=True):
    """A roster person as notify keeps it (table `roster_contacts`)."""

    person_id: str
    number: int  # the roster log number of the newest event applied
    role: str
    display_name: str = ""
    email: str | None = None
    language: str | None = None
    guardian_ids: tuple[str, ...] = ()
    removed: bool = False


class RosterGuardian(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    email: str
    name: str
    language: str


class Links(msgspec.Struct, frozen=True, kw_only=True):
    guardians: tuple[RosterGuardian, ...]
    # Linked guardians notify cannot write to (no email): skipped, and said so.
    without_email: tuple[str, ...]


def is_newer(event_number: int, on_record: RosterContact | None) -> bool:
    """Whether an event about a person is news: a redelivered or older one is not."""
    return on_record is None or on_record.number < event_number


def guardians_of(student: RosterContact | None, people: Mapping[str, RosterContact]) -> Links:
    """The student's roster guardians: each linked person on record, not removed, with an
    email (once per address). A link to a person not on record yet waits for them."""
    if student is None or student.removed or student.role != "student":
        return Links(guardians=(), without_email=())
    found: dict[str, RosterGuardian] = {}
    without_email: list[str] = []
    for person_id in student.guardian_ids:
        person = people.get(person_id)
        if person is None or person.removed:
            continue
        if not person.email:
            without_email.append(person_id)
            continue
        found.setdefault(
            person.email.lower(),
            RosterGuardian(
                person_id=person_id,
                email=person.email,
                name=person.display_name,
                language=person.language or "en",
            ),
        )
    return Links(guardians=tuple(found.values()), without_email=tuple(without_email))
