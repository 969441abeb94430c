"""Notify's roster follower against PostgreSQL, as the notify role: links resolve whichever of a
student and their guardian comes first, old news changes nothing, and what families and admins
chose stays."""

import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.notify.adapters.roster import apply_roster_change
from services.notify.adapters.store import guardians_of, replace_guardians
from services.notify.core.messages import Guardian
from shared.contract.events.roster import PersonDefined, RosterRemoved
from tests.support.roles import service_url
from tests.support.tenants import new_tenant


def _student(tenant: str, *guardian_ids: str, given: str = "Ana") -> PersonDefined:
    return PersonDefined(
        tenant_id=tenant, person_id="s1", role="student", given_name=given, family_name="Ruiz",
        guardian_ids=guardian_ids,
    )  # fmt: skip


def _guardian(tenant: str, person_id: str, email: str | None) -> PersonDefined:
    return PersonDefined(
        tenant_id=tenant, person_id=person_id, role="guardian", given_name="Paz",
        family_name="Ruiz", email=email, language="es",
    )  # fmt: skip


@pytest.fixture
async def notify(database_url: str) -> AsyncIterator["asyncpg.Connection[asyncpg.Record]"]:
    connection = await asyncpg.connect(
        service_url(database_url, "notify"), server_settings={"app.tenant_id": "*"}
    )
    yield connection
    await connection.close()


async def _emails(connection: asyncpg.Connection, tenant: str) -> list[tuple[str, str, str]]:
    return [
        (each.email, each.language, each.delivery)
        for each in await guardians_of(connection, tenant, "s1")
    ]


async def test_a_link_resolves_whichever_comes_first_and_old_news_changes_nothing(
    pool: asyncpg.Pool, notify: asyncpg.Connection
) -> None:
    tenant, _ = await new_tenant(pool)
    # The guardian first, then the student who names them.
    await apply_roster_change(notify, _guardian(tenant, "g1", "paz@example.org"), 1)
    assert await _emails(notify, tenant) == []
    await apply_roster_change(notify, _student(tenant, "g1"), 2)
    assert await _emails(notify, tenant) == [("paz@example.org", "es", "immediate")]
    name = "SELECT display_name FROM student_names WHERE tenant_id = $1 AND student_id = 's1'"
    assert await notify.fetchval(name, tenant) == "Ana Ruiz"

    # A later roster drops the link; the earlier event delivered again brings nothing back.
    await apply_roster_change(notify, _student(tenant, given="Ana María"), 3)
    await apply_roster_change(notify, _student(tenant, "g1"), 2)
    assert await _emails(notify, tenant) == []
    assert await notify.fetchval(name, tenant) == "Ana María Ruiz"

    # Linked again, then the guardian removed: gone; their definition come late changes nothing.
    await apply_roster_change(notify, _student(tenant, "g1"), 4)
    assert [each[0] for each in await _emails(notify, tenant)] == ["paz@example.org"]
    removed = RosterRemoved(tenant_id=tenant, kind="person", entity_id="g1")
    await apply_roster_change(notify, removed, 5)
    await apply_roster_change(notify, _guardian(tenant, "g1", "paz@example.org"), 1)
    assert await _emails(notify, tenant) == []


async def test_a_guardian_without_an_email_is_skipped_and_logged_without_their_details(
    pool: asyncpg.Pool, notify: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    tenant, _ = await new_tenant(pool)
    caplog.set_level(logging.INFO, logger="services.notify.adapters.roster")
    await apply_roster_change(notify, _student(tenant, "g1"), 1)
    await apply_roster_change(notify, _guardian(tenant, "g1", None), 2)
    assert await _emails(notify, tenant) == []
    [line] = [r.getMessage() for r in caplog.records if "no email" in r.getMessage()]
    assert "g1" in line
    assert "Paz" not in line
    assert "Ruiz" not in line


async def test_an_import_never_resets_what_a_family_or_an_admin_chose(
    pool: asyncpg.Pool, notify: asyncpg.Connection
) -> None:
    tenant, _ = await new_tenant(pool)
    await replace_guardians(
        notify, tenant, "s1", [Guardian(email="api@example.org", delivery="weekly_digest")]
    )
    await apply_roster_change(notify, _guardian(tenant, "g1", "paz@example.org"), 1)
    await apply_roster_change(notify, _guardian(tenant, "g2", "api@example.org"), 2)
    await apply_roster_change(notify, _student(tenant, "g1", "g2"), 3)
    # The family unsubscribed by their link.
    await notify.execute(
        "INSERT INTO unsubscribes (tenant_id, address) VALUES ($1, 'paz@example.org')", tenant
    )
    # The next import names everyone again, and then drops the guardian the API also set.
    await apply_roster_change(notify, _guardian(tenant, "g1", "paz@example.org"), 4)
    await apply_roster_change(notify, _student(tenant, "g1", "g2"), 5)
    assert await _emails(notify, tenant) == [
        ("api@example.org", "en", "weekly_digest"),
        ("paz@example.org", "es", "off"),
    ]
    await apply_roster_change(notify, _student(tenant, "g1"), 6)
    assert [each[0] for each in await _emails(notify, tenant)] == [
        "api@example.org",
        "paz@example.org",
    ]
    # An admin's PUT replaces its own guardians and leaves the roster's.
    await replace_guardians(notify, tenant, "s1", [])
    assert await _emails(notify, tenant) == [("paz@example.org", "es", "off")]
