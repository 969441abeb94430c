"""What the roster projection answers: classes, their students, terms. PostgreSQL."""

import msgspec

from shared.contract.events.roster import ClassDefined, PersonDefined, TermDefined
from shared.platform.postgres import DbConnection


class MemberOut(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    role: str  # the enrollment's: student, teacher, ...
    display_name: str | None  # None: not in the roster's people


class ClassOut(msgspec.Struct, frozen=True, kw_only=True):
    class_id: str
    title: str
    school_id: str | None
    term_ids: tuple[str, ...]
    class_code: str | None
    members: list[MemberOut] | None = None  # listed for one class, not in a list of classes


def _class(data: str, members: list[MemberOut] | None) -> ClassOut:
    found = msgspec.json.decode(data, type=ClassDefined)
    return ClassOut(
        class_id=found.class_id,
        title=found.title,
        school_id=found.school_id,
        term_ids=found.term_ids,
        class_code=found.class_code,
        members=members,
    )


async def classes_of(connection: DbConnection, tenant_id: str) -> list[ClassOut]:
    rows = await connection.fetch(
        'SELECT data::text FROM roster_classes WHERE tenant_id = $1 ORDER BY entity_id COLLATE "C"',
        tenant_id,
    )
    return [_class(row["data"], None) for row in rows]


async def one_class(connection: DbConnection, tenant_id: str, class_id: str) -> ClassOut | None:
    data = await connection.fetchval(
        "SELECT data::text FROM roster_classes WHERE tenant_id = $1 AND entity_id = $2",
        tenant_id,
        class_id,
    )
    if data is None:
        return None
    return _class(data, await members_of(connection, tenant_id, class_id))


async def members_of(connection: DbConnection, tenant_id: str, class_id: str) -> list[MemberOut]:
    """Everyone enrolled in the class, by id; a person enrolled twice (two roles) once per role."""
    rows = await connection.fetch(
        "SELECT e.person_id, e.role, p.data::text AS person FROM roster_enrollments e "
        "LEFT JOIN roster_people p ON p.tenant_id = e.tenant_id AND p.entity_id = e.person_id "
        "WHERE e.tenant_id = $1 AND e.class_id = $2 "
        'ORDER BY e.person_id COLLATE "C", e.role',
        tenant_id,
        class_id,
    )
    return [
        MemberOut(
            person_id=row["person_id"],
            role=row["role"],
            display_name=(
                msgspec.json.decode(row["person"], type=PersonDefined).display_name
                if row["person"]
                else None
            ),
        )
        for row in rows
    ]


async def term_of(connection: DbConnection, tenant_id: str, term_id: str) -> TermDefined | None:
    data = await connection.fetchval(
        "SELECT data::text FROM roster_terms WHERE tenant_id = $1 AND entity_id = $2",
        tenant_id,
        term_id,
    )
    return None if data is None else msgspec.json.decode(data, type=TermDefined)


class RosterNames:
    """A student's display name as the roster gives it (the family report's `StudentNames`)."""

    async def name_of(
        self, connection: DbConnection, tenant_id: str, student_id: str
    ) -> str | None:
        data = await connection.fetchval(
            "SELECT data::text FROM roster_people "
            "WHERE tenant_id = $1 AND entity_id = $2 AND role = 'student'",
            tenant_id,
            student_id,
        )
        return msgspec.json.decode(data, type=PersonDefined).display_name if data else None
