"""The same appends of attempt events two ways: our event store, and the eventsourcing library.

Ours is the attempts service's `AttemptRecorder.record` (reads the stream, any event that took
the attempt id and the standard in one round trip, then writes the one event row, which is also
the relay's outbox and the idempotency key); only recorded attempts count, refusals are reported
as errors. Theirs is eventsourcing's `PostgresApplicationRecorder`, which takes `LOCK TABLE ...
IN EXCLUSIVE MODE` in every insert so its notification ids commit in order.
Each writer owns its own streams, so neither side measures races on one stream.
"""

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from bench.attempt_data import event_json, recorded_event, stream_of
from bench.workers.protocol import AppendRun, WorkerResult, sleep_until
from services.attempts.adapters.problems import kind_of
from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt, Refuse
from shared.platform.postgres import create_pool

EVENTSOURCING_TABLE = "es_attempt_events"
EVENT_TOPIC = "shared.contract.events.attempts:AttemptRecorded"


def _numbers_of(writer: int, writers: int) -> "range":
    return range(writer, 10**9, writers)


async def run_append(spec: AppendRun) -> WorkerResult:
    if spec.store == "ours":
        return await _append_ours(spec)
    return await asyncio.to_thread(_append_eventsourcing, spec)


async def _append_ours(spec: AppendRun) -> WorkerResult:
    pool = await create_pool(spec.database_url, min_size=spec.writers, max_size=spec.writers)
    store = AttemptRecorder(pool)
    result = WorkerResult(seconds=spec.window.duration)

    async def write(writer: int) -> None:
        for number in _numbers_of(writer, spec.writers):
            started = time.monotonic()
            if started >= spec.window.end:
                return
            event = recorded_event(spec.tenant_id, spec.prefix, number, spec.students)
            command = RecordAttempt(
                tenant_id=event.tenant_id,
                attempt_id=event.attempt_id,
                student_id=event.student_id,
                standard_id=event.standard_id,
                score=event.score,
                points_possible=event.points_possible,
                assessed_at=event.assessed_at,
            )
            outcome = await store.record(command, now=datetime.now(UTC))
            if not spec.window.measures(started):
                continue
            if isinstance(outcome, Refuse):
                kind = kind_of(outcome)
                result.errors[kind] = result.errors.get(kind, 0) + 1
            else:
                result.completed += 1

    await sleep_until(spec.window.start_at)
    await asyncio.gather(*(write(writer) for writer in range(spec.writers)))
    await pool.close()
    return result


def _datastore(database_url: str, pool_size: int) -> PostgresDatastore:
    url = urlsplit(database_url)
    return PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or "",
        pool_size=pool_size,
    )


def _append_eventsourcing(spec: AppendRun) -> WorkerResult:
    datastore = _datastore(spec.database_url, spec.writers)
    recorder = PostgresApplicationRecorder(datastore, events_table_name=EVENTSOURCING_TABLE)
    recorder.create_table()
    counts = [0] * spec.writers

    def write(writer: int) -> None:
        versions: dict[uuid.UUID, int] = {}
        for number in _numbers_of(writer, spec.writers):
            started = time.monotonic()
            if started >= spec.window.end:
                return
            event = recorded_event(spec.tenant_id, spec.prefix, number, spec.students)
            originator = uuid.uuid5(uuid.NAMESPACE_URL, stream_of(event))
            versions[originator] = versions.get(originator, 0) + 1
            stored = StoredEvent(originator, versions[originator], EVENT_TOPIC, event_json(event))
            recorder.insert_events([stored])
            if spec.window.measures(started):
                counts[writer] += 1

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(spec.writers)]
    time.sleep(max(0.0, spec.window.start_at - time.monotonic()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    datastore.close()
    return WorkerResult(completed=sum(counts), seconds=spec.window.duration)
