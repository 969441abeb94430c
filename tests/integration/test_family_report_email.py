"""The family report link in a composed email opens the report: notify composes the email of a
change of Maya's (the real planner, composer and PostgreSQL), and the link in it, followed on the
real mastery app, shows Maya's report in her guardian's language until the day the email names.
A link made under another secret opens nothing; without a secret the email has no link line."""

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.notify.adapters import family, store
from services.notify.adapters.composer import compose_due
from services.notify.adapters.planner import plan_emails
from services.notify.adapters.rendering import Renderer
from services.notify.adapters.report_links import NO_REPORT_LINKS, ReportLinks
from services.notify.core.messages import Email, Guardian, TenantSettings
from services.notify.core.storms import StormSettings
from shared.platform.bus import BusNames
from tests.support.family_email import CHANGE
from tests.support.family_report import (
    FRACTIONS,
    NAMES,
    SECRET,
    TIME_ZONE,
    report_app,
    seeded_school,
)
from tests.support.roles import service_url
from tests.support.servers import Servers

MASTERY_PUBLIC_URL = "https://mastery.school.example"
LINK = re.compile(
    re.escape(MASTERY_PUBLIC_URL) + r"(/v1/family-reports/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"
)
# The school's zone is the report's (tests/support/family_report.py): both name the same day.
SETTINGS = TenantSettings(time_zone=TIME_ZONE)


def _links(secret: str) -> ReportLinks:
    return ReportLinks(
        secret=secret.encode(), base_url=MASTERY_PUBLIC_URL, lifetime=timedelta(days=30)
    )


async def _composed(database_url: str, tenant: str, links: ReportLinks) -> Email:
    """The email notify composes for Maya's guardian (es-MX) of her change on fractions."""
    url = service_url(database_url, "notify")
    connection = await asyncpg.connect(url, server_settings={"app.tenant_id": tenant})
    try:
        await family.set_student_name(connection, tenant, "maya", NAMES["maya"])
        await family.set_settings(connection, tenant, SETTINGS)
        guardian = Guardian(email="ana@example.org", name="Ana", language="es-MX")
        await store.replace_guardians(connection, tenant, "maya", [guardian])
        change = msgspec.structs.replace(
            CHANGE, tenant_id=tenant, student_id="maya", standard_id=FRACTIONS
        )
        await family.keep_change(connection, change)
        await store.enqueue_emails(connection, change, await plan_emails(connection, change))
    finally:
        await connection.close()
    pool = await asyncpg.create_pool(url, server_settings={"app.tenant_id": tenant})
    try:
        now = datetime.now(UTC) + timedelta(minutes=1)
        assert await compose_due(pool, Renderer(), now, 10, StormSettings(), links=links) == 1
        row = await pool.fetchrow(
            "SELECT subject, body, html, language FROM notifications WHERE composed "
            "AND status = 'pending' AND guardian_email = $1",
            guardian.email,
        )
    finally:
        await pool.close()
    assert row is not None
    return Email(to=guardian.email, **dict(row))


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


@pytest.fixture
async def mastery(database_url: str, servers: Servers, bus: BusNames) -> Any:
    async with report_app(database_url, servers, bus) as client:
        yield client


async def test_the_link_in_the_email_opens_the_students_report_in_the_guardians_language(
    pool: asyncpg.Pool, bus: BusNames, database_url: str, mastery: AsyncTestClient[Any]
) -> None:
    school = await seeded_school(pool, bus)
    email = await _composed(database_url, school, _links(SECRET))
    assert email.language == "es"
    found = LINK.search(email.body)
    assert found is not None, email.body
    path = found.group(1)
    assert f"Ver el informe completo de Maya López: {MASTERY_PUBLIC_URL}{path}\n" in email.body
    assert f'href="{MASTERY_PUBLIC_URL}{path}"' in email.html
    until = re.search(r"El enlace funciona hasta el ([^.]+)\.", email.body)
    assert until is not None
    page = await mastery.get(path)
    assert page.status_code == 200, page.text
    assert '<html lang="es">' in page.text
    assert _text(re.findall(r"<h1>(.*?)</h1>", page.text, re.S)[0]) == (
        "Informe de progreso: Maya López"
    )
    assert "q-noah" not in page.text  # Noah's evidence: another student's
    footer = _text(re.findall(r"<footer>(.*?)</footer>", page.text, re.S)[0])
    assert footer.endswith(f"Su enlace funciona hasta el {until.group(1)}.")


async def test_a_link_made_under_another_secret_opens_nothing(
    pool: asyncpg.Pool, bus: BusNames, database_url: str, mastery: AsyncTestClient[Any]
) -> None:
    school = await seeded_school(pool, bus)
    email = await _composed(
        database_url, school, _links("not-the-mastery-services-secret-0123456789")
    )
    found = LINK.search(email.body)
    assert found is not None, email.body
    answer = await mastery.get(found.group(1))
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/report-link-invalid")


async def test_without_a_secret_the_email_has_no_report_line(
    pool: asyncpg.Pool, bus: BusNames, database_url: str
) -> None:
    school = await seeded_school(pool, bus)
    email = await _composed(database_url, school, NO_REPORT_LINKS)
    assert "family-reports" not in email.body + email.html
    assert "informe completo" not in email.body + email.html
    assert "Lo que sigue:" in email.body
    assert "\n\n\n" not in email.body
