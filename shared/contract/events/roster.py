"""The roster event family: schools, terms, classes, people and enrollments, recorded by the
mastery service from a OneRoster import or its class API.

Each tenant has one roster log, numbered 1, 2, ... in the order changes were recorded. A
`*_defined` event carries the whole entity (the newest one is the truth); a `*_removed` event
takes it away. The projection of the log is the roster tables; the log is kept forever.
"""

from datetime import date

import msgspec

from shared.contract.ids import OpaqueId

PersonRole = str  # "student", "guardian", "teacher" or "other"


class RosterEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    tenant_id: str


class OrgDefined(RosterEvent, frozen=True, kw_only=True, tag="org_defined.v1"):
    org_id: OpaqueId
    name: str
    org_type: str
    parent_id: OpaqueId | None = None


class TermDefined(RosterEvent, frozen=True, kw_only=True, tag="term_defined.v1"):
    """A OneRoster academic session: a school year, semester, term or grading period."""

    term_id: OpaqueId
    title: str
    term_type: str
    start_date: date
    end_date: date
    school_year: int
    parent_id: OpaqueId | None = None


class ClassDefined(RosterEvent, frozen=True, kw_only=True, tag="class_defined.v1"):
    class_id: OpaqueId
    title: str
    school_id: OpaqueId | None = None
    term_ids: tuple[OpaqueId, ...] = ()
    class_code: str | None = None


class PersonDefined(RosterEvent, frozen=True, kw_only=True, tag="person_defined.v1"):
    """A student, guardian or teacher. `guardian_ids` are a student's OneRoster `agents`."""

    person_id: OpaqueId
    role: PersonRole
    given_name: str
    family_name: str
    preferred_name: str | None = None
    email: str | None = None
    language: str | None = None
    guardian_ids: tuple[OpaqueId, ...] = ()

    @property
    def display_name(self) -> str:
        return f"{self.preferred_name or self.given_name} {self.family_name}".strip()


class EnrollmentDefined(RosterEvent, frozen=True, kw_only=True, tag="enrollment_defined.v1"):
    enrollment_id: OpaqueId
    class_id: OpaqueId
    person_id: OpaqueId
    role: str
    begin_date: date | None = None
    end_date: date | None = None


class RosterRemoved(RosterEvent, frozen=True, kw_only=True, tag="roster_removed.v1"):
    """An entity of the roster taken away: `kind` is org, term, class, person or enrollment."""

    kind: str
    entity_id: OpaqueId


RosterChange = (
    OrgDefined | TermDefined | ClassDefined | PersonDefined | EnrollmentDefined | (RosterRemoved)
)
Defined = OrgDefined | TermDefined | ClassDefined | PersonDefined | EnrollmentDefined

# The kind of each defined entity and its id, as the log and the removal name them.
KINDS: dict[type, str] = {
    OrgDefined: "org",
    TermDefined: "term",
    ClassDefined: "class",
    PersonDefined: "person",
    EnrollmentDefined: "enrollment",
}


def kind_of(event: Defined) -> str:
    return KINDS[type(event)]


def entity_id(event: Defined) -> str:
    if isinstance(event, OrgDefined):
        return event.org_id
    if isinstance(event, TermDefined):
        return event.term_id
    if isinstance(event, ClassDefined):
        return event.class_id
    if isinstance(event, PersonDefined):
        return event.person_id
    return event.enrollment_id


_decoder: msgspec.json.Decoder[RosterChange] = msgspec.json.Decoder(RosterChange)
_encoder = msgspec.json.Encoder()


def decode_roster_change(data: bytes | str) -> RosterChange:
    return _decoder.decode(data)


def encode_roster_change(event: RosterChange) -> bytes:
    return _encoder.encode(event)
