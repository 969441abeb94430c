"""The projector shell: a batch of attempt events in, one transaction out, then ack."""

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.mastery.adapters import read_model
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.projection import (
    AttemptApplied,
    StudentStandard,
    StudentStandardKey,
    evolve,
    key_of,
)
from shared.bus import BusNames
from shared.consumer import Delivered
from shared.events.attempts import AnyAttemptEvent
from shared.events.mastery import MasteryChanged

PROJECTOR_NAME = "mastery-projector"


class MasteryProjector:
    def __init__(self, pool: asyncpg.Pool, bus: BusNames, policy: CalculationPolicy) -> None:
        self._pool = pool
        self._bus = bus
        self._policy = policy

    async def handle_attempt_events(self, batch: Sequence[Delivered[AnyAttemptEvent]]) -> None:
        now = datetime.now(UTC)
        applied = [_applied(item) for item in batch]
        keys = list(dict.fromkeys(key_of(item.event) for item in applied))
        async with self._pool.acquire() as connection, connection.transaction():
            states = await read_model.load_states(connection, keys)
            changes = self._fold(states, applied, now)
            await read_model.save_states(connection, [states[key] for key in keys], now)
            await read_model.enqueue_changes(connection, changes, self._bus)
            await read_model.save_checkpoint(
                connection, PROJECTOR_NAME, max(item.bus_sequence for item in applied)
            )

    def _fold(
        self,
        states: dict[StudentStandardKey, StudentStandard],
        applied: Sequence[AttemptApplied],
        now: datetime,
    ) -> list[MasteryChanged]:
        changes: list[MasteryChanged] = []
        for item in applied:
            key = key_of(item.event)
            states[key], emitted = evolve(states.get(key), item, policy=self._policy, now=now)
            changes.extend(emitted)
        return changes


def _applied(delivered: Delivered[AnyAttemptEvent]) -> AttemptApplied:
    envelope = delivered.envelope
    return AttemptApplied(
        event=envelope.data,
        event_id=envelope.id,
        stream_version=envelope.streamversion or 0,
        bus_sequence=delivered.stream_sequence,
    )
