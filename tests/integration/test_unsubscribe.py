"""One-click unsubscribe (RFC 8058) end to end: the planner signs each guardian's link, the real
SMTP sink receives it in both headers, the notify API's public routes honour it (a POST turns the
guardian's emails off, a GET only shows a page in their language) and refuse any forgery."""

from collections.abc import AsyncIterator
from email.message import EmailMessage
from urllib.parse import urlsplit

import asyncpg
import msgspec
import pytest
from httpx import AsyncClient
from litestar.testing import AsyncTestClient

from devtools.embedded import SmtpSink
from services.notify.adapters.planner import NotificationPlanner, UnsubscribeLinks
from services.notify.app import create_app
from services.notify.config import NotifyConfig
from services.notify.core.unsubscribe import sign
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.mastery import AnyMasteryEvent
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.family_email import CHANGE, NO_DELAY
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import new_tenant

SECRET = "unsubscribe-secret-for-the-tests-0123456789"
PUBLIC_URL = "https://notify.school.example"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}
BROWSER = {**ONE_CLICK, "accept": "text/html,application/xhtml+xml"}
ROSA, ANA = "rosa@example.org", "ana@example.org"


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
        unsubscribe_secret=SECRET,
        notify_public_url=PUBLIC_URL,
        # Each change emailed at once, at any hour.
        mail_default_grace_seconds=0,
        mail_default_quiet_hours="",
    )
    async with AsyncTestClient(create_app(config)) as client:
        yield client


async def _consume(pool: asyncpg.Pool, tenant: str, change_id: str) -> None:
    change = msgspec.structs.replace(CHANGE, tenant_id=tenant, change_id=change_id)
    envelope = CloudEvent[AnyMasteryEvent](
        id=change_id, source="/test", type=cloudevent_type(change), subject="x",
        time=change.changed_at, tenantid=tenant, streamversion=1, data=change,
    )  # fmt: skip
    links = UnsubscribeLinks(SECRET.encode(), PUBLIC_URL)
    planner = NotificationPlanner(pool, defaults=NO_DELAY, unsubscribe=links)
    await planner.handle_mastery_events([Delivered(envelope, 1)])


async def _family(pool: asyncpg.Pool, notify: AsyncClient) -> tuple[str, dict[str, str]]:
    tenant, headers = await new_tenant(pool)
    guardians = {"guardians": [{"email": ROSA, "language": "es-MX"}, {"email": ANA}]}
    answer = await notify.put("/v1/students/noah/guardians", json=guardians, headers=headers)
    assert answer.status_code == 200
    return tenant, headers


async def _mail(pool: asyncpg.Pool, sink: SmtpSink, tenant: str) -> dict[str, EmailMessage]:
    """Plan the first change; each guardian's message, once the service's mailer sent both."""
    await _consume(pool, tenant, "change-1")

    async def received() -> dict[str, EmailMessage]:
        return {str(message["To"]): message for message in sink.messages}

    return await eventually(received, lambda messages: len(messages) == 2)


def _path(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith(f"<{PUBLIC_URL}/v1/unsubscribe/")
    assert header.endswith(">")
    return urlsplit(header[1:-1]).path


async def _unsubscribed(pool: asyncpg.Pool, tenant: str) -> set[str]:
    rows = await pool.fetch("SELECT address FROM unsubscribes WHERE tenant_id = $1", tenant)
    return {row["address"] for row in rows}


async def _deliveries(notify: AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    answer = await notify.get("/v1/students/noah/guardians", headers=headers)
    return {each["email"]: each["delivery"] for each in answer.json()["guardians"]}


async def test_the_one_click_post_of_the_header_link_stops_only_that_guardians_emails(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant, headers = await _family(pool, notify)
    received = await _mail(pool, smtp_sink, tenant)
    rosa = received[ROSA]
    assert rosa["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = _path(rosa)
    assert _path(received[ANA]) != path
    text, html = (part.get_content() for part in rosa.iter_parts())
    assert f"Dejar de recibir estos correos: {PUBLIC_URL}{path}" in text
    assert f'href="{PUBLIC_URL}{path}"' in html

    answer = await notify.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert answer.status_code == 204
    assert await _unsubscribed(pool, tenant) == {ROSA}
    assert await _deliveries(notify, headers) == {ROSA: "off", ANA: "immediate"}
    # An admin's PUT (a roster import) does not sign her up again.
    guardians = {"guardians": [{"email": ROSA, "language": "es"}, {"email": ANA}]}
    answer = await notify.put("/v1/students/noah/guardians", json=guardians, headers=headers)
    assert answer.json()["guardians"][0] == {
        "email": ROSA, "name": "", "language": "es", "delivery": "immediate"
    }  # fmt: skip
    assert await _deliveries(notify, headers) == {ROSA: "off", ANA: "immediate"}
    await _consume(pool, tenant, "change-2")
    planned = await pool.fetch(
        "SELECT guardian_email FROM notifications WHERE tenant_id = $1 AND change_id = 'change-2'",
        tenant,
    )
    assert [row["guardian_email"] for row in planned] == [ANA]
    again = await notify.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert again.status_code == 204  # a second click is harmless


async def test_a_get_shows_the_spanish_page_and_changes_nothing_then_the_button_confirms(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant, _ = await _family(pool, notify)
    path = _path((await _mail(pool, smtp_sink, tenant))[ROSA])
    page = await notify.get(path, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<html lang="es">' in page.text
    assert "Darse de baja" in page.text
    assert f'<form method="post" action="{path}"' in page.text
    assert await _unsubscribed(pool, tenant) == set()  # mail scanners follow links

    done = await notify.post(path, content="List-Unsubscribe=One-Click", headers=BROWSER)
    assert done.status_code == 200
    assert "Listo: rosa@example.org no recibirá más estos correos" in done.text
    assert await _unsubscribed(pool, tenant) == {ROSA}


def _spliced(payload_of: str, mac_of: str) -> str:
    return f"{payload_of.partition('.')[0]}.{mac_of.partition('.')[2]}"


async def test_a_forged_token_is_refused_and_changes_nothing(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant, headers = await _family(pool, notify)
    other, _ = await new_tenant(pool)
    genuine = _path((await _mail(pool, smtp_sink, tenant))[ROSA]).rsplit("/", 1)[1]
    key = SECRET.encode()
    flipped = genuine[:-3] + ("A" if genuine[-3] != "A" else "B") + genuine[-2:]
    forgeries = {
        "one byte changed": flipped,
        "another address": _spliced(sign(key, tenant, ANA), genuine),
        "another tenant": _spliced(sign(key, other, ROSA), genuine),
        "another secret": sign(b"not-the-secret-of-this-service-0000", tenant, ROSA),
        "not a token": "hello",
    }
    for what, token in forgeries.items():
        path = f"/v1/unsubscribe/{token}"
        answer = await notify.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert answer.status_code == 404, what
        assert answer.headers["content-type"] == "application/problem+json", what
        assert answer.json()["type"].endswith("/unsubscribe-link-invalid"), what
        page = await notify.post(path, content="List-Unsubscribe=One-Click", headers=BROWSER)
        assert (page.status_code, "no es válido" in page.text) == (404, False), what
        assert "This link is not valid" in page.text, what
    assert await _unsubscribed(pool, tenant) == set()
    assert await _unsubscribed(pool, other) == set()
    assert await _deliveries(notify, headers) == {ROSA: "immediate", ANA: "immediate"}
    not_one_click = await notify.post(f"/v1/unsubscribe/{genuine}", content="", headers=ONE_CLICK)
    assert not_one_click.status_code == 400
    assert await _unsubscribed(pool, tenant) == set()
