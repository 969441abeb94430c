"""The attempts service's read contract: the `attempt_log` view is all other services read."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from shared.platform.bus import BusNames
from tests.support.tenants import define_standard

ROOT = Path(__file__).resolve().parents[2]
PROMISED_COLUMNS = [
    "position", "tenant_id", "stream_id", "stream_version", "event_id", "event_type",
    "recorded_at", "data", "student_stream", "traceparent",
]  # fmt: skip


def test_no_other_service_names_the_attempts_tables() -> None:
    for service in ("mastery", "notify"):
        for source in (ROOT / "services" / service).rglob("*"):
            if source.suffix in (".py", ".sql"):
                text = source.read_text(encoding="utf-8")
                assert "attempt_events" not in text, f"{source} reads the attempts service's table"
                assert "attempt_requests" not in text, (
                    f"{source} reads the attempts service's table"
                )


async def test_the_log_view_keeps_its_promised_columns_and_tells_student_streams_apart(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    columns = await pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'attempt_log' "
        "ORDER BY ordinal_position"
    )
    assert [row["column_name"] for row in columns] == PROMISED_COLUMNS
    await define_standard(pool, bus, "school", "math.ratio")
    await pool.execute(
        "INSERT INTO attempt_events (tenant_id, stream_id, stream_version, event_id, event_type, "
        "data, recorded_at) VALUES ('school', 'school/lee/math.ratio', 1, $1, "
        "'attempt_recorded.v2', '{}', $2)",
        uuid.uuid4(),
        datetime.now(UTC),
    )
    rows = await pool.fetch("SELECT stream_id, student_stream FROM attempt_log ORDER BY position")
    assert [(row["stream_id"], row["student_stream"]) for row in rows] == [
        ("school//standards/math.ratio", False),
        ("school/lee/math.ratio", True),
    ]
