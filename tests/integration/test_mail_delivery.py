"""Family email as schools' relays treat it, against real PostgreSQL and real aiosmtpd servers:
an address refused for good is suppressed and never holds up the others, a refusing or absent
server is retried with backoff by whichever mailer runs next, the sending rate is kept, and a
relay behind TLS and a login is reached with verified certificates and a password that is never
logged."""

import asyncio
import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from devtools.embedded import SmtpSink, free_port
from services.notify.adapters.mailer import SmtpMailer
from services.notify.adapters.smtp import SmtpServer
from services.notify.app import create_app
from services.notify.config import NotifyConfig
from shared.platform.bus import BusNames
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.smtp_relay import Certificate, SecureRelay, self_signed_certificate
from tests.support.tenants import new_key, new_tenant

MAIL_FROM = "Mastery Updates <updates@school.example>"
PASSWORD = "s3cret-relay-pa55"
# aiosmtpd 1.4 sets its own deprecated Session.login_data on every successful AUTH.
AIOSMTPD_LOGIN_DATA = pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated:DeprecationWarning"
)


async def _plan(pool: asyncpg.Pool, tenant_id: str, *addresses: str) -> str:
    change = str(uuid.uuid4())
    await pool.executemany(
        "INSERT INTO notifications (tenant_id, change_id, guardian_email, student_id, "
        "standard_id, subject, body) VALUES ($1, $2, $3, 'ava', 'read.1', 'Ava moved up', 'Hi')",
        [(tenant_id, change, address) for address in addresses],
    )
    return change


async def _statuses(pool: asyncpg.Pool, tenant_id: str) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT guardian_email, status FROM notifications WHERE tenant_id = $1", tenant_id
    )
    return {row["guardian_email"]: row["status"] for row in rows}


async def _row(pool: asyncpg.Pool, tenant_id: str, address: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT status, send_attempts, last_error, "
        "extract(epoch FROM next_attempt_at - now()) AS wait FROM notifications "
        "WHERE tenant_id = $1 AND guardian_email = $2",
        tenant_id,
        address,
    )
    assert row is not None
    return dict(row)


def _mailer(pool: asyncpg.Pool, server: str | SmtpServer, **settings: Any) -> SmtpMailer:
    return SmtpMailer(pool, server, MAIL_FROM, batch_size=20, idle=0.05, **settings)


