"""Consumes the school's roster (`rosters.*.changed`) and keeps what families' emails need from
it: each student's display name (`student_names`) and guardians (`guardians` rows that name the
roster person they came from), resolved through notify's copy of the roster's people
(`roster_contacts`), so a student and their guardians may arrive in either order.

Each event about a person applies once: one whose log number is not newer than the person's on
record (a redelivery, or an older event) changes nothing. Guardians set through the API are never
changed or removed here, nor is any delivery a family chose (the table grants no such update).
"""

import logging
from collections.abc import Sequence

import asyncpg

from services.notify.adapters.family import set_student_name
from services.notify.core.roster_links import RosterContact, guardians_of, is_newer
from shared.contract.cloudevents import PoisonMessage
from shared.contract.events.roster import PersonDefined, RosterChange, RosterRemoved
from shared.platform.bus_users import ROSTER_DURABLE
from shared.platform.consumer import Delivered
from shared.platform.postgres import DbConnection

ROSTER_CONSUMER = ROSTER_DURABLE
ROSTER_LOCKS = 0x4E524F  # the class (first int4 key) of notify's roster advisory locks
logger = logging.getLogger(__name__)

_CONTACT_COLUMNS = "person_id, number, role, display_name, email, language, guardian_ids, removed"


class RosterFollower:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def handle_roster_events(self, batch: Sequence[Delivered[RosterChange]]) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            for delivered in batch:
                number = delivered.envelope.streamversion
                if number is None:
                    raise PoisonMessage("a roster event without its roster log number")
                await apply_roster_change(connection, delivered.envelope.data, number)


async def apply_roster_change(connection: DbConnection, change: RosterChange, number: int) -> None:
    """Apply one roster event (the `number`-th of its tenant's log); only people matter here."""
    if isinstance(change, PersonDefined):
        contact = RosterContact(
            person_id=change.person_id,
            number=number,
            role=change.role,
            display_name=change.display_name,
            email=change.email,
            language=change.language,
            guardian_ids=change.guardian_ids,
        )
    elif isinstance(change, RosterRemoved) and change.kind == "person":
        contact = RosterContact(person_id=change.entity_id, number=number, role="", removed=True)
    else:
        return
    tenant_id = change.tenant_id
    await connection.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", ROSTER_LOCKS, tenant_id
    )
    if not is_newer(number, await _contact(connection, tenant_id, contact.person_id)):
        return
    await _keep_contact(connection, tenant_id, contact)
    if isinstance(change, PersonDefined) and change.role == "student":
        await set_student_name(connection, tenant_id, change.person_id, change.display_name)
    for student_id in {contact.person_id, *await _linked_students(connection, tenant_id, contact)}:
        await _sync_guardians(connection, tenant_id, student_id)


async def _contact(
    connection: DbConnection, tenant_id: str, person_id: str
) -> RosterContact | None:
    found = await _contacts(connection, tenant_id, [person_id])
    return found.get(person_id)


async def _contacts(
    connection: DbConnection, tenant_id: str, person_ids: Sequence[str]
) -> dict[str, RosterContact]:
    rows = await connection.fetch(
        f"SELECT {_CONTACT_COLUMNS} FROM roster_contacts "  # noqa: S608 - constant
        "WHERE tenant_id = $1 AND person_id = ANY($2::text[])",
        tenant_id,
        list(person_ids),
    )
    return {
        row["person_id"]: RosterContact(
            person_id=row["person_id"],
            number=row["number"],
            role=row["role"],
            display_name=row["display_name"],
            email=row["email"],
            language=row["language"],
            guardian_ids=tuple(row["guardian_ids"]),
            removed=row["removed"],
        )
        for row in rows
    }


async def _keep_contact(connection: DbConnection, tenant_id: str, contact: RosterContact) -> None:
    # A removal keeps what was known of the person (role, name) beside its marker.
    await connection.execute(
        f"INSERT INTO roster_contacts (tenant_id, {_CONTACT_COLUMNS}) "  # noqa: S608 - constant
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, person_id) DO UPDATE "
        "SET number = excluded.number, removed = excluded.removed, "
        "role = CASE WHEN excluded.removed THEN roster_contacts.role ELSE excluded.role END, "
        "display_name = CASE WHEN excluded.removed THEN roster_contacts.display_name "
        "ELSE excluded.display_name END, email = excluded.email, language = excluded.language, "
        "guardian_ids = excluded.guardian_ids",
        tenant_id,
        contact.person_id,
        contact.number,
        contact.role,
        contact.display_name,
        contact.email,
        contact.language,
        list(contact.guardian_ids),
        contact.removed,
    )


async def _linked_students(
    connection: DbConnection, tenant_id: str, contact: RosterContact
) -> list[str]:
    """The students who name this person among their guardians."""
    rows = await connection.fetch(
        "SELECT person_id FROM roster_contacts WHERE tenant_id = $1 AND guardian_ids @> $2",
        tenant_id,
        [contact.person_id],
    )
    return [row["person_id"] for row in rows]


async def _sync_guardians(connection: DbConnection, tenant_id: str, student_id: str) -> None:
    """Make the student's roster guardian rows what the roster on record says."""
    student = await _contact(connection, tenant_id, student_id)
    people = await _contacts(connection, tenant_id, student.guardian_ids if student else ())
    links = guardians_of(student, people)
    for person_id in links.without_email:
        logger.info(
            "roster of %s: guardian %s of student %s has no email; not written to",
            tenant_id,
            person_id,
            student_id,
        )
    guardians = links.guardians
    await connection.execute(
        "DELETE FROM guardians g WHERE tenant_id = $1 AND student_id = $2 "
        "AND roster_person_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
        "unnest($3::text[], $4::text[]) AS k(person_id, email) "
        "WHERE k.person_id = g.roster_person_id AND k.email = g.email)",
        tenant_id,
        student_id,
        [each.person_id for each in guardians],
        [each.email for each in guardians],
    )
    await connection.execute(
        "INSERT INTO guardians (tenant_id, student_id, email, name, language, roster_person_id) "
        "SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) "
        "ON CONFLICT (tenant_id, student_id, email) DO UPDATE SET name = excluded.name, "
        "language = excluded.language, roster_person_id = excluded.roster_person_id "
        "WHERE guardians.roster_person_id IS NOT NULL",
        tenant_id,
        student_id,
        [each.email for each in guardians],
        [each.name for each in guardians],
        [each.language for each in guardians],
        [each.person_id for each in guardians],
    )
