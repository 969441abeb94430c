"""The mailer against real PostgreSQL and a real SMTP server (the aiosmtpd sink): one copy per
change and guardian, the same Message-ID on a copy sent again, and SMTP failures classified."""

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from devtools.embedded import SmtpSink, free_port
from services.notify.adapters import store
from services.notify.adapters.mailer import SmtpMailer
from services.notify.app import create_app
from services.notify.config import NotifyConfig
from services.notify.core.messages import message_id
from shared.platform.bus import BusNames
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import new_tenant

MAIL_FROM = "Mastery Updates <updates@school.example>"


async def _plan(pool: asyncpg.Pool, tenant_id: str, change_id: str, *addresses: str) -> None:
    await pool.executemany(
        "INSERT INTO notifications (tenant_id, change_id, guardian_email, student_id, "
        "standard_id, subject, body) VALUES ($1, $2, $3, 'ava', 'read.1', 'Ava moved up', 'Hi')",
        [(tenant_id, change_id, address) for address in addresses],
    )


async def _row(pool: asyncpg.Pool, tenant_id: str, address: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT status, send_attempts, last_error, sent_at, failed_at, "
        "next_attempt_at > now() AS waiting FROM notifications "
        "WHERE tenant_id = $1 AND guardian_email = $2",
        tenant_id,
        address,
    )
    assert row is not None
    return dict(row)


def _mailer(pool: asyncpg.Pool, smtp_url: str, **settings: Any) -> SmtpMailer:
    return SmtpMailer(pool, smtp_url, MAIL_FROM, batch_size=10, idle=0.05, **settings)


