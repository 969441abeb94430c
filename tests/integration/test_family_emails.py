"""Family emails from a consumed change to the SMTP sink: names, language, settings and delivery
preferences set over the notify API, the planner, the mailer, and what the guardian receives."""

from collections.abc import AsyncIterator
from email.message import EmailMessage

import asyncpg
import msgspec
import pytest
from httpx import AsyncClient
from litestar.testing import AsyncTestClient

from devtools.embedded import SmtpSink
from services.notify.adapters.mailer import SmtpMailer
from services.notify.adapters.planner import NotificationPlanner
from services.notify.app import create_app
from services.notify.config import NotifyConfig
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.mastery import AnyMasteryEvent
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.family_email import CHANGE, NO_DELAY
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import new_tenant

MAIL_FROM = "Updates <updates@school.example>"


@pytest.fixture
async def notify(
    database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> AsyncIterator[AsyncClient]:
    config = NotifyConfig(
        database_url=service_url(database_url, "notify"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
        smtp_url=smtp_sink.url,
        mail_from=MAIL_FROM,
    )
    async with AsyncTestClient(create_app(config)) as client:
        yield client


async def _consume(pool: asyncpg.Pool, tenant: str, change_id: str) -> None:
    change = msgspec.structs.replace(CHANGE, tenant_id=tenant, change_id=change_id)
    envelope = CloudEvent[AnyMasteryEvent](
        id=change_id, source="/test", type=cloudevent_type(change), subject="x",
        time=change.changed_at, tenantid=tenant, streamversion=1, data=change,
    )  # fmt: skip
    await NotificationPlanner(pool, defaults=NO_DELAY).handle_mastery_events(
        [Delivered(envelope, 1)]
    )


async def test_a_spanish_guardian_receives_a_multipart_email_in_spanish(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant, headers = await new_tenant(pool)
    settings = {
        "time_zone": "America/New_York",
        "portal_url_template": "https://portal.example.org/s/{student_id}/{standard_id}",
        "reply_to": "office@school.example.org",
        "grace_seconds": 0,
        "quiet_hours": None,
    }
    answers = [
        await notify.put("/v1/students/noah", json={"display_name": "Noah Díaz"}, headers=headers),
        await notify.put("/v1/mail-settings", json=settings, headers=headers),
        await notify.put(
            "/v1/students/noah/guardians",
            json={"guardians": [
                {"email": "rosa@example.org", "name": "Rosa", "language": "es-MX"},
                {"email": "off@example.org", "delivery": "off"},
                {"email": "digest@example.org", "delivery": "weekly_digest"},
            ]},
            headers=headers,
        ),
    ]  # fmt: skip
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    await _consume(pool, tenant, "change-1")
    mailer = SmtpMailer(
        pool,
        smtp_sink.url,
        MAIL_FROM,
        batch_size=10,
        idle=0.05,
        storm_defaults=NO_DELAY,
    )
    # The service's own mailer may send it first: either way it is the one email.
    await mailer.send_due()

    async def received() -> list[EmailMessage]:
        return list(smtp_sink.messages)

    [message] = await eventually(received, lambda messages: len(messages) >= 1)
    assert message["To"] == "rosa@example.org"
    assert message.get_content_type() == "multipart/alternative"
    assert message["Content-Language"] == "es"
    assert message["Date"] is not None
    assert message["Message-ID"].endswith("@school.example>")
    assert message["Reply-To"] == "office@school.example.org"
    assert message["Subject"] == "Noah Díaz ha alcanzado el dominio de «Add and subtract fractions»"
    text, html = (part.get_content() for part in message.iter_parts())
    assert "Evaluación quiz-2-noah del 1 de octubre de 2026" in text
    assert "Noah Díaz" in html
    assert "Add and subtract fractions" in html

    async def statuses() -> dict[str, str]:
        rows = await pool.fetch(
            "SELECT guardian_email, status FROM notifications WHERE tenant_id = $1", tenant
        )
        return {row["guardian_email"]: row["status"] for row in rows}

    # The mailer that sent it marks it sent just after the sink took it.
    wanted = {"rosa@example.org": "sent", "digest@example.org": "held_for_digest"}
    assert await eventually(statuses, lambda found: found == wanted) == wanted


async def test_a_guardian_hears_only_of_their_own_students(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant, headers = await new_tenant(pool)
    guardians = {"guardians": [{"email": "other@example.org"}]}
    answer = await notify.put("/v1/students/maya/guardians", json=guardians, headers=headers)
    assert answer.status_code == 200
    await _consume(pool, tenant, "change-2")  # a change of noah's
    assert (
        await pool.fetchval("SELECT count(*) FROM notifications WHERE tenant_id = $1", tenant) == 0
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [("/v1/mail-settings", {"time_zone": "Mars/Olympus"}, "time_zone"),
     ("/v1/mail-settings", {"portal_url_template": "https://p/{student}"}, "portal_url_template"),
     ("/v1/mail-settings", {"reply_to": "not an address"}, "reply_to"),
     ("/v1/students/noah/guardians",
      {"guardians": [{"email": "a@example.org", "language": "english please"}]}, "language"),
     ("/v1/students/noah/guardians",
      {"guardians": [{"email": "a@example.org", "delivery": "hourly"}]}, "delivery")],
)  # fmt: skip
async def test_settings_and_preferences_are_checked_at_the_edge(
    pool: asyncpg.Pool, notify: AsyncClient, path: str, body: dict[str, object], field: str
) -> None:
    _, headers = await new_tenant(pool)
    answer = await notify.put(path, json=body, headers=headers)
    assert answer.status_code in (400, 422)
    assert field in answer.text
