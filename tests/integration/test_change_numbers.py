"""Mastery changes are numbered per student-standard (their CloudEvents `streamversion`).

`enqueue_changes` numbers each change after its student-standard's last logged one, and
migration mastery/013 numbers the changes logged before, rewriting their `null` in the change
log and in outbox rows not yet relayed.
"""

import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec

from services.mastery.adapters.change_log import enqueue_changes
from services.mastery.migrations import MIGRATIONS as MASTERY_MIGRATIONS
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.mastery import MasteryChanged
from shared.platform.bus import BusNames
from shared.platform.postgres import apply_migrations

NOW = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
BUS = BusNames("numbers")


def _change(student: str, standard: str = "math.ratio", tenant: str = "school") -> MasteryChanged:
    return MasteryChanged(
        tenant_id=tenant, student_id=student, standard_id=standard, change_id=str(uuid.uuid4()),
        previous_level=None, previous_mastered=False, level=2, level_label="Developing",
        mastered=False, score=2, method="latest", caused_by_attempt_id="a",
        caused_by_event_id=str(uuid.uuid4()), assessed_at=NOW, changed_at=NOW,
    )  # fmt: skip


async def _logged(pool: asyncpg.Pool) -> list[tuple[str, str, int, int | None]]:
    """(student, standard, change_number, the payload's streamversion), in log order."""
    rows = await pool.fetch(
        "SELECT student_id, standard_id, change_number, payload FROM mastery_changes "
        "ORDER BY position"
    )
    return [
        (
            row["student_id"],
            row["standard_id"],
            row["change_number"],
            msgspec.json.decode(row["payload"])["streamversion"],
        )
        for row in rows
    ]


async def test_each_student_standards_changes_are_numbered_across_batches(
    pool: asyncpg.Pool,
) -> None:
    batches = [
        [_change("lee"), _change("maya"), _change("lee")],
        [_change("lee", "math.ratio", tenant="other"), _change("lee"), _change("lee", "ela")],
    ]
    for batch in batches:
        async with pool.acquire() as connection, connection.transaction():
            await enqueue_changes(connection, batch, BUS)
    assert await _logged(pool) == [
        ("lee", "math.ratio", 1, 1), ("maya", "math.ratio", 1, 1), ("lee", "math.ratio", 2, 2),
        ("lee", "math.ratio", 1, 1), ("lee", "math.ratio", 3, 3), ("lee", "ela", 1, 1),
    ]  # fmt: skip


def _legacy_payload(change: MasteryChanged) -> bytes:
    envelope = CloudEvent(
        id=change.change_id, source="/services/mastery", type=cloudevent_type(change),
        subject=f"school/{change.student_id}/{change.standard_id}", time=NOW,
        tenantid="school", data=change,
    )  # fmt: skip
    return msgspec.json.encode(envelope)  # as released before: "streamversion": null


async def test_the_migration_numbers_the_changes_logged_before_it(
    pool: asyncpg.Pool, database_url: str
) -> None:
    # The database as it was before mastery/013, with three changes logged and not relayed (the
    # outbox of the time, which mastery/020 dropped).
    await pool.execute(
        "CREATE TABLE mastery_outbox (position bigserial PRIMARY KEY, tenant_id text NOT NULL, "
        "subject text NOT NULL, msg_id text NOT NULL, payload bytea NOT NULL); "
        "DROP INDEX mastery_changes_by_student_standard; "
        "ALTER TABLE mastery_changes DROP COLUMN student_id, DROP COLUMN standard_id, "
        "DROP COLUMN change_number; "
        "DELETE FROM schema_migrations WHERE component = 'mastery' AND version = 13"
    )
    legacy = [_change("lee"), _change("maya"), _change("lee")]
    for change in legacy:
        for table in ("mastery_changes", "mastery_outbox"):
            await pool.execute(
                f"INSERT INTO {table} (tenant_id, subject, msg_id, payload) "
                "VALUES ('school', 'mastery.school.changed', $1, $2)",
                change.change_id,
                _legacy_payload(change),
            )
    assert await apply_migrations(database_url, [MASTERY_MIGRATIONS]) == [
        "mastery/013_change_numbers.sql"
    ]
    assert await _logged(pool) == [
        ("lee", "math.ratio", 1, 1), ("maya", "math.ratio", 1, 1), ("lee", "math.ratio", 2, 2),
    ]  # fmt: skip
    outbox = await pool.fetch("SELECT payload FROM mastery_outbox ORDER BY position")
    decoded = [msgspec.json.decode(row["payload"]) for row in outbox]
    assert [envelope["streamversion"] for envelope in decoded] == [1, 1, 2]
    assert [envelope["data"]["change_id"] for envelope in decoded] == [
        change.change_id for change in legacy
    ]
    # New changes follow on.
    async with pool.acquire() as connection, connection.transaction():
        await enqueue_changes(connection, [_change("lee")], BUS)
    assert (await _logged(pool))[-1] == ("lee", "math.ratio", 3, 3)
