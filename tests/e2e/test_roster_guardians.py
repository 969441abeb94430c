"""A OneRoster import reaches families: the mastery service relays its roster log (ROSTERS), notify
keeps students' names and guardian links from it, and a rostered guardian gets the emails."""

from typing import Any

import asyncpg
import msgspec
import nats

from devtools.embedded import SmtpSink
from shared.contract.events.roster import PersonDefined
from shared.platform.bus import BusNames
from shared.platform.bus_users import ROSTER_DURABLE
from tests.support.oneroster_sample import sample_files, zipped
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

API_PARENT = "api.parent@example.org"
DROPPED = "guardian-0001-1"


def _without_second_guardian(files: dict[str, bytes]) -> dict[str, bytes]:
    """The roster again, a year on: student 1 no longer lists guardian 1, who is gone too."""
    lines = files["users.csv"].decode().split("\r\n")
    kept = [line for line in lines if not line.startswith(f"{DROPPED},")]
    users = "\r\n".join(kept).replace(f"guardian-0001-0,{DROPPED}", "guardian-0001-0")
    return {**files, "users.csv": users.encode()}


async def _import(system: System, auth: dict[str, str], files: dict[str, bytes]) -> None:
    answer = await system.mastery.post(
        "/v1/rosters/oneroster",
        content=zipped(files),
        headers={**auth, "Content-Type": "application/zip"},
    )
    assert answer.status_code in (200, 201), answer.text


async def _guardians(system: System, auth: dict[str, str], student: str) -> set[str]:
    answer = await system.notify.get(f"/v1/students/{student}/guardians", headers=auth)
    assert answer.status_code == 200, answer.text
    return {each["email"] for each in answer.json()["guardians"]}


async def _attempt(system: System, auth: dict[str, str], student: str, n: int) -> None:
    body: dict[str, Any] = {
        "attempt_id": f"{student}-{n}", "student_id": student, "standard_id": "sci.energy",
        "score": 3, "points_possible": 4, "assessed_at": f"2026-10-{n:02d}T10:00:00Z",
    }  # fmt: skip
    answer = await system.attempts.post("/v1/attempts", json=body, headers=auth)
    assert answer.status_code == 201, answer.text


async def _sent_to(pool: asyncpg.Pool, tenant: str, student: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT guardian_email, subject, language FROM notifications "
        "WHERE tenant_id = $1 AND student_id = $2 AND sent_at IS NOT NULL ORDER BY guardian_email",
        tenant,
        student,
    )


async def _rows(pool: asyncpg.Pool, tenant: str) -> list[tuple[Any, ...]]:
    rows = await pool.fetch(
        "SELECT student_id, email, name, language, delivery, roster_person_id FROM guardians "
        "WHERE tenant_id = $1 ORDER BY student_id, email",
        tenant,
    )
    return [tuple(row) for row in rows]


async def test_a_rostered_guardian_gets_the_emails_and_a_dropped_one_stops(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, auth = await new_tenant(pool)
    files = sample_files(classes=1, students=2)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        standard = await system.attempts.put(
            "/v1/standards/sci.energy", json={"title": "Energy"}, headers=auth
        )
        assert standard.status_code == 201, standard.text
        # Set through the API before the roster comes: it stays whatever the roster says.
        put = await system.notify.put(
            "/v1/students/student-0001/guardians",
            json={"guardians": [{"email": API_PARENT, "delivery": "immediate"}]},
            headers=auth,
        )
        assert put.status_code == 200, put.text
        await _import(system, auth, files)
        both = {"guardian-0001-0@example.org", f"{DROPPED}@example.org", API_PARENT}
        await eventually(lambda: _guardians(system, auth, "student-0001"), lambda g: g == both)

        # Student 0's one guardian reads Spanish: the email is in Spanish, with the roster's name.
        await _attempt(system, auth, "student-0000", 1)
        [sent] = await eventually(
            lambda: _sent_to(pool, tenant, "student-0000"), lambda rows: len(rows) == 1, within=20
        )
        assert sent["guardian_email"] == "guardian-0000-0@example.org"
        assert sent["language"] == "es"
        assert "Given0 Family0" in sent["subject"]
        mail = next(m for m in smtp_sink.messages if m["To"] == "guardian-0000-0@example.org")
        text = mail.get_body(("plain",))
        assert text is not None
        assert "Given0 Family0" in text.get_content()
        assert "Ahora:" in text.get_content()

        # A later roster drops a guardian (the link and the person): their emails stop.
        await _import(system, auth, _without_second_guardian(files))
        one = {"guardian-0001-0@example.org", API_PARENT}
        await eventually(lambda: _guardians(system, auth, "student-0001"), lambda g: g == one)
        await _attempt(system, auth, "student-0001", 2)
        sent_1 = await eventually(
            lambda: _sent_to(pool, tenant, "student-0001"), lambda rows: len(rows) == 2, within=20
        )
        assert {row["guardian_email"] for row in sent_1} == one
        assert all("Given1 Family1" in row["subject"] for row in sent_1)

        # Every roster message delivered again, then one for a newcomer: nothing changes.
        before = await _rows(pool, tenant)
        await _redeliver_all(servers.nats_url, bus, tenant)
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM roster_contacts WHERE tenant_id = $1 AND person_id = 'late'",
                tenant,
            ),
            lambda count: count == 1,
        )
        assert await _rows(pool, tenant) == before


async def _redeliver_all(nats_url: str, bus: BusNames, tenant: str) -> None:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        info = await js.stream_info(bus.rosters_stream)
        last = 0
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(bus.rosters_stream, sequence)
            if message.subject != bus.rosters(tenant) or message.data is None:
                continue
            envelope = msgspec.json.decode(message.data)
            last = max(last, envelope["streamversion"])
            await js.publish(message.subject, message.data)  # a new message id: not deduplicated
        newcomer = PersonDefined(
            tenant_id=tenant, person_id="late", role="teacher", given_name="L", family_name="T"
        )
        envelope["id"], envelope["streamversion"] = "late", last + 1
        envelope["type"], envelope["data"] = "org.mastery.person_defined.v1", newcomer
        await js.publish(bus.rosters(tenant), msgspec.json.encode(envelope))
    finally:
        await client.close()


async def test_a_bad_roster_message_is_dead_lettered(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, _ = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus):
        client = await nats.connect(servers.nats_url)
        try:
            js = client.jetstream()
            await eventually(lambda: _has_stream(js, bus.rosters_stream), bool)
            await js.publish(bus.rosters(tenant), b'{"not": "a roster event"}')

            async def parked() -> Any:
                try:
                    return await js.get_last_msg(
                        bus.deadletter_stream, bus.deadletter(ROSTER_DURABLE)
                    )
                except nats.js.errors.NotFoundError:
                    return None

            message = await eventually(parked, lambda found: found is not None, within=15)
            assert message.data == b'{"not": "a roster event"}'
            assert message.headers is not None
            assert "undecodable" in message.headers["Deadletter-Reason"]
        finally:
            await client.close()


async def _has_stream(js: Any, name: str) -> bool:
    try:
        await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        return False
    return True
