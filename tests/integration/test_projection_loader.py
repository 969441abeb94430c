"""The projector's PostgreSQL loader and writer honour the same contract as the in-memory model.

The same plans are written to both; every kind of look-up the projection can ask for must then
load the same data from each, so the pure property tests over the memory model speak for the
real read model too.
"""

from datetime import UTC, datetime

import asyncpg

from services.mastery.adapters import policies, read_model
from services.mastery.adapters.projector import load
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.plan import GradebookEntry, NeedsLoading, Plan
from services.mastery.core.projection import key_of
from services.mastery.core.student_standard import StudentStandardKey
from shared.contract.events.attempts import AttemptEvent, AttemptRecorded
from shared.platform.bus import BusNames
from tests.support.gradebook import TENANT, Gradebook, write_log
from tests.support.memory_read_model import MemoryReadModel

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)


async def _write_to_both(
    pool: asyncpg.Pool, model: MemoryReadModel, batch: list[GradebookEntry]
) -> None:
    """Project on the memory model; write the same plan to PostgreSQL as the shell does."""
    plan = model.handle(batch, default_policy=CalculationPolicy(), now=NOW)
    assert isinstance(plan, Plan)
    async with pool.acquire() as connection, connection.transaction():
        await write_log(connection, batch)  # each batch holds events just written
        for standard in plan.standards:
            await policies.save_standard(connection, standard.definition, standard.policy)
        for tenant_default in plan.tenant_defaults:
            await policies.save_tenant_default(connection, tenant_default)
        await read_model.write_plan(connection, plan, NOW, BusNames("loader"))


async def test_every_look_up_loads_the_same_from_postgresql_as_from_memory(
    pool: asyncpg.Pool,
) -> None:
    book = Gradebook()
    model = MemoryReadModel(log=book.entries)
    await _write_to_both(pool, model, [book.tenant_default("average"), book.define("s1", None)])
    await _write_to_both(pool, model, [book.define("s2", "highest")])
    first = book.attempt("ana", 3, 1, standard="s1")
    marker = book.attempt("ana", None, 2, standard="s1")
    other = book.attempt("ben", 2, 1, standard="s2")
    await _write_to_both(pool, model, [first, marker, other])
    assert isinstance(first.event, AttemptRecorded)
    await _write_to_both(pool, model, [book.rescore(first.event, 4), book.void(first.event)])

    ana, ben = (
        key_of(first.event),
        StudentStandardKey(tenant_id=TENANT, student_id="ben", standard_id="s2"),
    )
    nobody = StudentStandardKey(tenant_id=TENANT, student_id="nobody", standard_id="s1")
    needs = NeedsLoading(
        states=frozenset({ana, ben, nobody}),
        log=frozenset({(ana, 9), (ben, 1), (nobody, 3)}),
        histories=frozenset({ana, nobody}),
        policies=frozenset({(TENANT, "s1"), (TENANT, "s2"), (TENANT, "never")}),
        latest_standards=frozenset({(TENANT, "s1"), (TENANT, "s2"), (TENANT, "never")}),
        tenant_policies=frozenset({TENANT, "other-school"}),
        tenant_standards=frozenset({TENANT}),
        standard_students=frozenset({(TENANT, "s2")}),
    )
    async with pool.acquire() as connection, connection.transaction():
        from_postgresql = await load(connection, needs)
    from_memory = model.load(needs)
    assert from_postgresql == from_memory
    assert from_postgresql.records[ana][first.event.attempt_id].voided
    assert from_postgresql.states[ana].standing.score is None  # its only score was voided
    assert set(from_postgresql.definitions) == {(TENANT, "s1"), (TENANT, "s2")}
    assert set(from_postgresql.latest_standards) == {(TENANT, "s1"), (TENANT, "s2")}
    assert from_postgresql.log == {}  # every version logged is reflected by its state already
    await pool.execute(  # a state stored before states kept the version they reflect
        "UPDATE proficiencies SET state = (state::jsonb - 'last_version')::json "
        "WHERE student_id = 'ana'"
    )
    async with pool.acquire() as connection, connection.transaction():
        from_postgresql = await load(connection, needs)
    assert [entry.stream_version for entry in from_postgresql.log[ana]] == [1, 2, 3, 4]
    assert from_postgresql.log[ana] == tuple(
        e for e in book.entries if e.event_id in _ids(ana, book)
    )


def _ids(key: StudentStandardKey, book: Gradebook) -> set[str]:
    return {
        entry.event_id
        for entry in book.entries
        if isinstance(entry.event, AttemptEvent) and key_of(entry.event) == key
    }
