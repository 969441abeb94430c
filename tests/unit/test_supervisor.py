"""The supervisor restarts failed workers with backoff, gives up on one that keeps failing, and
reports each worker's status and lag."""

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Mapping

import asyncpg
import pytest

from shared.platform.supervisor import (
    NamedWorker,
    RestartPolicy,
    Supervisor,
    Worker,
    WorkerStatus,
)
from tests.support.polling import eventually

FAST = RestartPolicy(delay=0.01, max_delay=0.04, max_failures=5, window=60.0)


class GiveUps:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, worker: str, reason: str) -> None:
        self.calls.append((worker, reason))


def failing(times: int, starts: list[float]) -> Worker:
    """A worker that raises on its first `times` runs, then runs until stopped."""

    async def run(stop: asyncio.Event) -> None:
        starts.append(time.monotonic())
        if len(starts) <= times:
            raise RuntimeError(f"injected fault {len(starts)}")
        await stop.wait()

    return run


@pytest.fixture
async def stop() -> AsyncIterator[asyncio.Event]:
    event = asyncio.Event()
    yield event
    event.set()


async def status_of(supervisor: Supervisor, name: str) -> WorkerStatus:
    return supervisor.status(name)


def test_the_pause_doubles_up_to_its_ceiling() -> None:
    policy = RestartPolicy(delay=0.5, max_delay=3.0)

    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_a_worker_that_raises_is_logged_with_its_traceback_and_restarted(
    stop: asyncio.Event, caplog: pytest.LogCaptureFixture
) -> None:
    starts: list[float] = []
    give_ups = GiveUps()
    supervisor = Supervisor(
        [NamedWorker("relay", failing(1, starts))], policy=FAST, on_give_up=give_ups
    )

    with caplog.at_level(logging.ERROR, logger="shared.platform.supervisor"):
        supervisor.start(stop)
        status = await eventually(
            lambda: status_of(supervisor, "relay"), lambda s: s.alive and s.restarts == 1
        )

    assert status.last_error == "RuntimeError: injected fault 1"
    crash = next(record for record in caplog.records if record.levelno == logging.ERROR)
    assert crash.exc_info is not None
    assert "relay" in crash.getMessage()
    stop.set()
    await asyncio.wait_for(supervisor.wait(), 5)
    assert len(starts) == 2
    assert give_ups.calls == []


