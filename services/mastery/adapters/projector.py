"""The projector shell: a batch of attempt events in, one transaction out, then ack."""

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.mastery.adapters import read_model
from services.mastery.core.calculation import CalculationPolicy, validate_policy
from services.mastery.core.projection import (
    AttemptApplied,
    NeedsHistory,
    StudentStandard,
    StudentStandardKey,
    evolve,
    key_of,
    replay,
)
from shared.bus import BusNames
from shared.consumer import Delivered
from shared.events.attempts import AnyAttemptEvent
from shared.events.mastery import MasteryChanged
from shared.postgres import DbConnection

PROJECTOR_NAME = "mastery-projector"


class MasteryProjector:
    def __init__(self, pool: asyncpg.Pool, bus: BusNames, policy: CalculationPolicy) -> None:
        self._pool = pool
        self._bus = bus
        self._policy = validate_policy(policy)

    async def handle_attempt_events(self, batch: Sequence[Delivered[AnyAttemptEvent]]) -> None:
        now = datetime.now(UTC)
        applied = [_applied(item) for item in batch]
        keys = list(dict.fromkeys(key_of(item.event) for item in applied))
        async with self._pool.acquire() as connection, connection.transaction():
            states = await read_model.load_states(connection, keys)
            fresh = await read_model.record_evidence(connection, applied)
            touched = list(dict.fromkeys(key_of(item.event) for item in fresh))
            changes, stale = self._fold(states, fresh, now)
            if stale:
                changes += await self._replay(connection, states, stale, now)
            await read_model.save_states(connection, [states[key] for key in touched], now)
            await read_model.enqueue_changes(connection, changes, self._bus)
            await read_model.save_checkpoint(
                connection, PROJECTOR_NAME, max(item.bus_sequence for item in applied)
            )

    def _fold(
        self,
        states: dict[StudentStandardKey, StudentStandard],
        fresh: Sequence[AttemptApplied],
        now: datetime,
    ) -> tuple[list[MasteryChanged], dict[StudentStandardKey, AttemptApplied]]:
        """Fold what can be folded; a key that needs its history waits for `_replay`."""
        changes: list[MasteryChanged] = []
        stale: dict[StudentStandardKey, AttemptApplied] = {}
        for item in fresh:
            key = key_of(item.event)
            outcome = (
                evolve(states.get(key), item, policy=self._policy, now=now)
                if key not in stale
                else None
            )
            if outcome is None or isinstance(outcome, NeedsHistory):
                stale[key] = item  # the replay covers this item: its evidence row is written
                continue
            states[key], emitted = outcome
            changes.extend(emitted)
        return changes, stale

    async def _replay(
        self,
        connection: DbConnection,
        states: dict[StudentStandardKey, StudentStandard],
        stale: dict[StudentStandardKey, AttemptApplied],
        now: datetime,
    ) -> list[MasteryChanged]:
        histories = await read_model.load_evidence(connection, list(stale))
        changes: list[MasteryChanged] = []
        for key, cause in stale.items():
            states[key], emitted = replay(
                key,
                histories[key],
                before=states.get(key),
                cause=cause,
                policy=self._policy,
                now=now,
            )
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
