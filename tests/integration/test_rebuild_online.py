"""`mastery rebuild` builds shadow tables while reads and the projector go on, catches the shadow up
with what the projector applied meanwhile, and swaps it in with the live tables' walls."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt, Refuse
from services.mastery.adapters import rebuild, shadow, verify
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.adapters.replay import Writer, replay_log
from shared.contract.events.gradebook import gradebook_envelopes
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.integration.test_rebuild import NOW, POLICY, _record_and_project
from tests.support.logs import logged_messages
from tests.support.polling import eventually
from tests.support.tenants import define_standard

_envelopes = gradebook_envelopes()


async def _record(
    pool: asyncpg.Pool, bus: BusNames, attempt: str, student: str, *rest: Any
) -> None:
    standard, score, days = rest
    command = RecordAttempt(
        tenant_id="school",
        attempt_id=attempt,
        student_id=student,
        standard_id=standard,
        status="scored",
        score=score,
        points_possible=4,
        assessed_at=NOW - timedelta(days=days),
    )
    assert not isinstance(await AttemptRecorder(pool).record(command, now=NOW), Refuse)


async def _project_after(pool: asyncpg.Pool, bus: BusNames, position: int) -> int:
    """Project every event after `position`, as the projector would; the last position."""
    rows = await logged_messages(pool, bus, after=position)
    projector = MasteryProjector(pool, bus, POLICY)
    for logged, message in rows:
        envelope = _envelopes.decode(message.payload)
        await projector.handle_gradebook_events([Delivered(envelope, logged)])
    return rows[-1][0] if rows else position


async def _standing(pool: asyncpg.Pool, student: str, standard: str) -> tuple[object, ...] | None:
    row = await pool.fetchrow(
        "SELECT score, evidence_count, method, last_version FROM proficiencies "
        "WHERE student_id = $1 AND standard_id = $2",
        student,
        standard,
    )
    return tuple(row.values()) if row else None


async def _last_position(pool: asyncpg.Pool) -> int:
    position: int = await pool.fetchval("SELECT coalesce(max(position), 0) FROM attempt_log")
    return position


async def test_what_the_projector_applies_during_the_build_survives_the_swap(
    pool: asyncpg.Pool, bus: BusNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _record_and_project(pool, bus)
    projected = await _last_position(pool)
    await _record(pool, bus, "a22", "ana", "math.ratio", 1, 0)  # in the snapshot, not projected
    ana_before = await _standing(pool, "ana", "math.ratio")
    await pool.execute("UPDATE proficiencies SET score = 0 WHERE student_id = 'lee'")  # damage
    during: dict[str, object] = {}

    async def meanwhile() -> None:
        """After the shadow is built from its snapshot, before it is caught up and swapped."""
        async with pool.acquire() as reader:
            await reader.execute("SET lock_timeout = '1s'")  # a read must not wait for the build
            during["rows read"] = await reader.fetchval("SELECT count(*) FROM proficiencies")
        await _record(pool, bus, "a20", "lee", "ela.theme", 1, 0)  # a stream the shadow has
        await _record(pool, bus, "a21", "kim", "math.ratio", 4, 0)  # a stream it has not
        await define_standard(pool, bus, "school", "ela.theme", method="highest")  # a policy
        await _project_after(pool, bus, await _last_position(pool) - 3)  # not a22
        during["lee ela.theme"] = await _standing(pool, "lee", "ela.theme")

    _after_replay(monkeypatch, meanwhile)
    async with pool.acquire() as connection, pool.acquire() as reader:
        report = await asyncio.wait_for(
            rebuild.rebuild_read_model(connection, reader, default_policy=POLICY, now=NOW), 30
        )

    assert during["rows read"] == 3
    assert during["lee ela.theme"] == (3, 2, "highest", 2)  # applied live during the build
    assert report.caught_up >= 3  # lee's ela.theme, kim's math.ratio, ana's cut back
    assert await _standing(pool, "lee", "ela.theme") == during["lee ela.theme"]
    assert await _standing(pool, "kim", "math.ratio") == (4, 1, "decaying_average", 1)
    assert await pool.fetchval(
        "SELECT score FROM proficiencies WHERE student_id = 'lee' AND standard_id = 'math.ratio'"
    ) == pytest.approx(3.18)  # the damage is repaired
    # ana's a22 is in the log but not projected: the shadow stands where the projector stood...
    assert await _standing(pool, "ana", "math.ratio") == ana_before
    changes_before = await pool.fetchval("SELECT count(*) FROM mastery_changes")
    assert [d.key.student_id for d in await _differences(pool)] == ["ana"]
    # ...so the projector applies it after the swap and emits its change
    await _project_after(pool, bus, projected)
    assert await pool.fetchval("SELECT count(*) FROM mastery_changes") == changes_before + 1
    assert await _differences(pool) == []


async def test_the_swapped_in_tables_keep_the_grants_walls_and_index_names(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    await _record_and_project(pool, bus)
    before = await _walls(pool)
    assert "tenant_wall" in str(before["proficiencies"])
    async with pool.acquire() as connection, pool.acquire() as reader:
        await rebuild.rebuild_read_model(connection, reader, default_policy=POLICY, now=NOW)
    assert await _walls(pool) == before
    leftovers = "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%shadow%'"
    assert await pool.fetchval(leftovers) == 0


async def _walls(pool: asyncpg.Pool) -> dict[str, object]:
    walls: dict[str, object] = {}
    for table in ("proficiencies", "mastery_evidence"):
        walls[table] = (
            await pool.fetchrow(
                "SELECT relacl::text, relrowsecurity, relforcerowsecurity, relowner::regrole::text "
                "FROM pg_class WHERE oid = $1::regclass",
                table,
            ),
            await pool.fetch(
                "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
                "WHERE tablename = $1",
                table,
            ),
            await pool.fetch(
                "SELECT indexname, regexp_replace(indexdef, ' ON \\S+', '') FROM pg_indexes "
                "WHERE tablename = $1 ORDER BY indexname",
                table,
            ),
        )
    return walls


async def _differences(pool: asyncpg.Pool) -> list[verify.Difference]:
    async with pool.acquire() as connection, pool.acquire() as reader:
        report = await verify.verify_read_model(connection, reader, default_policy=POLICY, now=NOW)
    return report.differences


def _after_replay(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], Awaitable[None]]) -> None:
    replay = replay_log  # what the rebuild calls, by its name there

    async def replay_then_hook(
        connection: asyncpg.Connection, reader: asyncpg.Connection, writer: Writer, progress: Any
    ) -> None:
        await replay(connection, reader, writer, progress)
        await asyncio.wait_for(hook(), 10)  # the projector must not wait for the build either

    monkeypatch.setattr(rebuild, "replay_log", replay_then_hook)


async def test_a_read_waiting_for_the_swap_reads_the_new_table(
    pool: asyncpg.Pool, bus: BusNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _record_and_project(pool, bus)
    await pool.execute("UPDATE proficiencies SET score = 0")  # so old and new tables differ
    query = "SELECT sum(score) FROM proficiencies"
    async with pool.acquire() as reader_connection:
        assert await reader_connection.fetchval(query) == 0  # its statement is prepared and cached
        swap = shadow.swap_in
        waiting: list[asyncio.Task[Any]] = []

        async def swap_with_a_read_waiting(connection: asyncpg.Connection) -> None:
            await swap(connection)  # the live tables are held exclusively until the commit
            waiting.append(asyncio.create_task(reader_connection.fetchval(query)))
            await eventually(lambda: _waiting_reads(pool), lambda n: n == 1)

        monkeypatch.setattr(shadow, "swap_in", swap_with_a_read_waiting)
        async with pool.acquire() as connection, pool.acquire() as reader:
            await rebuild.rebuild_read_model(connection, reader, default_policy=POLICY, now=NOW)
        assert await asyncio.wait_for(waiting[0], 5) == pytest.approx(3.83 + 3.18 + 3)


async def _waiting_reads(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query = 'SELECT sum(score) FROM proficiencies'"
    )
    return count


async def test_a_long_read_delays_the_swap_but_not_the_reads_after_it(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    await _record_and_project(pool, bus)
    async with pool.acquire() as long_reader, pool.acquire() as connection:
        held = long_reader.transaction()
        await held.start()
        await long_reader.fetchval("SELECT count(*) FROM proficiencies")  # held until the end
        async with pool.acquire() as reader:
            rebuilding = asyncio.create_task(
                rebuild.rebuild_read_model(connection, reader, default_policy=POLICY, now=NOW)
            )
            await eventually(lambda: _swap_tries(pool), lambda n: n > 0)
            slowest = 0.0
            for _ in range(10):  # each would wait for the long read without the swap's timeout
                started = time.monotonic()
                await asyncio.wait_for(pool.fetchval("SELECT count(*) FROM proficiencies"), 5)
                slowest = max(slowest, time.monotonic() - started)
            assert slowest < 1.0
            assert not rebuilding.done()
            await held.rollback()
            report = await asyncio.wait_for(rebuilding, 30)
    assert report.proficiencies == 3


async def _swap_tries(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LOCK TABLE proficiencies, "
        "mastery_evidence IN ACCESS EXCLUSIVE MODE%'"
    )
    return count
