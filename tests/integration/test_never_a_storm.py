"""Never a storm, against the real SMTP sink: a flap inside the grace delay sends at most one
email, a batch of standards one email per guardian, a policy change nothing or one summary per
guardian, the flap window holds back a second crossing, and quiet hours hold an email till morning.
The tenant's grace delay is half a second; every wait polls with a deadline."""

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from httpx import AsyncClient
from litestar.testing import AsyncTestClient

from devtools.embedded import SmtpSink
from services.notify.adapters import family, store
from services.notify.adapters.mailer import SmtpMailer
from services.notify.adapters.planner import NotificationPlanner, UnsubscribeLinks
from services.notify.app import create_app
from services.notify.config import NotifyConfig
from services.notify.core.messages import Guardian, TenantSettings
from services.notify.core.storms import StormSettings
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.family_email import CHANGE, NO_DELAY
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import new_tenant

FAST = {"grace_seconds": 0.5, "quiet_hours": None}
LINKS = "https://notify.school.example"
T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)


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
    )
    async with AsyncTestClient(create_app(config)) as client:
        yield client


async def _school(
    pool: asyncpg.Pool, notify: AsyncClient, guardians: dict[str, list[str]], **settings: Any
) -> str:
    tenant, headers = await new_tenant(pool)
    answer = await notify.put("/v1/mail-settings", json=FAST | settings, headers=headers)
    assert answer.status_code == 200, answer.text
    async with pool.acquire() as connection:  # as the API writes them, without its rate limit
        for student, emails in guardians.items():
            family = [Guardian(email=email) for email in emails]
            await store.replace_guardians(connection, tenant, student, family)
    return tenant


def _change(tenant: str, n: int, before: int, after: int, **fields: Any) -> MasteryChanged:
    values: dict[str, Any] = {
        "tenant_id": tenant,
        "change_id": f"c{n}",
        "previous_level": before,
        "previous_mastered": before >= 3,
        "level": after,
        "mastered": after >= 3,
        "changed_at": T0 + timedelta(seconds=n),
    }
    return msgspec.structs.replace(CHANGE, **(values | fields))


async def _consume(pool: asyncpg.Pool, changes: Sequence[MasteryChanged]) -> None:
    batch = [
        Delivered(
            CloudEvent[AnyMasteryEvent](
                id=change.change_id, source="/test", type=cloudevent_type(change), subject="x",
                time=change.changed_at, tenantid=change.tenant_id, streamversion=1, data=change,
            ),
            1,
        )
        for change in changes
    ]  # fmt: skip
    links = UnsubscribeLinks(b"secret-of-the-never-a-storm-tests", LINKS)
    await NotificationPlanner(pool, defaults=NO_DELAY, unsubscribe=links).handle_mastery_events(
        batch
    )


async def _settled(pool: asyncpg.Pool, smtp_sink: SmtpSink, tenant: str) -> dict[str, int]:
    """Drive a mailer until no row of the tenant waits; the rows' statuses, counted."""
    mailer = SmtpMailer(pool, smtp_sink.url, "u@school.example", batch_size=50, idle=0.05)

    async def statuses() -> dict[str, int]:
        await mailer.send_due()
        rows = await pool.fetch(
            "SELECT status, count(*) FROM notifications WHERE tenant_id = $1 GROUP BY status",
            tenant,
        )
        return {row["status"]: row["count"] for row in rows}

    return await eventually(statuses, lambda counted: not {"pending", "sending"} & set(counted))


def _to(smtp_sink: SmtpSink, address: str) -> list[Any]:
    return [message for message in smtp_sink.messages if message["To"] == address]


