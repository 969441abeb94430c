"""Runs a service's background workers, restarts the ones that fail, and reports how each is.

A worker is a coroutine that runs until its stop event is set. One that raises, or returns while
the service still runs, has failed: the failure is logged with its traceback, and the worker is
started again after a pause that doubles with each failure inside the window. A worker that keeps
failing (`max_failures` within `window` seconds) is not restarted any more; `on_give_up` is called.
A failure that `shared.platform.errors` calls transient (PostgreSQL or NATS unavailable where the
worker did not retry it itself) is restarted with the same growing pause but never counts towards
giving up: a new process would find the same outage, and the worker resumes when it ends.

The default give-up sends SIGTERM to the process itself. That is the path an orchestrator's own
stop takes: uvicorn runs the lifespan's shutdown (the other workers finish their batch and drain
NATS, the pool closes), then re-raises the signal, so the process ends with a non-zero status
(143) and the orchestrator starts a fresh one. Raising from a task would end that task alone, and
`os._exit` would skip the drain.
"""

import asyncio
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from shared.platform.errors import is_transient
from shared.platform.retry import sleep_unless_stopped

logger = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
LagProbe = Callable[[], Awaitable[Mapping[str, float]]]
# A worker's running counts since it was built (`shared.platform.metrics.WORKER_COUNTS`).
CountProbe = Callable[[], Mapping[str, int]]
GiveUp = Callable[[str, str], None]

# Readiness asks every probe at once and answers within about this long, whatever NATS does.
LAG_PROBE_TIMEOUT = 0.5
# A cancelled worker's own cleanup (closing its NATS connection) gets this long before shutdown
# goes on without it.
CANCELLED_WORKER_SECONDS = 2.0


class LagUnavailable(Exception):
    """The worker cannot say how far behind it is right now (it is not connected)."""


@dataclass(frozen=True, slots=True)
class NamedWorker:
    name: str
    run: Worker
    lag: LagProbe | None = None
    counts: CountProbe | None = None


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    delay: float = 0.5
    max_delay: float = 30.0
    max_failures: int = 5
    window: float = 300.0

    def backoff(self, failures: int) -> float:
        """The pause before the restart that follows the `failures`-th failure in the window."""
        return float(min(self.delay * 2 ** (failures - 1), self.max_delay))


class WorkerStatus(msgspec.Struct, frozen=True, kw_only=True):
    alive: bool
    restarts: int = 0
    last_error: str | None = None
    since: datetime


class WorkerReport(msgspec.Struct, frozen=True, kw_only=True):
    alive: bool
    restarts: int
    last_error: str | None
    since: datetime
    lag: dict[str, float] | None
    lag_error: str | None = None


def terminate_process(worker: str, reason: str) -> None:
    """Stop this process the way an orchestrator would; see the module's docstring."""
    logger.critical("worker %s keeps failing (%s); stopping the process", worker, reason)
    os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    def __init__(
        self,
        workers: Sequence[NamedWorker],
        *,
        policy: RestartPolicy | None = None,
        on_give_up: GiveUp = terminate_process,
    ) -> None:
        names = [worker.name for worker in workers]
        if len(set(names)) != len(names):
            raise ValueError(f"worker names must be unique: {names}")
        self._workers = list(workers)
        self._policy = policy or RestartPolicy()
        self._on_give_up = on_give_up
        now = datetime.now(UTC)
        self._status = {name: WorkerStatus(alive=False, since=now) for name in names}
        self._tasks: list[asyncio.Task[None]] = []
        self.gave_up: str | None = None

    def start(self, stop: asyncio.Event) -> None:
        self._tasks = [
            asyncio.create_task(self._supervise(worker, stop), name=f"worker {worker.name}")
            for worker in self._workers
        ]

    async def wait(self, grace: float | None = None) -> None:
        """Wait until every worker has returned (after `stop` is set, or after giving up).

        A worker still running `grace` seconds after is cancelled: one waiting on a NATS or a
        PostgreSQL that does not answer (a request's own timeout, a flush) must not hold the
        process's shutdown. What it had not acked comes back after `ack_wait`, as after a crash.
        """
        if not self._tasks:
            return
        _, late = await asyncio.wait(self._tasks, timeout=grace)
        for task in late:
            logger.warning("%s did not stop within %.1fs; cancelling it", task.get_name(), grace)
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=CANCELLED_WORKER_SECONDS)
        for task in self._tasks:
            if task.done() and not task.cancelled():
                task.result()  # a supervisor's own failure (a give-up that raised) is raised here

    @property
    def workers(self) -> list[NamedWorker]:
        return list(self._workers)

    def status(self, name: str) -> WorkerStatus:
        return self._status[name]

    @property
    def all_alive(self) -> bool:
        return all(status.alive for status in self._status.values())

    async def report(self) -> dict[str, WorkerReport]:
        """Each worker's status and lag; the lag probes run at once."""
        lags = await asyncio.gather(*(_probe(worker) for worker in self._workers))
        return {
            worker.name: WorkerReport(
                **msgspec.structs.asdict(self._status[worker.name]), lag=lag, lag_error=error
            )
            for worker, (lag, error) in zip(self._workers, lags, strict=True)
        }

    async def _supervise(self, worker: NamedWorker, stop: asyncio.Event) -> None:
        failures: deque[float] = deque()
        outages = 0
        while not stop.is_set():
            self._change(worker.name, alive=True)
            failure = await _run_once(worker, stop)
            if failure is None:
                return
            reason, transient = failure
            now = time.monotonic()
            outages = outages + 1 if transient else 0
            if not transient:
                failures.append(now)
            while failures and now - failures[0] > self._policy.window:
                failures.popleft()
            self._change(worker.name, alive=False, last_error=reason)
            if len(failures) >= self._policy.max_failures:
                self.gave_up = worker.name
                logger.critical("worker %s failed %d times; giving up", worker.name, len(failures))
                self._on_give_up(worker.name, reason)
                return
            delay = self._policy.backoff(outages or len(failures))
            logger.warning("worker %s: restarting in %.2fs", worker.name, delay)
            await sleep_unless_stopped(stop, delay)
            if not stop.is_set():
                self._change(worker.name, restarts=self._status[worker.name].restarts + 1)

    def _change(self, name: str, **changes: object) -> None:
        self._status[name] = msgspec.structs.replace(
            self._status[name], since=datetime.now(UTC), **changes
        )


async def _run_once(worker: NamedWorker, stop: asyncio.Event) -> tuple[str, bool] | None:
    """Why the worker failed and whether that was transient, or None if it was asked to stop."""
    try:
        await worker.run(stop)
    except Exception as error:  # any failure is logged with its traceback, then restarted
        reason = f"{type(error).__name__}: {error}"
        # The reason in the line itself, not only at the end of the traceback: a log search or
        # an alert on the event finds "NATS refused the credentials of user ...".
        logger.exception("worker %s failed: %s", worker.name, reason)
        return None if stop.is_set() else (reason, is_transient(error))
    if stop.is_set():
        return None
    logger.error("worker %s returned while the service was running", worker.name)
    return "returned while the service was running", False


async def _probe(worker: NamedWorker) -> tuple[dict[str, float] | None, str | None]:
    """The worker's lag, or why it is unknown: the lag informs, it never breaks readiness."""
    if worker.lag is None:
        return {}, None
    try:
        lag = await asyncio.wait_for(worker.lag(), LAG_PROBE_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - any probe failure is reported, not raised
        return None, f"{type(error).__name__}: {error}"
    return dict(lag), None
