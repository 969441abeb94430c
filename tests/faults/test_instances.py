"""Two processes of each service (attempts, mastery, notify) on different ports, one database and
one NATS, under a load spread over both attempts instances.

Several instances: nothing is stored, changed or emailed twice; each outbox's relay has one leader
(an advisory lock) and the other instance takes over when the leader is killed.
Graceful drain: SIGTERM to one instance under load; it stops taking connections, finishes what
it is doing, settles what it holds and exits by itself; nothing accepted is lost, the read model
equals a rebuild, and nothing waits for JetStream to redeliver it.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.faults.experiments import NoFault, Outcome, run_experiment
from tests.faults.instances import (
    TERMINATED,
    KillRelayLeaders,
    TerminateMidBatch,
    TerminateOne,
    attempts_logged_twice,
    projector_unacked,
    relay_leaders,
    wait_for_exit,
    wait_for_leaders,
)
from tests.faults.load import LoadPlan, open_school
from tests.faults.system import FaultSystem, log_tail
from tests.support.polling import eventually

pytestmark = pytest.mark.faults

ATTEMPTS, STUDENTS, RATE = 120, 6, 15.0
RECOVER_WITHIN = 60.0
# A message a stopped instance held and did not settle comes back only after the consumers'
# 30 s ack_wait: about 22 s after the load (8 s) ends, for a stop 1 s into it. A drained instance
# settled all it held, so its school recovers well before.
DRAINED_WITHIN = 15.0


@pytest.fixture(scope="module")
async def two_of_each(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultSystem]:
    system = await FaultSystem.start(tmp_path_factory.mktemp("instances"), instances=2)
    yield system
    await system.stop()


def plan(seed: int) -> LoadPlan:
    return LoadPlan(attempts=ATTEMPTS, students=STUDENTS, rate=RATE, seed=seed)


async def assert_once_each(system: FaultSystem, outcome: Outcome) -> None:
    """Every accepted attempt once in the log, each change once (the replay comparison), each
    email once, the read model a rebuild's."""
    assert outcome.recovered, _report(system, outcome)
    assert not outcome.problems, _report(system, outcome)
    assert outcome.seen.accepted > ATTEMPTS * 0.9, outcome.load
    assert outcome.seen.changes > 0
    assert outcome.seen.duplicates == 0, outcome.seen
    connection = await system.connect()
    try:
        assert await attempts_logged_twice(connection, outcome.school.tenant_id) == []
    finally:
        await connection.close()


async def test_two_instances_of_each_service_do_everything_once(two_of_each: FaultSystem) -> None:
    leaders = await wait_for_leaders(two_of_each, ("attempts", "mastery"), within=10)
    outcome = await run_experiment(two_of_each, NoFault(), plan(1), recover_within=RECOVER_WITHIN)
    await assert_once_each(two_of_each, outcome)
    # Both attempts instances took requests, and each outbox kept the one leader it had.
    for process in two_of_each.instances_of("attempts"):
        posted = 'method="POST",route="/v1/attempts",service="attempts",status_class="2xx"'
        assert posted in await _metrics(process.url), process.name
    assert await relay_leaders(two_of_each) == leaders


async def test_the_other_instance_takes_over_a_killed_relay_leader(
    two_of_each: FaultSystem,
) -> None:
    fault = KillRelayLeaders()
    outcome = await run_experiment(two_of_each, fault, plan(2), recover_within=RECOVER_WITHIN)
    await assert_once_each(two_of_each, outcome)
    for service in fault.services:
        assert fault.after[service] != fault.before[service], (fault.before, fault.after)
    assert fault.takeover_seconds < 5, fault.takeover_seconds  # a standby asks every second
    # The killed leaders came back as standbys: still one leader per outbox.
    assert await wait_for_leaders(two_of_each, fault.services, within=5) == fault.after


@pytest.mark.parametrize("instance", ["attempts", "mastery", "notify"])
async def test_sigterm_under_load_drains_one_instance(
    two_of_each: FaultSystem, instance: str
) -> None:
    fault = TerminateOne(instance)
    seed = 10 + ["attempts", "mastery", "notify"].index(instance)
    outcome = await run_experiment(two_of_each, fault, plan(seed), recover_within=DRAINED_WITHIN)
    assert fault.exit_status == TERMINATED, (fault.exit_status, _report(two_of_each, outcome))
    await assert_once_each(two_of_each, outcome)


async def test_sigterm_settles_the_batch_a_projector_holds(two_of_each: FaultSystem) -> None:
    """The read model alone cannot tell: a later event of a stream brings its earlier ones from
    the log. JetStream can: what the stopped projector held is settled, not waiting out ack_wait."""
    fault = TerminateMidBatch("mastery")
    outcome = await run_experiment(two_of_each, fault, plan(20), recover_within=DRAINED_WITHIN)
    assert fault.exit_status == TERMINATED, (fault.exit_status, _report(two_of_each, outcome))
    await assert_once_each(two_of_each, outcome)
    # Messages held by no running projector would stay unacked until ack_wait (30 s).
    await eventually(lambda: projector_unacked(two_of_each), lambda held: held == 0, within=5)


async def test_sigterm_lets_requests_in_flight_finish(two_of_each: FaultSystem) -> None:
    """Batches of 1,000 attempts are being written when SIGTERM comes: each is answered, every
    attempt answered is in the log, and then the port takes no new connection."""
    process = two_of_each.services["attempts-2"]
    school = await open_school(two_of_each, "in-flight", 1)
    async with httpx.AsyncClient(base_url=process.url, headers=school.auth, timeout=30) as client:
        # The connections are open before the requests are sent.
        await asyncio.gather(*(client.get("/health/live") for _ in range(IN_FLIGHT)))
        batches = [
            asyncio.create_task(client.post("/v1/attempts/batch", json=_batch(number)))
            for number in range(IN_FLIGHT)
        ]
        await asyncio.sleep(0.05)
        process.terminate()
        terminated = time.monotonic()
        responses = await asyncio.gather(*batches)
        answered_after = time.monotonic() - terminated
    assert [response.json()["created"] for response in responses] == [1000] * IN_FLIGHT
    assert answered_after > 0.1, "the requests were not in flight when SIGTERM came"
    assert await wait_for_exit(process, within=30) == TERMINATED
    with pytest.raises(httpx.ConnectError):
        await two_of_each.http.get(f"{process.url}/health/live")
    connection = await two_of_each.connect()
    try:
        logged = await connection.fetchval(
            "SELECT count(*) FROM attempt_log WHERE tenant_id = $1 AND event_type LIKE "
            "'attempt_recorded.%'",
            school.tenant_id,
        )
    finally:
        await connection.close()
    assert logged == 1000 * IN_FLIGHT
    process.start()
    await two_of_each.wait_until_ready(process.name, within=60)


IN_FLIGHT = 4


def _batch(number: int) -> dict[str, object]:
    return {
        "attempts": [
            {"attempt_id": f"f{number}-{item:04d}", "student_id": f"s{item % 50:04d}",
             "standard_id": "ela.argument", "score": 3, "points_possible": 4,
             "assessed_at": "2026-09-01T08:00:00Z"}
            for item in range(1000)
        ]
    }  # fmt: skip


async def _metrics(url: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/metrics")).text


def _report(system: FaultSystem, outcome: Outcome) -> str:
    logs = "\n".join(
        f"--- {name}.log\n{log_tail(service.log_path, 15)}"
        for name, service in system.services.items()
    )
    return f"{outcome.fault.title}: {outcome.problems}\n{outcome.seen}\n{logs}"
