"""The planner plans a batch of changes in a fixed number of statements, whatever its size.

The failure this guards against: three statements per change (keep it, read the school's
settings, read the student's guardians), so that the notifier's share of an attempt's cost grew
with every change in a batch, and a batch's emails went to the wrong student's guardians or
skipped an address that asked to hear nothing.
"""

from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from services.notify.adapters import store
from services.notify.adapters.planner import NotificationPlanner
from services.notify.core.messages import Guardian
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.mastery import AnyMasteryEvent
from shared.platform.consumer import Delivered
from tests.support.family_email import CHANGE, NO_DELAY
from tests.support.tenants import new_tenant


class _Statements:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, logged: object) -> None:
        self.texts.append(str(getattr(logged, "query", "")))


@pytest.fixture
async def counted(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, _Statements]]:
    statements = _Statements()

    async def log_queries(connection: asyncpg.Connection) -> None:
        connection.add_query_logger(statements)

    created = await asyncpg.create_pool(database_url, min_size=1, max_size=2, init=log_queries)
    assert created is not None
    yield created, statements
    await created.close()


def _delivered(tenant: str, student: str, standard: str, number: int) -> Delivered[AnyMasteryEvent]:
    change = msgspec.structs.replace(
        CHANGE, tenant_id=tenant, student_id=student, standard_id=standard,
        change_id=f"{tenant}-{number}",
    )  # fmt: skip
    envelope = CloudEvent[AnyMasteryEvent](
        id=change.change_id, source="/test", type=cloudevent_type(change), subject="x",
        time=change.changed_at, tenantid=tenant, streamversion=1, data=change,
    )  # fmt: skip
    return Delivered(envelope, number)


async def _planned(pool: asyncpg.Pool) -> set[tuple[str, str, str]]:
    rows = await pool.fetch("SELECT tenant_id, change_id, guardian_email FROM notifications")
    return {(row[0], row[1], row[2]) for row in rows}


async def test_a_batch_is_planned_in_the_statements_of_one_change(
    pool: asyncpg.Pool, counted: tuple[asyncpg.Pool, _Statements]
) -> None:
    counted_pool, statements = counted
    north, _ = await new_tenant(pool, "north")
    south, _ = await new_tenant(pool, "south")
    async with pool.acquire() as connection:
        await store.replace_guardians(connection, north, "maya", [
            Guardian(email="ana@example.org"), Guardian(email="quiet@example.org"),
        ])  # fmt: skip
        await store.replace_guardians(connection, south, "maya", [Guardian(email="li@example.org")])
        await connection.execute(
            "INSERT INTO unsubscribes (tenant_id, address) VALUES ($1, 'quiet@example.org')", north
        )
    planner = NotificationPlanner(counted_pool, defaults=NO_DELAY)
    # The first batch also reads the types of its parameters: not counted.
    await planner.handle_mastery_events([_delivered(north, "maya", "math.0", 0)])
    statements.texts.clear()

    await planner.handle_mastery_events([_delivered(north, "maya", "math.1", 1)])
    one_change = len(statements.texts)
    statements.texts.clear()
    await planner.handle_mastery_events([
        _delivered(north, "maya", "math.2", 2), _delivered(north, "ben", "math.1", 3),
        _delivered(north, "maya", "math.3", 4), _delivered(north, "ben", "math.2", 5),
    ])  # fmt: skip
    assert len(statements.texts) == one_change, statements.texts
    # Two tenants: one more read of settings, no more per change.
    statements.texts.clear()
    await planner.handle_mastery_events([
        _delivered(south, "maya", "math.1", 6), _delivered(north, "maya", "math.4", 7),
    ])  # fmt: skip
    assert len(statements.texts) == one_change + 1, statements.texts

    # Each change of a student with guardians went to them, and only them; the unsubscribed
    # address and the student without guardians got nothing.
    assert await _planned(pool) == {
        (north, f"{north}-0", "ana@example.org"),
        (north, f"{north}-1", "ana@example.org"), (north, f"{north}-2", "ana@example.org"),
        (north, f"{north}-4", "ana@example.org"), (north, f"{north}-7", "ana@example.org"),
        (south, f"{south}-6", "li@example.org"),
    }  # fmt: skip
    kept = await pool.fetchval("SELECT count(*) FROM notified_changes WHERE tenant_id = ANY($1)",
                               [north, south])  # fmt: skip
    assert kept == 8