def _config(database_url: str, servers: Servers, bus: BusNames, smtp_url: str) -> NotifyConfig:
    return NotifyConfig(
        database_url=service_url(database_url, "notify"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
        smtp_url=smtp_url,
    )


async def test_a_refused_address_is_suppressed_the_others_go_out_and_an_admin_lifts_it(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant_id, admin = await new_tenant(pool)
    other_tenant, _ = await new_tenant(pool)
    # The refused address sorts first: were the batch blocked behind it, nothing would go out.
    addresses = ["aaa-gone@example.org", "ben@example.org", "cat@example.org", "dan@example.org"]
    await _plan(pool, tenant_id, *addresses)
    smtp_sink.refuse("aaa-gone@example.org", "550 5.1.1 <aaa-gone@example.org>: no such user")
    mailer = _mailer(pool, smtp_sink.url)
    assert await mailer.send_due() == 4  # one pass
    assert sorted(message["To"] for message in smtp_sink.messages) == addresses[1:]
    assert (await _row(pool, tenant_id, "aaa-gone@example.org"))["last_error"].startswith("550")
    # The next change to that address (in another case) is recorded as suppressed, not sent,
    # while the same address at another school is still mailed.
    await _plan(pool, tenant_id, "AAA-Gone@example.org", "ben@example.org")
    await _plan(pool, other_tenant, "aaa-gone@example.org")
    smtp_sink.refuse("aaa-gone@example.org", "250 OK", times=0)  # the server would take it now
    await eventually(mailer.send_due, lambda claimed: claimed == 0, within=10)
    assert (await _statuses(pool, tenant_id))["AAA-Gone@example.org"] == "suppressed"
    assert (await _statuses(pool, other_tenant)) == {"aaa-gone@example.org": "sent"}
    assert len(smtp_sink.refused) == 1
    _, reader = await new_key(pool, tenant_id, "read")
    async with AsyncTestClient(
        create_app(_config(database_url, servers, bus, smtp_sink.url))
    ) as client:
        assert (await client.get("/v1/suppressions", headers=reader)).status_code == 403
        listed = (await client.get("/v1/suppressions", headers=admin)).json()["suppressions"]
        assert [item["address"] for item in listed] == ["aaa-gone@example.org"]
        assert listed[0]["reason"] == "550 5.1.1 <aaa-gone@example.org>: no such user"
        lifted = await client.delete("/v1/suppressions/AAA-GONE@example.org", headers=admin)
        assert lifted.status_code == 204
        again = await client.delete("/v1/suppressions/aaa-gone@example.org", headers=admin)
        assert again.status_code == 404
        assert again.headers["content-type"].startswith("application/problem+json")
    # Lifted: the next change reaches the address again.
    await _plan(pool, tenant_id, "aaa-gone@example.org")
    await eventually(mailer.send_due, lambda _: len(smtp_sink.messages) == 6, within=10)


async def test_a_refusing_server_is_retried_with_capped_jittered_backoff_across_a_restart(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, "busy@example.org", "fine@example.org")
    smtp_sink.refuse("busy@example.org", "451 4.3.0 Try again later", times=3)
    settings = {"first_retry": timedelta(seconds=0.4), "max_retry": timedelta(seconds=0.8)}
    first = _mailer(pool, smtp_sink.url, **settings)
    assert await first.send_due() == 2
    assert [message["To"] for message in smtp_sink.messages] == ["fine@example.org"]
    waits = [(await _row(pool, tenant, "busy@example.org"))["wait"]]
    # The mailer stops (a deploy); state is in PostgreSQL, so a new one carries on.
    for attempts in (2, 3):
        restarted = _mailer(pool, smtp_sink.url, **settings)
        await eventually(restarted.send_due, lambda claimed: claimed == 1, within=10)
        row = await _row(pool, tenant, "busy@example.org")
        assert (row["status"], row["send_attempts"]) == ("pending", attempts)
        waits.append(row["wait"])
    # 0.4 s, then 0.8 s, then capped at 0.8 s; each less up to half of it (the jitter).
    for wait, ceiling in zip(waits, (0.4, 0.8, 0.8), strict=True):
        assert ceiling * 0.5 - 0.1 <= float(wait) <= ceiling + 0.05
    final = _mailer(pool, smtp_sink.url, **settings)
    await eventually(final.send_due, lambda _: len(smtp_sink.messages) == 2, within=10)
    assert (await _row(pool, tenant, "busy@example.org"))["status"] == "sent"
    assert len(smtp_sink.refused) == 3


async def test_a_server_that_is_down_keeps_the_mail_until_it_is_back(pool: asyncpg.Pool) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, "rosa@example.org")
    port = free_port()
    down = _mailer(pool, f"smtp://127.0.0.1:{port}", first_retry=timedelta(seconds=0.2))
    assert await down.send_due() == 1
    assert (await _row(pool, tenant, "rosa@example.org"))["status"] == "pending"
    sink = SmtpSink(port=port).start()
    try:
        back = _mailer(pool, sink.url)
        await eventually(back.send_due, lambda _: len(sink.messages) == 1, within=10)
    finally:
        sink.stop()
    row = await _row(pool, tenant, "rosa@example.org")
    assert (row["status"], row["send_attempts"]) == ("sent", 2)


async def test_the_sending_rate_is_kept(pool: asyncpg.Pool, smtp_sink: SmtpSink) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, *(f"g{index}@example.org" for index in range(8)))
    mailer = _mailer(pool, smtp_sink.url, max_per_second=4.0)
    started = time.monotonic()
    assert await mailer.send_due() == 8
    # A burst of 4, then one every quarter second: 8 take at least a second.
    assert time.monotonic() - started >= 0.95
    assert len(smtp_sink.messages) == 8


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed_certificate(tmp_path)


@pytest.fixture
def relay(certificate: Certificate) -> Any:
    relay = SecureRelay(certificate, login="school-relay", password=PASSWORD).start_tls()
    yield relay
    relay.stop()