async def test_a_flap_within_the_grace_sends_at_most_one_email(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant = await _school(pool, notify, {"noah": ["rosa@example.org"]})
    await _consume(pool, [_change(tenant, 1, 2, 3), _change(tenant, 2, 3, 2)])
    await _consume(pool, [_change(tenant, 3, 2, 3)])
    assert await _settled(pool, smtp_sink, tenant) == {"sent": 1, "coalesced": 2}
    [message] = _to(smtp_sink, "rosa@example.org")
    assert "has mastered" in message["Subject"]


async def test_a_change_undone_within_the_grace_sends_nothing(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant = await _school(pool, notify, {"noah": ["rosa@example.org"]})
    await _consume(pool, [_change(tenant, 1, 2, 3), _change(tenant, 2, 3, 2, reason="correction")])
    assert await _settled(pool, smtp_sink, tenant) == {"coalesced": 2}
    assert _to(smtp_sink, "rosa@example.org") == []


async def test_five_standards_in_one_batch_send_one_email_per_guardian(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    guardians = ["rosa@example.org", "tom@example.org"]
    tenant = await _school(pool, notify, {"noah": guardians})
    changes = [
        _change(tenant, n, 2, 3, standard_id=f"math.{n}", standard_title=f"Standard {n}")
        for n in range(5)
    ]
    await _consume(pool, changes)
    assert await _settled(pool, smtp_sink, tenant) == {"sent": 2, "coalesced": 8}
    for guardian in guardians:
        [message] = _to(smtp_sink, guardian)
        assert message["Subject"] == "News on 5 standards for noah"
        text = message.get_body(("plain",)).get_content()
        assert all(f"Standard {n}" in text for n in range(5))
        # The one email of five keeps the guardian's one-click link, in its headers and its text.
        link = str(message["List-Unsubscribe"]).strip("<>")
        assert link.startswith(f"{LINKS}/v1/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"Stop these emails: {link}" in text


@pytest.mark.parametrize(("policy", "emails"), [("silent", 0), ("summary", 1)])
async def test_a_policy_change_over_thirty_students_is_silent_or_one_summary_per_guardian(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink, policy: str, emails: int
) -> None:
    students = {f"s{n}": [f"parent{n}@example.org", "head@example.org"] for n in range(30)}
    tenant = await _school(pool, notify, students, policy_changes=policy)
    changes = [_change(tenant, n, 2, 3, student_id=f"s{n}", reason="policy") for n in range(30)]
    await _consume(pool, changes)
    counted = await _settled(pool, smtp_sink, tenant)
    assert counted.get("sent", 0) == 31 * emails
    assert len(_to(smtp_sink, "head@example.org")) == emails
    assert len(_to(smtp_sink, "parent7@example.org")) == emails
    if emails:
        [summary] = _to(smtp_sink, "head@example.org")
        assert summary["Subject"] == "The school changed how it calculates mastery"
        text = summary.get_body(("plain",)).get_content()
        assert all(f"s{n} has mastered" in text for n in range(30))


async def test_a_second_crossing_inside_the_flap_window_is_not_emailed(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    tenant = await _school(pool, notify, {"noah": ["rosa@example.org"]}, flap_window_hours=24)
    await _consume(pool, [_change(tenant, 1, 2, 3)])
    assert await _settled(pool, smtp_sink, tenant) == {"sent": 1}
    await _consume(pool, [_change(tenant, 2, 3, 2)])
    assert await _settled(pool, smtp_sink, tenant) == {"sent": 1, "coalesced": 1}
    assert len(_to(smtp_sink, "rosa@example.org")) == 1


async def test_quiet_hours_hold_an_email_until_they_end(
    pool: asyncpg.Pool, notify: AsyncClient, smtp_sink: SmtpSink
) -> None:
    # Quiet all day but the minute before the one before now: whenever the test runs, now is
    # quiet and the quiet ends nearly a day later.
    now = datetime.now(UTC)
    quiet = {
        "start": (now - timedelta(minutes=1)).strftime("%H:%M"),
        "end": (now - timedelta(minutes=2)).strftime("%H:%M"),
    }
    tenant = await _school(pool, notify, {"noah": ["rosa@example.org"]}, quiet_hours=quiet)
    await _consume(pool, [_change(tenant, 1, 2, 3)])
    mailer = SmtpMailer(pool, smtp_sink.url, "u@school.example", batch_size=50, idle=0.05)

    async def composed() -> Any:
        await mailer.send_due()
        return await pool.fetchrow(
            "SELECT status, next_attempt_at FROM notifications WHERE tenant_id = $1 AND composed",
            tenant,
        )

    row = await eventually(composed, lambda row: row is not None)
    assert row["status"] == "pending"
    assert row["next_attempt_at"] > now + timedelta(hours=23)
    assert _to(smtp_sink, "rosa@example.org") == []


async def test_the_storm_settings_are_stored_returned_and_checked(
    pool: asyncpg.Pool, notify: AsyncClient
) -> None:
    _, headers = await new_tenant(pool)
    settings = {
        "grace_seconds": 30, "flap_window_hours": 12, "policy_changes": "silent",
        "quiet_hours": {"start": "21:30", "end": "06:45"}, "digest_hour": 18, "digest_weekday": 0,
    }  # fmt: skip
    answer = await notify.put("/v1/mail-settings", json=settings, headers=headers)
    assert answer.status_code == 200, answer.text
    got = (await notify.get("/v1/mail-settings", headers=headers)).json()
    assert {key: got[key] for key in settings} == settings


@pytest.mark.parametrize(
    "wrong",
    [{"grace_seconds": -1}, {"policy_changes": "loud"}, {"digest_hour": 24},
     {"digest_weekday": 7}, {"quiet_hours": {"start": "07:00", "end": "07:00"}},
     {"quiet_hours": {"start": "7pm", "end": "07:00"}}],
)  # fmt: skip
async def test_storm_settings_out_of_range_are_refused(
    pool: asyncpg.Pool, notify: AsyncClient, wrong: dict[str, Any]
) -> None:
    _, headers = await new_tenant(pool)
    answer = await notify.put("/v1/mail-settings", json=wrong, headers=headers)
    assert answer.status_code in (400, 422)
    assert next(iter(wrong)) in answer.text


async def _digest_school(pool: asyncpg.Pool, deliveries: dict[str, str]) -> str:
    """A school whose guardians of noah want digests; settings written as the API writes them
    (no notify app runs here, so no mailer on the real clock sends a digest behind the test's)."""
    tenant, _ = await new_tenant(pool)
    storm = StormSettings(grace_seconds=0.5, quiet_hours=None, digest_hour=17)
    async with pool.acquire() as connection:
        await family.set_settings(connection, tenant, TenantSettings(storm=storm))
        family_of_noah = [
            Guardian(email=email, delivery=delivery)  # type: ignore[arg-type]
            for email, delivery in deliveries.items()
        ]
        await store.replace_guardians(connection, tenant, "noah", family_of_noah)
    return tenant


async def test_a_digest_guardian_gets_one_digest_at_the_digest_hour_and_never_twice(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    tenant = await _digest_school(pool, {"daily@example.org": "daily_digest"})
    await _consume(pool, [
        _change(tenant, 1, 2, 3, standard_id="math.a", standard_title="Standard A"),
        _change(tenant, 2, 1, 2, standard_id="math.b", standard_title="Standard B"),
        _change(tenant, 3, 2, 3, standard_id="math.c", standard_title="Standard C"),
        _change(tenant, 4, 3, 2, standard_id="math.c", standard_title="Standard C"),
    ])  # fmt: skip
    clock = [datetime(2026, 10, 2, 16, 59, tzinfo=UTC)]
    mailer = SmtpMailer(
        pool, smtp_sink.url, "u@school.example", batch_size=50, idle=0.05, clock=lambda: clock[0]
    )
    await mailer.send_due()
    assert _to(smtp_sink, "daily@example.org") == []
    clock[0] = datetime(2026, 10, 2, 17, 5, tzinfo=UTC)
    await eventually(mailer.send_due, lambda _: len(_to(smtp_sink, "daily@example.org")) == 1)
    clock[0] = datetime(2026, 10, 2, 18, tzinfo=UTC)  # a rerun the same evening
    await mailer.send_due()
    [digest] = _to(smtp_sink, "daily@example.org")
    assert digest["Subject"] == "What changed at school"
    text = digest.get_body(("plain",)).get_content()
    assert "Standard A" in text
    assert "Standard B" in text
    assert "Standard C" not in text  # back where it started
    row = await pool.fetchrow(
        "SELECT status FROM notifications WHERE tenant_id = $1 AND change_id = $2",
        tenant,
        "digest:daily@example.org:2026-10-02",
    )
    assert row is not None
    assert row["status"] == "sent"


async def test_a_digest_with_nothing_to_say_is_not_sent(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    tenant = await _digest_school(pool, {"weekly@example.org": "weekly_digest"})
    await _consume(pool, [_change(tenant, 1, 2, 3), _change(tenant, 2, 3, 2)])
    friday = datetime(2026, 10, 2, 17, 30, tzinfo=UTC)
    mailer = SmtpMailer(
        pool, smtp_sink.url, "u@school.example", batch_size=50, idle=0.05, clock=lambda: friday
    )

    async def statuses() -> list[str]:
        await mailer.send_due()
        rows = await pool.fetch("SELECT status FROM notifications WHERE tenant_id = $1", tenant)
        return sorted(row["status"] for row in rows)

    assert await eventually(statuses, lambda seen: "held_for_digest" not in seen) == [
        "coalesced",
        "coalesced",
    ]
    assert _to(smtp_sink, "weekly@example.org") == []
