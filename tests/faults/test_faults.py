"""Crash, restart and starve parts of the running system under a steady load of attempts; the
system must recover by itself with nothing accepted lost, the read model equal to a rebuild, no
false or missing mastery change and one email per change and guardian.

The experiments share one system, in order from the least harmful; each has a school of its own,
and the last test checks every school again.
"""

import pytest

from tests.faults.experiments import Fault, Outcome, all_faults, recovery, run_experiment
from tests.faults.load import LoadPlan
from tests.faults.system import FaultSystem, log_tail

pytestmark = pytest.mark.faults

ATTEMPTS, STUDENTS, RATE = 100, 5, 12.0  # per experiment: 8 s of load, as long as two kills
# A message delivered to a killed process comes back after the consumers' ack_wait (30 s).
RECOVER_WITHIN = 60.0
FAULTS = all_faults()
OUTCOMES: list[Outcome] = []


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
async def test_the_system_recovers_by_itself(fault_system: FaultSystem, fault: Fault) -> None:
    plan = LoadPlan(attempts=ATTEMPTS, students=STUDENTS, rate=RATE, seed=len(OUTCOMES) + 1)
    outcome = await run_experiment(fault_system, fault, plan, recover_within=RECOVER_WITHIN)
    OUTCOMES.append(outcome)
    assert outcome.recovered, _report(fault_system, outcome)
    assert not outcome.problems, _report(fault_system, outcome)
    assert outcome.seen.accepted > ATTEMPTS * 0.9, outcome.load
    assert outcome.seen.changes > 0


async def test_every_school_still_holds_after_all_experiments(fault_system: FaultSystem) -> None:
    if not OUTCOMES:
        pytest.skip("no experiment ran")
    for outcome in OUTCOMES:
        seen, held = await recovery(
            fault_system, outcome.school, outcome.load.accepted, within=RECOVER_WITHIN
        )
        assert held, f"{outcome.fault.name}: {seen.problems}"


def _report(system: FaultSystem, outcome: Outcome) -> str:
    logs = "\n".join(
        f"--- {name}.log\n{log_tail(service.log_path, 15)}"
        for name, service in system.services.items()
    )
    return f"{outcome.fault.title}: {outcome.problems}\n{outcome.seen}\n{logs}"
