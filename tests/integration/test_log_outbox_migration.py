"""Migrations attempts/015 and mastery/020 turn each log into its relay's outbox: rows of the old
outboxes not yet relayed are published from the logs, the ones already relayed are not, and
attempt ids stay unique on the log itself."""

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
import nats
import pytest

from services.attempts.adapters.event_store import relayed_log
from services.mastery.adapters.change_log import RELAYED_LOG
from services.migrations import ALL_MIGRATIONS
from shared.contract.events.attempts import AttemptRecorded
from shared.platform.bus import BusNames, ensure_streams
from shared.platform.outbox import OutboxRelay, RelayedLog, RelaySettings
from shared.platform.postgres import MigrationSet, apply_migrations
from shared.platform.roles import prepare_database
from tests.support.roles import TEST_PASSWORDS
from tests.support.servers import Servers

NOW = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
# The last migration of each component before its log became the outbox.
BEFORE = {"attempts": 15, "mastery": 20}


@dataclass(frozen=True, slots=True)
class _Until(MigrationSet):
    before: int = 1000

    def files(self) -> list[tuple[int, str, Traversable]]:
        return [found for found in MigrationSet.files(self) if found[0] < self.before]


def _until(sets: Sequence[MigrationSet]) -> list[MigrationSet]:
    return [
        _Until(found.component, found.package, BEFORE.get(found.component, 1000)) for found in sets
    ]


@pytest.fixture
async def old_database(servers: Servers) -> AsyncIterator[str]:
    """A database migrated up to the outboxes of before: its owner's URL."""
    name = f"log_outbox_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    urls = await prepare_database(
        urlunsplit(urlsplit(servers.database_url)._replace(path=f"/{name}")),
        TEST_PASSWORDS,
        _until(ALL_MIGRATIONS),
    )
    yield urls.owner
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _attempt(n: int) -> AttemptRecorded:
    return AttemptRecorded(
        tenant_id="school", student_id="lee", standard_id="math", attempt_id=f"a{n}",
        score=3, points_possible=4, assessed_at=NOW, recorded_at=NOW,
    )  # fmt: skip


async def _old_rows(connection: "asyncpg.Connection[asyncpg.Record]", bus: BusNames) -> None:
    """Three attempts and three changes logged; the first of each relayed (its outbox row gone)."""
    for n in (1, 2, 3):
        event_id = str(uuid.uuid4())
        await connection.execute(
            "INSERT INTO attempt_events (tenant_id, stream_id, stream_version, event_id, "
            "event_type, data, recorded_at) VALUES ('school', 'school/lee/math', $1, $2, "
            "'attempt_recorded.v2', $3, $4)",
            n, event_id, msgspec.json.encode(_attempt(n)).decode(), NOW,
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO attempt_requests (tenant_id, attempt_id, request, response, event_id, "
            "student_id, standard_id) VALUES ('school', $1, '{}', '{}', $2, 'lee', 'math')",
            f"a{n}", event_id,
        )  # fmt: skip
        change_id = f"change-{n}"
        await connection.execute(
            "INSERT INTO mastery_outbox (tenant_id, subject, msg_id, payload) "
            "VALUES ('school', $1, $2, $3)",
            bus.mastery_changed("school"), change_id, change_id.encode(),
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO mastery_changes (tenant_id, subject, msg_id, payload, student_id, "
            "standard_id, change_number) VALUES ('school', $1, $2, $3, 'lee', 'math', $4)",
            bus.mastery_changed("school"), change_id, change_id.encode(), n,
        )  # fmt: skip
        if n > 1:
            await connection.execute(
                "INSERT INTO attempts_outbox (tenant_id, subject, msg_id, payload) "
                "VALUES ('school', 's', $1, '')",
                event_id,
            )
    await connection.execute("DELETE FROM mastery_outbox WHERE msg_id = 'change-1'")


async def _published(pool: asyncpg.Pool, log: RelayedLog, bus: BusNames, nats_url: str) -> int:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, bus)
        relay = OutboxRelay(
            pool, RelaySettings(log=log, nats_url=nats_url, client_name="migrated", bus=bus)
        )
        published = await relay.relay_once(js)
        assert await relay.relay_once(js) == 0
        return published
    finally:
        await client.close()


async def test_rows_not_yet_relayed_are_published_from_the_logs(
    old_database: str, servers: Servers, bus: BusNames
) -> None:
    connection = await asyncpg.connect(old_database)
    try:
        await _old_rows(connection, bus)
        applied = await apply_migrations(old_database, ALL_MIGRATIONS)
        assert "attempts/015_log_is_the_outbox.sql" in applied
        assert "mastery/020_change_log_is_the_outbox.sql" in applied
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename = ANY($1::text[])",
            ["attempts_outbox", "mastery_outbox", "attempt_requests"],
        )
        assert tables == 0
        with pytest.raises(asyncpg.UniqueViolationError):  # the attempt id is taken on the log
            await connection.execute(
                "INSERT INTO attempt_events (tenant_id, stream_id, stream_version, event_id, "
                "event_type, data, recorded_at) VALUES ('school', 'school/ana/math', 1, "
                "gen_random_uuid(), 'attempt_recorded.v2', $1, now())",
                msgspec.json.encode(_attempt(2)).decode(),
            )
    finally:
        await connection.close()
    pool = await asyncpg.create_pool(old_database, min_size=1, max_size=2)
    assert pool is not None
    try:
        assert await _published(pool, relayed_log(bus), bus, servers.nats_url) == 2
        assert await _published(pool, RELAYED_LOG, bus, servers.nats_url) == 2
    finally:
        await pool.close()
