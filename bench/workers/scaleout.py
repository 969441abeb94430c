"""One projector instance among several sharing the partitions of a pre-filled stream."""

import asyncio
import time

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bench.workers.consumers import projector_config
from bench.workers.protocol import ProjectorInstanceRun, WorkerResult
from services.mastery.adapters.projector import PROJECTOR_NAME
from services.mastery.app import build_projectors
from shared.platform.bus import BusNames
from shared.platform.bus_users import partition_durable
from shared.platform.postgres import create_pool
from shared.platform.service import WORKER_POOL_SIZE, tune_garbage_collector

# How often each instance asks whether every durable has acked everything (a cheap NATS call).
POLL_SECONDS = 0.1


async def run_projector_instance(spec: ProjectorInstanceRun) -> WorkerResult:
    """Joins at once, takes its first look at `start_at` (when every instance has joined), and
    stops when every durable of the stream has acked all it holds: the clock runs from
    `start_at` to then, the same for every instance."""
    config = projector_config(spec)
    pool = await create_pool(spec.database_url, max_size=WORKER_POOL_SIZE)
    ownership = build_projectors(
        config, pool, first_look=max(0.0, spec.start_at - time.monotonic())
    )
    tune_garbage_collector()  # as `serve` does in the mastery service's process
    stop = asyncio.Event()
    task = asyncio.create_task(ownership.run(stop))
    client = await nats.connect(spec.nats_url)
    bus = BusNames(spec.namespace)
    durables = [PROJECTOR_NAME, *map(partition_durable, range(config.bus_projector_partitions))]
    await asyncio.sleep(max(0.0, spec.start_at - time.monotonic()))
    deadline = spec.start_at + spec.timeout
    while time.monotonic() < deadline and not task.done():
        if await _drained(client.jetstream(), bus.attempts_stream, durables):
            break
        await asyncio.sleep(POLL_SECONDS)
    elapsed = time.monotonic() - spec.start_at
    stop.set()
    await task
    await client.close()
    await pool.close()
    return WorkerResult(completed=ownership.counts()["applied"], seconds=elapsed)


async def _drained(js: JetStreamContext, stream: str, durables: list[str]) -> bool:
    try:
        infos = await asyncio.gather(*(js.consumer_info(stream, name) for name in durables))
    except NotFoundError:
        return False  # not every partition taken yet
    return all(not info.num_pending and not info.num_ack_pending for info in infos)
