"""The HTTP load generator: closed loop (N busy connections) or open loop (a fixed rate)."""

import asyncio
import time
from collections import Counter

from bench.attempt_data import E2E_STANDARD, assessed_at, attempt_body, spread_attempt
from bench.http_client import JsonPost, KeepAliveConnection
from bench.workers.protocol import HttpLoad, WorkerResult, sleep_until

ATTEMPTS_PATH = "/v1/attempts"


class _Tally:
    def __init__(self, spec: HttpLoad) -> None:
        self.spec = spec
        self.post = JsonPost(spec.host, spec.port, ATTEMPTS_PATH, spec.bearer)
        self.when = assessed_at()
        self.next_number = 0
        self.result = WorkerResult()
        self.errors: Counter[str] = Counter()

    def next_attempt(self) -> tuple[str, bytes]:
        number = self.next_number
        self.next_number += 1
        if self.spec.students:
            body = spread_attempt(self.spec.prefix, number, self.spec.students, self.when)
            return "", body
        student = f"{self.spec.prefix}-e2e{number}"
        body = attempt_body(
            attempt_id=f"{self.spec.prefix}-{number}",
            student_id=student,
            standard_id=E2E_STANDARD,
            score=3,
            when=self.when,
        )
        return student, body

    def record(self, due: float, done: float, status: int, student: str) -> None:
        if not self.spec.window.measures(due):
            return
        if status >= 300:
            self.errors[str(status)] += 1
            return
        self.result.completed += 1
        self.result.latencies_ms.append(round((done - due) * 1000, 3))
        if student:
            self.result.sends.append((student, int(due * 1e9)))


async def run_http_load(spec: HttpLoad) -> WorkerResult:
    tally = _Tally(spec)
    connections = [
        await KeepAliveConnection.open(spec.host, spec.port) for _ in range(spec.connections)
    ]
    await sleep_until(spec.window.start_at)
    if spec.rate:
        await _open_loop(tally, connections)
    else:
        await asyncio.gather(*(_closed_loop(tally, connection) for connection in connections))
    for connection in connections:
        await connection.close()
    tally.result.errors = dict(tally.errors)
    tally.result.seconds = spec.window.duration
    return tally.result


async def _closed_loop(tally: _Tally, connection: KeepAliveConnection) -> None:
    end = tally.spec.window.end
    while (started := time.monotonic()) < end:
        student, body = tally.next_attempt()
        status = await connection.exchange(tally.post.request(body))
        tally.record(started, time.monotonic(), status, student)


async def _open_loop(tally: _Tally, connections: list[KeepAliveConnection]) -> None:
    """Send at the scheduled moments; latency counts from the moment a request was due.

    Counting from the due moment rather than the actual send keeps a stalled server from
    hiding its stall (coordinated omission).
    """
    idle: asyncio.Queue[KeepAliveConnection] = asyncio.Queue()
    for connection in connections:
        idle.put_nowait(connection)
    interval = 1.0 / tally.spec.rate
    start, end = tally.spec.window.start_at, tally.spec.window.end
    pending: set[asyncio.Task[None]] = set()
    number = 0
    while (due := start + number * interval) < end:
        number += 1
        await sleep_until(due)
        connection = await idle.get()
        task = asyncio.create_task(_send_due(tally, connection, idle, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def _send_due(
    tally: _Tally,
    connection: KeepAliveConnection,
    idle: asyncio.Queue[KeepAliveConnection],
    due: float,
) -> None:
    student, body = tally.next_attempt()
    try:
        status = await connection.exchange(tally.post.request(body))
        tally.record(due, time.monotonic(), status, student)
    finally:
        idle.put_nowait(connection)
