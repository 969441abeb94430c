"""A student with evidence on two standards, for the family report's tests, and the app serving it.

Maya, in a school on Chicago time, on "Add and subtract fractions" (method `average`, the 1-4
scale): q1 2 of 4 points (2), q2 missing, q3 3 of 4 (3; assessed 03:00 UTC on 1 October, still
30 September in Chicago), q5 1 of 4 then voided, q4 4 of 4 (4). Counted: 2, 3, 4, average 3:
Proficient, level 3, mastered; the result after each scored assessment: 2, 2.5, 3 (q5 is voided,
so it is no point of the growth). On "Find the main idea" (`latest`): r1 1 of 4 (1), Beginning,
not mastered. Noah has q-noah on the first standard, which Maya's report must never show.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt, Refuse, VoidAttempt
from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from shared.platform.bus import BusNames
from shared.platform.postgres import DbConnection
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import define_standard, new_tenant

SECRET = "family-report-secret-for-the-tests-0123456789"
TIME_ZONE = "America/Chicago"
FRACTIONS, MAIN_IDEA = "math.fractions", "read.main-idea"
NAMES = {"maya": "Maya López", "noah": "Noah Kim"}


class Names:
    """The roster's names, as the composition root will wire them."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = names

    async def name_of(
        self, connection: DbConnection, tenant_id: str, student_id: str
    ) -> str | None:
        return self._names.get(student_id)


@asynccontextmanager
async def report_app(
    database_url: str, servers: Servers, bus: BusNames, *, roster_names: bool = False
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The mastery app with the names of `NAMES`, or with `roster_names` as deployed: the
    roster's."""
    config = MasteryConfig(
        database_url=service_url(database_url, "mastery"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        report_link_secret=SECRET,
        report_time_zone=TIME_ZONE,
        bus_stream_replicas=1,
    )
    names = None if roster_names else Names(NAMES)
    async with AsyncTestClient(create_app(config, student_names=names)) as client:
        yield client


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def _record(
    recorder: AttemptRecorder, tenant: str, student: str, standard: str, attempt: str,
    score: float | None, assessed: str,
) -> None:  # fmt: skip
    command = RecordAttempt(
        tenant_id=tenant, attempt_id=attempt, student_id=student, standard_id=standard,
        status="scored" if score is not None else "missing", score=score,
        points_possible=4 if score is not None else None, assessed_at=_at(assessed),
    )  # fmt: skip
    assert not isinstance(await recorder.record(command, now=datetime.now(UTC)), Refuse)


async def seeded_school(pool: asyncpg.Pool, bus: BusNames) -> str:
    """A new tenant with Maya's and Noah's evidence; its id."""
    tenant, _ = await new_tenant(pool)
    await define_standard(
        pool, bus, tenant, FRACTIONS, title="Add and subtract fractions", method="average"
    )
    await define_standard(pool, bus, tenant, MAIN_IDEA, title="Find the main idea")
    recorder = AttemptRecorder(pool, bus)
    for attempt, score, assessed in [
        ("q1", 2, "2026-09-15T15:00:00"),
        ("q2", None, "2026-09-22T15:00:00"),
        ("q3", 3, "2026-10-01T03:00:00"),
        ("q5", 1, "2026-10-03T15:00:00"),
        ("q4", 4, "2026-10-06T15:00:00"),
    ]:
        await _record(recorder, tenant, "maya", FRACTIONS, attempt, score, assessed)
    void = VoidAttempt(tenant_id=tenant, attempt_id="q5", reason="another student's paper")
    assert not isinstance(await recorder.void(void, now=datetime.now(UTC)), Refuse)
    await _record(recorder, tenant, "maya", MAIN_IDEA, "r1", 1, "2026-10-02T15:00:00")
    await _record(recorder, tenant, "noah", FRACTIONS, "q-noah", 4, "2026-10-02T15:00:00")
    return tenant
