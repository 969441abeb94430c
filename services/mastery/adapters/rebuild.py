"""Rebuild the read model from the attempt event store, the system of record, without downtime.

The log is replayed into shadow tables beside the live ones (`adapters/replay.py`) while the read
API and the projector go on using the live tables. Then, in the same transaction, the shadow is
caught up with what the projector applied meanwhile, once while it runs and once more with it
paused (`adapters/catch_up.py`), and swapped in by renames (`adapters/shadow.py`): reads wait only
for that swap, the projector only for the last catch-up and the swap. Nothing is emitted: a
rebuild restates what is known, it is not news for families.
"""

import time
from datetime import datetime

import msgspec

from services.mastery.adapters import shadow
from services.mastery.adapters.catch_up import catch_up, pause_projector, store_policies
from services.mastery.adapters.replay import (
    Progress,
    Writer,
    log_policies,
    no_progress,
    replay_log,
)
from services.mastery.core.calculation import CalculationPolicy
from shared.platform.postgres import DbConnection


class RebuildReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int  # folded from the snapshot
    proficiencies: int  # made from the snapshot
    caught_up: int  # student-standards folded again after it (projector running, then paused)
    paused_seconds: float  # the projector's pause: the last catch-up and the swap
    seconds: float


async def rebuild_read_model(
    connection: DbConnection,
    reader: DbConnection,
    *,
    default_policy: CalculationPolicy,
    now: datetime,
    progress: Progress = no_progress,
) -> RebuildReport:
    """Build the read model again on `connection` (as the tables' owner), reading the log's
    snapshot on `reader`, and swap it in. A failure rolls back and leaves the live tables as
    they were."""
    started = time.perf_counter()
    async with connection.transaction():
        await shadow.create_shadows(connection)
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            snapshot_policies = await log_policies(reader)
            writer = Writer(
                connection, shadow.SHADOW, snapshot_policies.resolved, default_policy, now
            )
            await replay_log(connection, reader, writer, progress)
        running = await catch_up(
            connection, snapshot_policies, default_policy, now, policies_too=False
        )
        await pause_projector(connection)
        paused = time.perf_counter()
        last = await catch_up(connection, running.policies, default_policy, now)
        await store_policies(connection, last.policies)
        await shadow.swap_in(connection)
    ended = time.perf_counter()  # committed: the projector and the reads go on
    return RebuildReport(
        events=writer.events,
        proficiencies=writer.proficiencies,
        caught_up=running.streams + last.streams,
        paused_seconds=ended - paused,
        seconds=ended - started,
    )
