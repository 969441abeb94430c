"""The projector shell: a batch of gradebook events in, one transaction out, then ack.

New attempts (the bulk of the traffic) are applied a run at a time with a few set-based queries;
corrections and policy changes, which are rare, one at a time in their order on the stream.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import asyncpg

from services.mastery.adapters import policies, read_model
from services.mastery.core.calculation import CalculationPolicy, validate_policy
from services.mastery.core.projection import (
    AttemptApplied,
    ChangeCause,
    NeedsHistory,
    StudentStandard,
    StudentStandardKey,
    cause_of,
    evolve,
    key_of,
    newest_evidence,
    replay,
)
from shared.contract.events.attempts import (
    AttemptRecorded,
    AttemptRecordedV1,
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
    upcast,
)
from shared.contract.events.gradebook import AnyGradebookEvent
from shared.contract.events.mastery import MasteryChanged
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered, RetryLater
from shared.platform.postgres import DbConnection

PROJECTOR_NAME = "mastery-projector"
Changes = list[MasteryChanged]


class MasteryProjector:
    def __init__(
        self, pool: asyncpg.Pool, bus: BusNames, default_policy: CalculationPolicy
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._default = validate_policy(default_policy)

    @staticmethod
    def runs_alone(batch: Sequence[Delivered[AnyGradebookEvent]]) -> bool:
        """Batches of new attempts only may be applied beside each other (each locks its keys);
        corrections and policy changes wait for those before them and hold back those after."""
        return not all(isinstance(item.envelope.data, _NEW_ATTEMPTS) for item in batch)

    async def handle_gradebook_events(self, batch: Sequence[Delivered[AnyGradebookEvent]]) -> None:
        now = datetime.now(UTC)
        async with self._pool.acquire() as connection, connection.transaction():
            changes: Changes = []
            for run in _runs(batch):
                if isinstance(run, list):
                    changes += await self._apply_attempts(connection, run, now)
                else:
                    changes += await self._apply_one(connection, run, now)
            await read_model.enqueue_changes(connection, changes, self._bus)
            await read_model.save_checkpoint(
                connection, PROJECTOR_NAME, max(item.stream_sequence for item in batch)
            )

    async def _apply_attempts(
        self, connection: DbConnection, applied: list[AttemptApplied], now: datetime
    ) -> Changes:
        keys = list(dict.fromkeys(key_of(item.event) for item in applied))
        await read_model.lock_student_standards(connection, keys)
        states = await read_model.load_states(connection, keys)
        fresh = await read_model.record_evidence(connection, applied)
        known = await policies.policies_for(
            connection, ((key.tenant_id, key.standard_id) for key in keys), self._default
        )
        changes: Changes = []
        stale: dict[StudentStandardKey, AttemptApplied] = {}
        for item in fresh:
            key = key_of(item.event)
            policy = known[(key.tenant_id, key.standard_id)]
            outcome = (
                evolve(states.get(key), item, policy=policy, now=now) if key not in stale else None
            )
            if outcome is None or isinstance(outcome, NeedsHistory):
                stale[key] = item  # the replay covers this item: its evidence row is written
                continue
            states[key], emitted = outcome
            changes += emitted
        for key, item in stale.items():
            policy = known[(key.tenant_id, key.standard_id)]
            changes += await self._replay(
                connection, states, [key], policy=policy, cause=cause_of(item), now=now,
                bus_sequence=item.bus_sequence,
            )  # fmt: skip
        touched = list(dict.fromkeys(key_of(item.event) for item in fresh))
        await read_model.save_states(connection, [states[key] for key in touched], now)
        return changes

    async def _apply_one(
        self, connection: DbConnection, delivered: Delivered[AnyGradebookEvent], now: datetime
    ) -> Changes:
        event = delivered.envelope.data
        if isinstance(event, AttemptVoided | AttemptRescored):
            return await self._apply_correction(connection, delivered, event, now)
        if isinstance(event, StandardDefined):
            tenant_policy = await policies.tenant_default(connection, event.tenant_id)
            return await self._apply_standard(connection, event, tenant_policy, delivered, now)
        if isinstance(event, TenantPolicySet):
            await policies.save_tenant_default(connection, event)
            changes: Changes = []
            for standard in await policies.standards_following_default(connection, event.tenant_id):
                changes += await self._apply_standard(connection, standard, event, delivered, now)
            return changes
        assert isinstance(event, CorrectiveWorkRecorded), type(event)
        return []  # corrective work opens reassessments on the write side; it is not evidence

    async def _apply_correction(
        self,
        connection: DbConnection,
        delivered: Delivered[AnyGradebookEvent],
        event: AttemptVoided | AttemptRescored,
        now: datetime,
    ) -> Changes:
        version = delivered.envelope.streamversion or 0
        key = StudentStandardKey(
            tenant_id=event.tenant_id, student_id=event.student_id, standard_id=event.standard_id
        )
        await read_model.lock_student_standards(connection, [key])
        outcome = await read_model.apply_correction(connection, event, version)
        if outcome == "missing":
            raise RetryLater(f"{event.attempt_id!r} corrected before its evidence was projected")
        if outcome == "stale":
            return []
        [policy] = (await policies.policies_for(
            connection, [(key.tenant_id, key.standard_id)], self._default
        )).values()  # fmt: skip
        states = await read_model.load_states(connection, [key])
        at = event.voided_at if isinstance(event, AttemptVoided) else event.rescored_at
        cause = ChangeCause(
            event_id=delivered.envelope.id, attempt_id=event.attempt_id, assessed_at=at,
            reason="correction",
        )  # fmt: skip
        changes = await self._replay(
            connection, states, [key], policy=policy, cause=cause, now=now,
            bus_sequence=delivered.stream_sequence,
        )  # fmt: skip
        await read_model.save_states(connection, [states[key]], now)
        return changes

    async def _apply_standard(
        self,
        connection: DbConnection,
        standard: StandardDefined,
        tenant_policy: TenantPolicySet | None,
        delivered: Delivered[AnyGradebookEvent],
        now: datetime,
    ) -> Changes:
        """Store the standard's policy; if it changed, recalculate everyone on the standard."""
        policy = policies.resolved(standard, tenant_policy)
        before = await policies.save_standard(connection, standard, policy)
        if before == policy:
            return []
        states = await read_model.load_states_of_standard(
            connection, standard.tenant_id, standard.standard_id
        )
        if before is None and not states:
            return []
        cause = ChangeCause(
            event_id=delivered.envelope.id, attempt_id="", assessed_at=now, reason="policy"
        )
        changes = await self._replay(
            connection, states, list(states), policy=policy, cause=cause, now=now,
            bus_sequence=delivered.stream_sequence,
        )  # fmt: skip
        await read_model.save_states(connection, list(states.values()), now)
        return changes

    async def _replay(
        self,
        connection: DbConnection,
        states: dict[StudentStandardKey, StudentStandard],
        keys: list[StudentStandardKey],
        *,
        policy: CalculationPolicy,
        cause: ChangeCause,
        now: datetime,
        bus_sequence: int,
    ) -> Changes:
        """Recalculate `keys` from their evidence rows (O(n) in each one's attempts)."""
        histories = await read_model.load_evidence(connection, keys)
        changes: Changes = []
        for key in keys:
            evidence = histories[key]
            newest = newest_evidence(evidence)
            if cause.reason == "policy" and newest is not None:
                cause = ChangeCause(
                    event_id=cause.event_id, attempt_id=newest.attempt_id,
                    assessed_at=newest.assessed_at, reason="policy",
                )  # fmt: skip
            states[key], emitted = replay(
                key, evidence, before=states.get(key), cause=cause, policy=policy, now=now,
                bus_sequence=bus_sequence,
            )  # fmt: skip
            changes += emitted
        return changes


def _runs(
    batch: Sequence[Delivered[AnyGradebookEvent]],
) -> Iterator[list[AttemptApplied] | Delivered[AnyGradebookEvent]]:
    """Consecutive new attempts as one list; every other event on its own, in stream order."""
    run: list[AttemptApplied] = []
    for delivered in batch:
        event = delivered.envelope.data
        if isinstance(event, _NEW_ATTEMPTS):
            latest = upcast(event)
            assert isinstance(latest, AttemptRecorded), type(latest)
            run.append(_applied(delivered, latest))
            continue
        if run:
            yield run
            run = []
        yield delivered  # corrections and standards have a single version so far
    if run:
        yield run


# Every version of `attempt_recorded`: what `_runs` puts in a run and `runs_alone` lets through.
_NEW_ATTEMPTS = (AttemptRecorded, AttemptRecordedV1)


def _applied(delivered: Delivered[AnyGradebookEvent], event: AttemptRecorded) -> AttemptApplied:
    return AttemptApplied(
        event=event,
        event_id=delivered.envelope.id,
        stream_version=delivered.envelope.streamversion or 0,
        bus_sequence=delivered.stream_sequence,
    )