async def test_a_copy_sent_again_after_a_crash_has_the_same_message_id(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    tenant, change = f"t-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    await _plan(pool, tenant, change, "rosa@example.org")
    mailer = _mailer(pool, smtp_sink.url, lease=timedelta(seconds=0.5))
    # A mailer leases the row and the SMTP server accepts the email, then the mailer dies
    # before it can mark the row sent.
    [leased] = await store.claim_due(pool, 10, timedelta(seconds=0.5))
    assert (await _row(pool, tenant, "rosa@example.org"))["status"] == "sending"
    assert await mailer.send_due() == 0  # the lease holds it
    assert await mailer.deliver(leased) is None
    # Once the lease runs out the next pass sends it again, and marks it sent.
    await eventually(mailer.send_due, lambda leased_now: leased_now == 1, within=10)
    assert len(smtp_sink.messages) == 2
    first, again = (message["Message-ID"] for message in smtp_sink.messages)
    assert first == again == message_id(tenant, change, "rosa@example.org", "school.example")
    assert re.fullmatch(r"<[0-9a-f-]{36}@school\.example>", first)
    row = await _row(pool, tenant, "rosa@example.org")
    assert (row["status"], row["send_attempts"]) == ("sent", 1)
    assert await mailer.send_due() == 0
    assert len(smtp_sink.messages) == 2


async def test_a_permanent_refusal_parks_that_address_and_the_others_are_sent(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant_id, headers = await new_tenant(pool)
    addresses = ["ana@example.org", "gone@example.org", "zoe@example.org"]
    await _plan(pool, tenant_id, str(uuid.uuid4()), *addresses)
    smtp_sink.refuse("gone@example.org", "550 5.1.1 <gone@example.org>: no such user")
    mailer = _mailer(pool, smtp_sink.url)
    assert await mailer.send_due() == 3
    assert sorted(message["To"] for message in smtp_sink.messages) == [
        "ana@example.org",
        "zoe@example.org",
    ]
    parked = await _row(pool, tenant_id, "gone@example.org")
    assert parked["status"] == "failed"
    assert parked["last_error"] == "550 5.1.1 <gone@example.org>: no such user"
    assert parked["failed_at"] is not None
    assert await mailer.lag() == {"due_notifications": 0, "failed_notifications": 1}
    assert await mailer.send_due() == 0  # never retried on its own
    assert len(smtp_sink.refused) == 1
    config = NotifyConfig(
        database_url=service_url(database_url, "notify"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
        smtp_url=smtp_sink.url,
    )
    async with AsyncTestClient(create_app(config)) as client:
        response = await client.get("/v1/notifications/failed", headers=headers)
    assert response.status_code == 200
    [failed] = response.json()["failed"]
    assert failed["guardian_email"] == "gone@example.org"
    assert failed["reason"].startswith("550 5.1.1")


async def test_a_transient_refusal_is_retried_with_backoff_then_sent(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, str(uuid.uuid4()), "busy@example.org")
    smtp_sink.refuse("busy@example.org", "451 4.2.1 Mailbox busy, try later", times=2)
    mailer = _mailer(pool, smtp_sink.url, first_retry=timedelta(seconds=0.2))
    assert await mailer.send_due() == 1
    waiting = await _row(pool, tenant, "busy@example.org")
    assert (waiting["status"], waiting["send_attempts"], waiting["waiting"]) == ("pending", 1, True)
    assert waiting["last_error"] == "451 4.2.1 Mailbox busy, try later"
    assert smtp_sink.messages == []
    await eventually(mailer.send_due, lambda _: len(smtp_sink.messages) == 1, within=10)
    sent = await _row(pool, tenant, "busy@example.org")
    assert (sent["status"], sent["send_attempts"]) == ("sent", 3)
    assert len(smtp_sink.refused) == 2


async def test_an_unreachable_server_is_transient_and_ends_the_batch(pool: asyncpg.Pool) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    await _plan(pool, tenant, str(uuid.uuid4()), "a@example.org", "b@example.org")
    mailer = _mailer(pool, f"smtp://127.0.0.1:{free_port()}")
    assert await mailer.send_due() == 2
    rows = [await _row(pool, tenant, address) for address in ("a@example.org", "b@example.org")]
    statuses = sorted((row["status"], row["send_attempts"]) for row in rows)
    # One row waits for its retry; the other was not tried and comes back when its lease ends.
    assert statuses == [("pending", 1), ("sending", 0)]
    assert all(row["waiting"] for row in rows)


async def test_an_accepted_email_is_marked_sent_through_a_database_outage_not_sent_again(
    pool: asyncpg.Pool, smtp_sink: SmtpSink, monkeypatch: Any
) -> None:
    tenant, change = f"t-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    await _plan(pool, tenant, change, "rosa@example.org")
    mark_sent, failures = store.mark_sent, [asyncpg.CannotConnectNowError("starting up")] * 3

    async def mark_during_an_outage(*args: Any) -> None:
        if failures:
            raise failures.pop()  # PostgreSQL restarting: 57P03, three times
        await mark_sent(*args)

    monkeypatch.setattr(store, "mark_sent", mark_during_an_outage)
    mailer = _mailer(pool, smtp_sink.url, lease=timedelta(seconds=5))
    assert await mailer.send_due() == 1
    assert failures == []
    assert len(smtp_sink.messages) == 1
    assert (await _row(pool, tenant, "rosa@example.org"))["status"] == "sent"


async def test_hostile_rows_of_one_tenant_are_parked_and_another_tenants_email_still_arrives(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    # Rows written before today's validation (or by a future bug): a subject and an address that
    # cannot be put in a header. Each must be parked with its reason, and the mailer go on.
    hostile, calm = f"b-{uuid.uuid4().hex[:8]}", f"a-{uuid.uuid4().hex[:8]}"
    await pool.execute(
        "INSERT INTO notifications (tenant_id, change_id, guardian_email, student_id, "
        "standard_id, subject, body) VALUES "
        "($1, $2, 'rosa@example.org', 'inj', 'read.1', E'inj\\nBcc: evil@example.org', 'Hi'), "
        "($1, $3, E'evil@example.org\\nBcc: x@example.org', 'ava', 'read.1', 'Ava', 'Hi')",
        hostile,
        str(uuid.uuid4()),
        str(uuid.uuid4()),
    )
    await _plan(pool, calm, str(uuid.uuid4()), "ana@example.org")
    mailer = _mailer(pool, smtp_sink.url)
    stop = asyncio.Event()
    running = asyncio.create_task(mailer.run(stop))
    try:
        await eventually(mailer.lag, lambda lag: lag["failed_notifications"] == 2, within=10)
        await eventually(lambda: _row(pool, calm, "ana@example.org"), _sent, within=10)
        assert [message["To"] for message in smtp_sink.messages] == ["ana@example.org"]
        parked = await pool.fetch(
            "SELECT status, last_error FROM notifications WHERE tenant_id = $1", hostile
        )
        assert {row["status"] for row in parked} == {"failed"}
        assert all("could not build the email" in row["last_error"] for row in parked)
        assert not running.done()  # the mailer lives on
        await _plan(pool, calm, str(uuid.uuid4()), "zoe@example.org")
        await eventually(lambda: _row(pool, calm, "zoe@example.org"), _sent, within=10)
        assert mailer.parked == 2
    finally:
        stop.set()
        await running


def _sent(row: dict[str, Any]) -> bool:
    return bool(row["status"] == "sent")
