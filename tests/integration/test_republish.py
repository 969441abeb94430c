"""`mastery republish`: JetStream lost its streams; the logs in PostgreSQL send them again."""

import asyncio
import sys
import uuid
from typing import Any

import asyncpg
import msgspec
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from devtools.embedded import SmtpSink
from services.mastery.adapters.roster_relay import logged_roster_changes
from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.gradebook import AnyGradebookEvent
from shared.contract.events.mastery import AnyMasteryEvent
from shared.contract.events.roster import OrgDefined
from shared.platform.bus import BusNames
from shared.platform.outbox import MSG_ID_HEADER
from tests.support.classes import ZIP
from tests.support.oneroster_sample import sample_files, zipped
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import new_tenant

Message = tuple[str, str, bytes]  # subject, Nats-Msg-Id, payload
_envelopes = EnvelopeCodec[object](AnyGradebookEvent | AnyMasteryEvent)
STUDENTS = ("ava", "ben", "cy")


def _decoded(messages: list[Message]) -> list[tuple[str, str, object]]:
    """As a consumer sees them. The attempt log is `jsonb`, which keeps values, not bytes: an
    integer given for a float field is published as `1` and read back from the log as `1.0`."""
    return [(subject, msg_id, _envelopes.decode(payload)) for subject, msg_id, payload in messages]


def _attempt(student: str, attempt_id: str, score: float) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "student_id": student,
        "standard_id": "read.1",
        "score": score,
        "points_possible": 4,
        "assessed_at": "2026-10-01T10:00:00Z",
    }


async def _record_and_project(
    pool: asyncpg.Pool, database_url: str, nats_url: str, smtp_url: str, bus: BusNames
) -> None:
    """A standard, one attempt per student, and each student's first result published."""
    _, auth = await new_tenant(pool)
    async with running_system(database_url, nats_url, smtp_url, bus) as system:
        put = await system.attempts.put("/v1/standards/read.1", json={"title": "R"}, headers=auth)
        assert put.status_code == 201, put.text
        for n, student in enumerate(STUDENTS):
            body = _attempt(student, f"a-{student}", n + 2)
            posted = await system.attempts.post("/v1/attempts", json=body, headers=auth)
            assert posted.status_code == 201, posted.text
        await eventually(lambda: _unpublished(pool), lambda left: left == (len(STUDENTS), 0))


async def _unpublished(pool: asyncpg.Pool) -> tuple[int, int]:
    """(changes logged, rows of either service's log its relay has not published)."""
    logged = await pool.fetchval("SELECT count(*) FROM mastery_changes")
    waiting = await pool.fetchval(
        "SELECT (SELECT count(*) FROM attempt_events e, attempt_events_relayed r "
        "WHERE (e.tx_id, e.global_position) > (r.tx_id, r.position)) + "
        "(SELECT count(*) FROM mastery_changes c, mastery_changes_relayed r "
        "WHERE (c.tx_id, c.position) > (r.tx_id, r.position))"
    )
    return logged, waiting


async def _stored(js: JetStreamContext, stream: str) -> list[Message]:
    info = await js.stream_info(stream)
    messages = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        stored = await js.get_msg(stream, sequence)
        assert stored.subject is not None
        assert stored.data is not None
        messages.append((stored.subject, (stored.headers or {})[MSG_ID_HEADER], stored.data))
    return messages


async def _fresh_consumer_reads(js: JetStreamContext, stream: str, subject: str) -> list[Message]:
    """Everything a new durable consumer is delivered, acked, until nothing more comes."""
    subscription = await js.pull_subscribe(subject, durable=f"fresh-{uuid.uuid4().hex[:8]}")
    seen: list[Message] = []
    while True:
        try:
            batch = await subscription.fetch(100, timeout=1)
        except TimeoutError:
            break
        for message in batch:
            seen.append((message.subject, (message.headers or {})[MSG_ID_HEADER], message.data))
            await message.ack()
    await subscription.unsubscribe()
    return seen


async def _lose_streams(js: JetStreamContext, bus: BusNames) -> None:
    """What an unsynced JetStream can lose in a crash; deleting forgets the de-duplication too."""
    for stream in (bus.attempts_stream, bus.mastery_stream):
        await js.delete_stream(stream)


async def _mastery(database_url: str, nats_url: str, bus: BusNames, *arguments: str) -> str:
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "republish", *arguments,
        "--database-url", database_url, "--nats-url", nats_url, "--bus-namespace", bus.namespace,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(command.communicate(), 60)
    assert command.returncode == 0, err.decode()
    return out.decode()


