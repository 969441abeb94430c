"""The fault suite's checks are not vacuous: each fails when the system is made to break the
invariant it states (in a transaction rolled back afterwards, and with a mail file moved away)."""

from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from tests.faults.experiments import NoFault, run_experiment
from tests.faults.invariants import Mailbox, Observation, observe
from tests.faults.load import LoadPlan, School
from tests.faults.system import FaultSystem

pytestmark = pytest.mark.faults

Tamper = Callable[[asyncpg.Connection, str], Awaitable[object]]

TAMPERING: dict[str, tuple[str, Tamper]] = {
    "an accepted attempt missing from the read model": (
        "accepted but not in the read model",
        lambda db, tenant: db.execute(
            "DELETE FROM mastery_evidence WHERE ctid = (SELECT ctid FROM mastery_evidence "
            "WHERE tenant_id = $1 LIMIT 1)",
            tenant,
        ),
    ),
    "a proficiency that a rebuild would not give": (
        "read-model states that differ from a rebuild",
        lambda db, tenant: db.execute(
            "UPDATE proficiencies SET state = replace(state::text, '\"evidence_count\":', "
            "'\"evidence_count\":1') ::json WHERE tenant_id = $1",
            tenant,
        ),
    ),
    "a change emitted twice": (
        "changes differ from an in-order replay",
        lambda db, tenant: db.execute(
            "INSERT INTO mastery_changes (tenant_id, subject, msg_id, payload, student_id, "
            "standard_id, change_number) "
            "SELECT tenant_id, subject, msg_id, payload, student_id, standard_id, change_number "
            "FROM mastery_changes WHERE tenant_id = $1 LIMIT 1",
            tenant,
        ),
    ),
}


async def _quiet_school(system: FaultSystem) -> tuple[School, set[str]]:
    plan = LoadPlan(attempts=30, students=3, rate=30.0, seed=99)
    outcome = await run_experiment(system, NoFault(), plan, recover_within=30)
    assert outcome.recovered, outcome.problems
    return outcome.school, outcome.load.accepted


async def _tampered(system: FaultSystem, school: School, accepted: set[str],
                    tamper: Tamper) -> Observation:  # fmt: skip
    connection = await system.connect()
    try:
        transaction = connection.transaction()
        await transaction.start()
        await tamper(connection, school.tenant_id)
        seen = await observe(connection, Mailbox(system.mail_dir), school, accepted)
        await transaction.rollback()
    finally:
        await connection.close()
    return seen


async def test_each_check_fails_when_its_invariant_is_broken(fault_system: FaultSystem) -> None:
    school, accepted = await _quiet_school(fault_system)
    for what, (problem, tamper) in TAMPERING.items():
        seen = await _tampered(fault_system, school, accepted, tamper)
        assert any(problem in found for found in seen.problems), (what, seen.problems)
    mails = sorted(fault_system.mail_dir.glob("*.eml"))
    ours = [path for path in mails if f"@{school.tenant_id}." in path.read_text()]
    copy = ours[0].with_name("copy-" + ours[0].name)
    copy.write_bytes(ours[0].read_bytes())
    moved = ours[1].rename(ours[1].with_suffix(".away"))
    try:
        seen = await _tampered(fault_system, school, accepted, _nothing)
    finally:
        moved.rename(ours[1])
        copy.unlink()
    assert (seen.duplicates, seen.lost) == (1, 1), seen
    assert any("emails expected and not received: 1" in found for found in seen.problems)


async def _nothing(connection: asyncpg.Connection, tenant_id: str) -> None:
    return None
