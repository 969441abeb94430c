"""Statements that run on every batch keep reading by key while the log outgrows its statistics.

A new installation's first bulk import grows `attempt_events` from a few rows to many faster than
autovacuum analyzes it, and the services' prepared statements are planned (and their plans
cached) meanwhile. A statement whose plan compares a key lookup with a scan of the tenant's
events then picks the scan, and pays for every event of the tenant on each call until the
statistics catch up. These read one index entry per key however stale the statistics are.
"""

from collections.abc import Iterator
from typing import Any

import asyncpg
import msgspec
import pytest

from services.attempts.adapters.recorder import BATCH_READ
from services.mastery.adapters.positions import _LOOK
from tests.support.roles import service_url

TENANT = "grown"
ANALYZED_EVENTS = 60
EVENTS = 5_000

_FILL = """
INSERT INTO attempt_events
    (tenant_id, stream_id, stream_version, event_id, event_type, data, recorded_at)
SELECT $1, $1 || '/s' || n || '/math', 1, gen_random_uuid(), 'attempt_recorded.v2',
       jsonb_build_object('attempt_id', 'a' || n), now()
  FROM generate_series($2::int, $3::int) AS n
"""


@pytest.fixture
async def grown_log(database_url: str) -> str:
    """Sixty schools with an event each, analyzed; then one of them imports 5,000 more
    (autovacuum kept off, so nothing analyzes them)."""
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute("ALTER TABLE attempt_events SET (autovacuum_enabled = false)")
        for school in range(ANALYZED_EVENTS - 1):
            await admin.execute(_FILL, f"school{school}", 1, 1)
        await admin.execute(_FILL, TENANT, 1, 1)
        await admin.execute("ANALYZE attempt_events")
        await admin.execute(_FILL, TENANT, 2, EVENTS)
    finally:
        await admin.close()
    return database_url


async def _generic_plan(url: str, statement: str, types: str, arguments: str) -> dict[str, Any]:
    """The plan a cached prepared statement runs (generic: planned without its arguments),
    executed once with `arguments`."""
    connection = await asyncpg.connect(url, server_settings={"app.tenant_id": "*"})
    try:
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute(f"PREPARE measured ({types}) AS {statement}")
        plan = await connection.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE measured ({arguments})"
        )
    finally:
        await connection.close()
    [document] = msgspec.json.decode(plan)
    root: dict[str, Any] = document["Plan"]
    return root


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _event_rows_read(plan: dict[str, Any]) -> int:
    """Rows of attempt_events the plan's scans produced, before any filter removed them."""
    return sum(
        (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        for node in _nodes(plan)
        if node.get("Relation Name") == "attempt_events"
        or "attempt_events" in node.get("Index Name", "")
    )


async def test_the_watermark_look_reads_the_newest_event_alone(grown_log: str) -> None:
    plan = await _generic_plan(
        service_url(grown_log, "mastery"), _LOOK, "text[]", f"'{{{TENANT}}}'::text[]"
    )
    assert _event_rows_read(plan) <= 2, plan
    assert plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0) < 30, plan


async def test_the_batch_read_probes_each_attempt_id_and_stream(grown_log: str) -> None:
    batch = range(EVENTS - 499, EVENTS + 1)  # a batch of 500 attempts the log holds already
    ids = ",".join(f"a{n}" for n in batch)
    streams = ",".join(f"{TENANT}/s{n}/math" for n in batch)
    plan = await _generic_plan(
        service_url(grown_log, "attempts"),
        BATCH_READ,
        "text, text[], text[], text[]",
        f"'{TENANT}', '{{{ids}}}'::text[], '{{{streams}}}'::text[], '{{}}'::text[]",
    )
    assert plan["Actual Rows"] == 2 * 500  # each id's event, and each stream's one event
    # Each read once by its key, not every event of the tenant (5,000, twice).
    assert _event_rows_read(plan) <= 2 * 500, plan