@AIOSMTPD_LOGIN_DATA
async def test_a_relay_requiring_starttls_and_a_login_gets_the_mail_only_when_both_are_right(
    pool: asyncpg.Pool, relay: SecureRelay, certificate: Certificate, caplog: Any
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, "rosa@example.org")
    caplog.set_level(logging.WARNING)
    url = f"smtp://127.0.0.1:{relay.port}"
    # Its certificate is not one the system trusts: verified by default, so refused, mail kept.
    quick = {"first_retry": timedelta(seconds=0.2)}
    untrusted = SmtpServer.from_url(url, username="school-relay", password=PASSWORD)
    assert await _mailer(pool, untrusted, **quick).send_due() == 1
    row = await _row(pool, tenant, "rosa@example.org")
    assert row["status"] == "pending"
    assert "certificate" in row["last_error"].lower()
    # Trusted through SMTP_CA_FILE, but the wrong password: a clear reason, retried, not lost.
    wrong = SmtpServer.from_url(
        url, username="school-relay", password="not-it", ca_file=str(certificate.cert)
    )
    await eventually(
        _mailer(pool, wrong, **quick).send_due, lambda claimed: claimed == 1, within=10
    )
    row = await _row(pool, tenant, "rosa@example.org")
    assert (row["status"], row["send_attempts"]) == ("pending", 2)
    assert row["last_error"].startswith("the SMTP server refused the credentials: 535")
    assert set(relay.logins) == {(b"school-relay", False)}  # each mechanism tried, all refused
    # The right one (from the environment, as SMTP_USERNAME and SMTP_PASSWORD): delivered.
    right = SmtpServer.from_url(
        url,
        username="school-relay",
        password=PASSWORD,
        require_tls=True,
        ca_file=str(certificate.cert),
    )
    mailer = _mailer(pool, right)
    await eventually(mailer.send_due, lambda _: len(relay.messages) == 1, within=10)
    assert relay.sessions == [(True, True)]  # authenticated, over TLS
    assert (await _row(pool, tenant, "rosa@example.org"))["status"] == "sent"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused the credentials" in logged
    assert PASSWORD not in logged
    assert "not-it" not in logged
    assert PASSWORD not in repr(right)


@AIOSMTPD_LOGIN_DATA
# aiosmtpd's auth_require_tls knows only STARTTLS, so it warns although the port is all TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_an_implicit_tls_relay_is_reached_with_smtps(
    pool: asyncpg.Pool, certificate: Certificate
) -> None:
    relay = SecureRelay(certificate, login="school-relay", password=PASSWORD).start_tls(
        implicit=True
    )
    try:
        tenant = f"t-{uuid.uuid4().hex[:8]}"
        await _plan(pool, tenant, "rosa@example.org")
        server = SmtpServer.from_url(
            relay.tls_url, username="school-relay", password=PASSWORD, ca_file=str(certificate.cert)
        )
        assert server.use_tls
        assert await _mailer(pool, server).send_due() == 1
        assert relay.sessions == [(True, True)]
        assert (await _row(pool, tenant, "rosa@example.org"))["status"] == "sent"
    finally:
        relay.stop()


async def test_with_starttls_required_a_relay_in_clear_text_is_not_sent_to(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, "rosa@example.org")
    server = SmtpServer.from_url(smtp_sink.url, require_tls=True)  # the sink offers no STARTTLS
    assert await _mailer(pool, server).send_due() == 1
    row = await _row(pool, tenant, "rosa@example.org")
    assert (row["status"], row["last_error"]) == (
        "pending",
        "SMTP STARTTLS extension not supported by server.",
    )
    assert smtp_sink.messages == []


@AIOSMTPD_LOGIN_DATA
async def test_a_refused_login_pauses_the_mailer_instead_of_trying_it_once_per_pass(
    pool: asyncpg.Pool, relay: SecureRelay, certificate: Certificate
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, *(f"g{index}@example.org" for index in range(20)))
    wrong = SmtpServer.from_url(
        f"smtp://127.0.0.1:{relay.port}",
        username="school-relay",
        password="not-it",
        ca_file=str(certificate.cert),
    )
    # Two rows a pass: without a pause the backlog would be ten failed logins in a blink.
    mailer = SmtpMailer(
        pool, wrong, MAIL_FROM, batch_size=2, idle=0.01, first_retry=timedelta(seconds=0.5)
    )
    stop = asyncio.Event()
    running = asyncio.create_task(mailer.run(stop))
    # A window watched, not a wait for something: passes at 0 s and 0.5 s, the next at 1.5 s.
    await asyncio.sleep(1.2)
    stop.set()
    await running
    # Each session tries PLAIN, then LOGIN.
    assert 1 <= len(relay.logins) // 2 <= 2, relay.logins
    statuses = set((await _statuses(pool, tenant)).values())
    assert statuses <= {"pending", "sending"}  # all kept for when the login is fixed
