"""The projector over a pre-filled stream, and its ceiling: raw nats-py fetch + ack."""

import asyncio
import contextlib
import time

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.workers.protocol import FetchAckRun, ProjectorInstanceRun, ProjectorRun, WorkerResult
from services.mastery.adapters.watermarks import WatermarkRaiser
from services.mastery.app import build_projector
from services.mastery.config import MasteryConfig
from shared.platform.bus import BusNames
from shared.platform.postgres import create_pool
from shared.platform.service import tune_garbage_collector

POLL_SECONDS = 0.005


def projector_config(spec: ProjectorRun | ProjectorInstanceRun) -> MasteryConfig:
    """The mastery configuration a bench projector runs with: the spec's servers and batch."""
    return MasteryConfig(
        database_url=spec.database_url,
        nats_url=spec.nats_url,
        bus_namespace=spec.namespace,
        bus_stream_replicas=1,
        projector_batch_size=spec.batch_size,
    )


async def run_projector(spec: ProjectorRun) -> WorkerResult:
    config = projector_config(spec)
    pool = await create_pool(spec.database_url)
    # As the service runs it: the batches note their tenants, one task raises the watermarks.
    watermarks = WatermarkRaiser(pool)
    projector = build_projector(config, pool, watermarks=watermarks)
    tune_garbage_collector()  # as `serve` does in the mastery service's process
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(projector.run(stop))
    raising = asyncio.create_task(watermarks.run(stop))
    deadline = started + spec.timeout
    while projector.processed < spec.expected and time.monotonic() < deadline:
        if task.done():
            task.result()  # re-raises what stopped the projector
            break
        await asyncio.sleep(POLL_SECONDS)
    elapsed = time.monotonic() - started
    stop.set()
    await asyncio.gather(task, raising)
    await pool.close()
    return WorkerResult(completed=projector.processed, seconds=elapsed)


async def run_fetch_ack(spec: FetchAckRun) -> WorkerResult:
    bus = BusNames(spec.namespace)
    client = await nats.connect(spec.nats_url, name=spec.durable)
    js = client.jetstream()
    subscription = await js.pull_subscribe(
        bus.all_attempts(),
        durable=spec.durable,
        stream=bus.attempts_stream,
        config=ConsumerConfig(
            durable_name=spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=spec.batch_size * 20,
        ),
    )
    acked = 0
    started = time.monotonic()
    deadline = started + spec.timeout
    while acked < spec.expected and time.monotonic() < deadline:
        try:
            messages = await subscription.fetch(spec.batch_size, timeout=0.5)
        except TimeoutError:
            continue
        for message in messages:
            await message.ack()
        acked += len(messages)
    elapsed = time.monotonic() - started
    with contextlib.suppress(TimeoutError, nats.errors.Error):
        await client.flush(timeout=5)
    await client.close()
    return WorkerResult(completed=acked, seconds=elapsed)