async def test_a_worker_that_returns_while_the_service_runs_has_failed(
    stop: asyncio.Event,
) -> None:
    runs = 0

    async def returns_once(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs > 1:
            await stop.wait()

    supervisor = Supervisor([NamedWorker("mailer", returns_once)], policy=FAST)
    supervisor.start(stop)

    status = await eventually(
        lambda: status_of(supervisor, "mailer"), lambda s: s.alive and s.restarts == 1
    )
    assert status.last_error == "returned while the service was running"


async def test_repeated_failures_back_off_then_give_up(stop: asyncio.Event) -> None:
    starts: list[float] = []
    give_ups = GiveUps()
    policy = RestartPolicy(delay=0.02, max_delay=0.08, max_failures=4, window=60.0)
    supervisor = Supervisor(
        [NamedWorker("projector", failing(100, starts))], policy=policy, on_give_up=give_ups
    )

    supervisor.start(stop)
    await asyncio.wait_for(supervisor.wait(), 5)  # it returns on giving up, unstopped

    assert give_ups.calls == [("projector", "RuntimeError: injected fault 4")]
    assert len(starts) == 4
    pauses = [later - earlier for earlier, later in itertools.pairwise(starts)]
    for pause, backoff in zip(pauses, [0.02, 0.04, 0.08], strict=True):
        assert pause >= backoff * 0.9
    status = supervisor.status("projector")
    assert (status.alive, status.restarts, supervisor.gave_up) == (False, 3, "projector")
    assert not supervisor.all_alive


async def test_failures_older_than_the_window_are_forgiven(stop: asyncio.Event) -> None:
    starts: list[float] = []
    give_ups = GiveUps()
    # With a window shorter than any pause, each failure is the only one in it.
    policy = RestartPolicy(delay=0.01, max_delay=0.01, max_failures=2, window=0.001)
    supervisor = Supervisor(
        [NamedWorker("planner", failing(5, starts))], policy=policy, on_give_up=give_ups
    )
    supervisor.start(stop)

    await eventually(
        lambda: status_of(supervisor, "planner"), lambda s: s.alive and s.restarts == 5
    )
    assert give_ups.calls == []


async def test_stopping_ends_every_worker_without_a_restart(stop: asyncio.Event) -> None:
    starts: list[float] = []
    supervisor = Supervisor(
        [NamedWorker("a", failing(0, starts)), NamedWorker("b", failing(0, starts))], policy=FAST
    )
    supervisor.start(stop)
    await eventually(lambda: _value(len(starts)), lambda count: count == 2)
    assert supervisor.all_alive

    stop.set()
    await asyncio.wait_for(supervisor.wait(), 5)

    assert len(starts) == 2
    assert supervisor.status("a").restarts == 0


async def test_the_report_holds_each_lag_and_says_why_one_is_unknown(stop: asyncio.Event) -> None:
    async def depth() -> Mapping[str, float]:
        return {"outbox_depth": 3}

    async def unreachable() -> Mapping[str, float]:
        raise ConnectionRefusedError("nats down")

    starts: list[float] = []
    supervisor = Supervisor(
        [
            NamedWorker("relay", failing(0, starts), depth),
            NamedWorker("projector", failing(0, starts), unreachable),
            NamedWorker("mailer", failing(0, starts)),
        ],
        policy=FAST,
    )
    supervisor.start(stop)

    report = await supervisor.report()

    assert report["relay"].lag == {"outbox_depth": 3}
    assert report["projector"].lag is None
    assert report["projector"].lag_error == "ConnectionRefusedError: nats down"
    assert report["mailer"].lag == {}
    assert all(worker.alive for worker in report.values())


def test_worker_names_are_unique() -> None:
    async def run(stop: asyncio.Event) -> None:
        await stop.wait()

    with pytest.raises(ValueError, match="unique"):
        Supervisor([NamedWorker("relay", run), NamedWorker("relay", run)])


async def _value(value: int) -> int:
    return value


async def test_an_outage_is_restarted_through_without_ever_giving_up(stop: asyncio.Event) -> None:
    starts: list[float] = []
    outage_runs = FAST.max_failures * 3

    async def run(stop: asyncio.Event) -> None:
        starts.append(time.monotonic())
        if len(starts) <= outage_runs:
            raise asyncpg.PostgresError.new(
                {"C": "57P03", "M": "the database system is starting up"}
            )
        await stop.wait()

    give_ups = GiveUps()
    supervisor = Supervisor([NamedWorker("relay", run)], policy=FAST, on_give_up=give_ups)
    supervisor.start(stop)

    await eventually(lambda: status_of(supervisor, "relay"), lambda s: len(starts) > outage_runs)
    status = await eventually(lambda: status_of(supervisor, "relay"), lambda s: s.alive)

    assert give_ups.calls == []
    assert status.restarts == outage_runs
    assert status.last_error == "CannotConnectNowError: the database system is starting up"


async def test_a_worker_that_does_not_stop_within_the_grace_is_cancelled(
    stop: asyncio.Event, caplog: pytest.LogCaptureFixture
) -> None:
    cleaned_up = asyncio.Event()

    async def deaf(stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)  # a request to a server that never answers
        finally:
            cleaned_up.set()

    async def prompt(stop: asyncio.Event) -> None:
        await stop.wait()

    supervisor = Supervisor([NamedWorker("deaf", deaf), NamedWorker("prompt", prompt)])
    supervisor.start(stop)
    await eventually(lambda: status_of(supervisor, "deaf"), lambda s: s.alive)
    stop.set()
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="shared.platform.supervisor"):
        await asyncio.wait_for(supervisor.wait(grace=0.2), 5)

    assert 0.2 <= time.monotonic() - began < 1.0
    assert cleaned_up.is_set()  # cancelled, so its own cleanup ran
    assert [record.getMessage() for record in caplog.records] == [
        "worker deaf did not stop within 0.2s; cancelling it"
    ]
