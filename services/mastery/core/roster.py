"""What a roster import or a class command changes: the roster events to record, worked out
against the roster on record. Pure.

An import that repeats what is on record records nothing, so importing the same file twice
appends no event. A bulk file is the complete set of its kind: what is on record and not in it
is removed. A delta file changes only the rows it lists (`tobedeleted` removes).
"""

import hashlib
from collections.abc import Iterator, Mapping

import msgspec

from services.mastery.core.oneroster import RosterImport
from shared.contract.events.roster import (
    Defined,
    EnrollmentDefined,
    PersonDefined,
    RosterChange,
    RosterRemoved,
    entity_id,
    kind_of,
)

Key = tuple[str, str]  # (kind, id)
OnRecord = Mapping[Key, Defined]


def key_of(event: Defined) -> Key:
    return kind_of(event), entity_id(event)


def roster_changes(
    on_record: OnRecord, incoming: RosterImport, tenant_id: str
) -> list[RosterChange]:
    changes: list[RosterChange] = []
    listed: set[Key] = set()
    for event in incoming.defined:
        key = key_of(event)
        listed.add(key)
        current = on_record.get(key)
        new = _keeping_role(current, event)
        if new != current:
            changes.append(new)
    gone = [key for key in incoming.removed if key in on_record]
    gone += [key for key in on_record if incoming.modes.get(key[0]) == "bulk" and key not in listed]
    changes.extend(_removals(on_record, gone, tenant_id))
    return changes


def _keeping_role(current: Defined | None, event: Defined) -> Defined:
    """A person the import has no role for keeps the role on record."""
    if (
        isinstance(event, PersonDefined)
        and event.role == "other"
        and isinstance(current, PersonDefined)
    ):
        return msgspec.structs.replace(event, role=current.role)
    return event


# Removals go dependents first: enrollments before the classes and people they join.
_REMOVAL_ORDER = {"enrollment": 0, "class": 1, "person": 2, "term": 3, "org": 4}


def _removals(on_record: OnRecord, gone: list[Key], tenant_id: str) -> Iterator[RosterRemoved]:
    for kind, entity in sorted(set(gone), key=lambda key: (_REMOVAL_ORDER[key[0]], key[1])):
        if (kind, entity) in on_record:
            yield RosterRemoved(tenant_id=tenant_id, kind=kind, entity_id=entity)


def enrollment_id(class_id: str, person_id: str) -> str:
    """The id of an enrollment made through the class API (a OneRoster file names its own)."""
    digest = hashlib.sha256(f"{class_id}\0{person_id}".encode()).hexdigest()[:32]
    return f"enrollment-{digest}"


def enroll(
    on_record: OnRecord, tenant_id: str, class_id: str, person_id: str, role: str = "student"
) -> list[RosterChange]:
    event = EnrollmentDefined(
        tenant_id=tenant_id,
        enrollment_id=enrollment_id(class_id, person_id),
        class_id=class_id,
        person_id=person_id,
        role=role,
    )
    return [] if on_record.get(key_of(event)) == event else [event]


def define(on_record: OnRecord, event: Defined) -> list[RosterChange]:
    return [] if on_record.get(key_of(event)) == event else [event]


def remove(on_record: OnRecord, tenant_id: str, key: Key) -> list[RosterChange]:
    return list(_removals(on_record, [key], tenant_id))