async def test_a_lost_stream_is_republished_from_the_logs_with_the_original_ids(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    await _record_and_project(pool, database_url, servers.nats_url, smtp_sink.url, bus)
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    try:
        published = {
            bus.attempts_stream: await _stored(js, bus.attempts_stream),
            bus.mastery_stream: await _stored(js, bus.mastery_stream),
        }
        assert len(published[bus.attempts_stream]) == 1 + len(STUDENTS)  # the standard too
        assert len(published[bus.mastery_stream]) == len(STUDENTS)
        await _lose_streams(js, bus)

        out = await _mastery(database_url, servers.nats_url, bus, "--from", "1")
        assert "republished 4 attempts events from position 1" in out
        assert "republished 3 mastery events from position 1" in out
        assert "0 already in the stream" in out
        # What the relays published, in the same order, with the same ids and the same content.
        for stream, subject in [
            (bus.attempts_stream, bus.all_attempts(">")),
            (bus.mastery_stream, bus.all_mastery_changed()),
        ]:
            seen = await _fresh_consumer_reads(js, stream, subject)
            assert _decoded(seen) == _decoded(published[stream])
        # The change log keeps the very bytes the mastery relay published.
        assert (
            await _fresh_consumer_reads(js, bus.mastery_stream, bus.all_mastery_changed())
            == published[bus.mastery_stream]
        )

        again = await _mastery(database_url, servers.nats_url, bus, "--from", "1")
        assert "republished 4 attempts events" in again
        assert "4 already in the stream within its duplicate window" in again
        for stream, messages in published.items():
            assert _decoded(await _stored(js, stream)) == _decoded(messages)
    finally:
        await client.close()


async def test_a_range_of_one_log_is_republished_and_nothing_else(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    await _record_and_project(pool, database_url, servers.nats_url, smtp_sink.url, bus)
    positions = await pool.fetch("SELECT position, event_id::text FROM attempt_log ORDER BY 1")
    middle = positions[1:3]
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    try:
        await _lose_streams(js, bus)
        first, last = str(middle[0]["position"]), str(middle[-1]["position"])
        out = await _mastery(
            database_url, servers.nats_url, bus, "--from", first, "--to", last, "--kind", "attempts"
        )
        assert (
            f"republished 2 attempts events from position {first} (through position {last};" in out
        )
        assert "mastery" not in out
        seen = await _fresh_consumer_reads(js, bus.attempts_stream, bus.all_attempts(">"))
        assert [msg_id for _, msg_id, _ in seen] == [row["event_id"] for row in middle]
        # It declares only the streams it sends to: MASTERY is not even back.
        with pytest.raises(NotFoundError):
            await js.stream_info(bus.mastery_stream)
    finally:
        await client.close()


def _org(tenant: str, number: int) -> str:
    event = OrgDefined(tenant_id=tenant, org_id=f"o{number}", name="S", org_type="school")
    return msgspec.json.encode(event).decode()


async def _rosters_relayed(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM roster_log l, roster_log_relayed r "
            "WHERE (l.tx_id, l.number) > (r.tx_id, r.position)"
        )
    )


async def test_lost_rosters_are_republished_from_the_roster_log_for_every_tenant(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    """Roster numbers are each tenant's own: the range takes every tenant's rows within it."""
    sizes = {"small": (1, 3), "larger": (2, 6)}  # classes, students
    tenants = {name: await new_tenant(pool) for name in sizes}
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        for name, (classes, students) in sizes.items():
            _, auth = tenants[name]
            body = zipped(sample_files(classes=classes, students=students))
            imported = await system.mastery.post(
                "/v1/rosters/oneroster", content=body, headers={**auth, **ZIP}
            )
            assert imported.status_code == 200, imported.text
        await eventually(lambda: _rosters_relayed(pool), lambda left: left == 0)
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    try:
        published = await _stored(js, bus.rosters_stream)
        logged = await pool.fetchval("SELECT count(*) FROM roster_log")
        assert len(published) == logged > 0
        await js.delete_stream(bus.rosters_stream)

        out = await _mastery(
            database_url, servers.nats_url, bus, "--from", "1", "--kind", "rosters"
        )
        assert f"republished {logged} rosters events from position 1" in out
        # The same messages, ids and content; the order is by number, then tenant.
        again = await _fresh_consumer_reads(js, bus.rosters_stream, bus.all_rosters())
        assert sorted(again) == sorted(published)
    finally:
        await client.close()


async def test_a_roster_batch_ends_with_every_tenant_s_row_of_its_last_number(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    """Batches of 3 over two tenants' rows 1..4: no row skipped, none sent twice."""
    first, _ = await new_tenant(pool)
    second, _ = await new_tenant(pool)
    async with pool.acquire() as connection:
        for tenant in (first, second):
            for number in range(1, 5):
                await connection.execute(
                    "INSERT INTO roster_log (tenant_id, number, event_type, data, recorded_at) "
                    "VALUES ($1, $2, 'org_defined.v1', $3::jsonb, now())",
                    tenant, number, _org(tenant, number),
                )  # fmt: skip
        seen: list[tuple[int, str]] = []
        position = 1
        while batch := await logged_roster_changes(connection, position, None, 3, bus):
            seen += [(number, row.tenant_id) for number, row in batch]
            position = batch[-1][0] + 1
    mine = [entry for entry in seen if entry[1] in (first, second)]
    assert sorted(mine) == sorted((n, t) for n in range(1, 5) for t in (first, second))
    assert len(set(mine)) == len(mine)
