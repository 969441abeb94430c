"""Writes to student-standard streams: read the stream, decide with the pure core, append.

Attempt ids are unique per tenant, a unique key on the log itself (the `attempt_id` of each
`attempt_recorded` event, migration `attempts/015`): posting an attempt again is safe, voids and
rescores name an attempt by its id alone, and a new attempt writes one row, its event.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from services.attempts.adapters.event_store import (
    NewEvent,
    StoredEvent,
    append,
    attempt_events,
    in_retried_statements,
    in_retried_transaction,
    new_event_id,
    read_stream,
    stored_event,
)
from services.attempts.adapters.standards_store import load_standard
from services.attempts.core.recording import (
    AttemptLocation,
    AttemptReceipt,
    Decision,
    RecordAttempt,
    RecordCorrectiveWork,
    Refuse,
    Replay,
    RescoreAttempt,
    VoidAttempt,
    decide_corrective_work,
    decide_record,
    decide_rescore,
    decide_void,
    receipt_for,
)
from services.attempts.core.refusals import NotFound
from services.attempts.core.stream import StreamState, evolve_stream, fold_stream
from shared.contract.events.attempts import (
    AttemptRecorded,
    CorrectiveWorkRecorded,
    LatestAttemptEvent,
)
from shared.contract.events.standards import StandardDefined
from shared.contract.ids import stream_id
from shared.platform.postgres import DbConnection
from shared.platform.tenant_scope import tenant_connection

_standard = msgspec.json.Decoder(StandardDefined)


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Literal["created", "replayed"]
    receipt: AttemptReceipt
    # The event's place in the whole log (a replay: the original event's), for reading it back.
    position: int = 0


class Appended(msgspec.Struct, frozen=True, kw_only=True):
    """A correction or corrective work as appended (or as found, for a repeated request)."""

    outcome: Literal["created", "replayed"]
    stream_version: int
    event: LatestAttemptEvent | None = None
    position: int = 0  # of the event appended, or of the one a repeated request found


class _Prior(msgspec.Struct, frozen=True):
    request: RecordAttempt
    receipt: AttemptReceipt
    position: int = 0  # 0 until the event is appended


def _stream_of(command: RecordAttempt | RecordCorrectiveWork) -> str:
    return stream_id(command.tenant_id, command.student_id, command.standard_id)


class AttemptRecorder:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, command: RecordAttempt, *, now: datetime) -> Recorded | Refuse:
        [result] = await self.record_batch([command], now=now)
        return result

    async def record_batch(
        self, commands: Sequence[RecordAttempt], *, now: datetime
    ) -> list[Recorded | Refuse]:
        """Two round trips: one read, then one statement (so one transaction) that appends the
        events, which take their attempt ids. Refused items store nothing."""
        if not commands:
            return []
        tenant_id = commands[0].tenant_id

        async def work(connection: DbConnection) -> list[Recorded | Refuse]:
            batch = await _BatchContext.load(connection, tenant_id, commands)
            results = [batch.decide(command, now) for command in commands]
            positions = await append(connection, batch.new_events)
            return [batch.positioned(result, positions) for result in results]

        return await in_retried_statements(self._pool, tenant_id, work, f"attempts of {tenant_id}")

    async def void(self, command: VoidAttempt, *, now: datetime) -> Appended | Refuse:
        async def decide(
            connection: DbConnection, state: StreamState, where: AttemptLocation
        ) -> Decision:
            return decide_void(command, state.attempts[command.attempt_id], where, now)

        return await self._correct(command.tenant_id, command.attempt_id, decide)

    async def rescore(self, command: RescoreAttempt, *, now: datetime) -> Appended | Refuse:
        async def decide(
            connection: DbConnection, state: StreamState, where: AttemptLocation
        ) -> Decision:
            found = await load_standard(connection, command.tenant_id, where.standard_id)
            assert found is not None, "an attempt's standard is never deleted"
            attempt = state.attempts[command.attempt_id]
            return decide_rescore(command, attempt, where, found[0], now)

        return await self._correct(command.tenant_id, command.attempt_id, decide)

    async def record_corrective_work(
        self, command: RecordCorrectiveWork, *, now: datetime
    ) -> Appended | Refuse:
        stream = _stream_of(command)

        async def work(connection: DbConnection) -> Appended | Refuse:
            found = await load_standard(connection, command.tenant_id, command.standard_id)
            if found is None:
                return NotFound(missing="standard", id=command.standard_id)
            stored = await read_stream(connection, stream)
            state = fold_stream(attempt_events(stored))
            decision = decide_corrective_work(command, state, now)
            if isinstance(decision, Replay):
                return Appended(outcome="replayed", stream_version=state.version,
                                position=_work_position(stored, command.work_id))  # fmt: skip
            return await self._append_one(connection, stream, state, decision)

        return await in_retried_transaction(self._pool, command.tenant_id, work, stream)

    async def _correct(
        self,
        tenant_id: str,
        attempt_id: str,
        decide: Callable[[DbConnection, StreamState, AttemptLocation], Awaitable[Decision]],
    ) -> Appended | Refuse:
        where = await _location(self._pool, tenant_id, attempt_id)
        if where is None:
            return NotFound(missing="attempt", id=attempt_id)
        stream = stream_id(tenant_id, where.student_id, where.standard_id)

        async def work(connection: DbConnection) -> Appended | Refuse:
            state = fold_stream(attempt_events(await read_stream(connection, stream)))
            decision = await decide(connection, state, where)
            return await self._append_one(connection, stream, state, decision)

        return await in_retried_transaction(self._pool, tenant_id, work, stream)

    async def _append_one(
        self, connection: DbConnection, stream: str, state: StreamState, decision: Decision
    ) -> Appended | Refuse:
        if isinstance(decision, Refuse):
            return decision
        if isinstance(decision, Replay):
            return Appended(outcome="replayed", stream_version=state.version)
        new = NewEvent(
            stream_id=stream, version=state.version + 1, event_id=new_event_id(),
            event=decision.event,
        )  # fmt: skip
        positions = await append(connection, [new])
        return Appended(outcome="created", stream_version=new.version, event=decision.event,
                        position=positions[new.event_id])  # fmt: skip


def _work_position(stored: Sequence[StoredEvent], work_id: str) -> int:
    """Where the corrective work a repeated request names was recorded."""
    for item in stored:
        if isinstance(item.event, CorrectiveWorkRecorded) and item.event.work_id == work_id:
            return item.position
    raise AssertionError(f"corrective work {work_id!r} replayed but not in its stream")


class _BatchContext:
    """What a batch's decisions read, loaded in three queries, and what they decided so far."""

    def __init__(
        self,
        priors: dict[str, _Prior],
        states: dict[str, StreamState],
        standards: dict[str, StandardDefined],
    ) -> None:
        self.priors = priors
        self.states = states
        self.standards = standards
        self.new_events: list[NewEvent] = []

    @classmethod
    async def load(
        cls, connection: DbConnection, tenant_id: str, commands: Sequence[RecordAttempt]
    ) -> "_BatchContext":
        streams = list(dict.fromkeys(map(_stream_of, commands)))
        rows = await connection.fetch(
            BATCH_READ,
            tenant_id,
            [command.attempt_id for command in commands],
            streams,
            list({command.standard_id for command in commands}),
        )
        priors: dict[str, _Prior] = {}
        stored: dict[str, list[StoredEvent]] = {stream: [] for stream in streams}
        standards: dict[str, StandardDefined] = {}
        for part, key, version, position, first, second in rows:
            if part == _PRIOR:
                priors[key] = _prior(stored_event(version, first, second), position)
            elif part == _EVENT:
                stored[key].append(stored_event(version, first, second))
            else:
                standards[key] = _standard.decode(second)
        states = {sid: fold_stream(attempt_events(events)) for sid, events in stored.items()}
        return cls(priors, states, standards)

    def decide(self, command: RecordAttempt, now: datetime) -> Recorded | Refuse:
        stream = _stream_of(command)
        prior = self.priors.get(command.attempt_id)
        decision = decide_record(
            command,
            prior=prior.request if prior else None,
            state=self.states[stream],
            standard=self.standards.get(command.standard_id),
            now=now,
        )
        if isinstance(decision, Refuse):
            return decision
        if isinstance(decision, Replay):
            assert prior is not None
            return Recorded(outcome="replayed", receipt=prior.receipt, position=prior.position)
        assert isinstance(decision.event, AttemptRecorded)
        self.states[stream] = evolve_stream(self.states[stream], decision.event)
        new = NewEvent(
            stream_id=stream, version=self.states[stream].version, event_id=new_event_id(),
            event=decision.event,
        )  # fmt: skip
        receipt = receipt_for(decision.event, event_id=new.event_id, stream_version=new.version)
        self.new_events.append(new)
        self.priors[command.attempt_id] = _Prior(command, receipt)
        return Recorded(outcome="created", receipt=receipt)

    @staticmethod
    def positioned(result: Recorded | Refuse, appended: dict[str, int]) -> Recorded | Refuse:
        """The result with the position its event took (a replay of an attempt first posted in
        this very batch learns it only now)."""
        if isinstance(result, Refuse) or result.position:
            return result
        return msgspec.structs.replace(result, position=appended[result.receipt.event_id])


def _prior(stored: StoredEvent, position: int) -> _Prior:
    """An attempt id taken: the request its event answered (an `attempt_recorded` event holds
    every field of it) and the receipt it was given."""
    event = stored.event
    assert isinstance(event, AttemptRecorded), "the attempt-id key covers recorded attempts only"
    request = RecordAttempt(
        tenant_id=event.tenant_id, attempt_id=event.attempt_id, student_id=event.student_id,
        standard_id=event.standard_id, status=event.status, score=event.score,
        points_possible=event.points_possible, assessed_at=event.assessed_at, actor=event.actor,
    )  # fmt: skip
    receipt = receipt_for(event, event_id=stored.event_id, stream_version=stored.version)
    return _Prior(request, receipt, position)


# What a batch's decisions read, in one round trip: the attempt ids already taken (their
# `attempt_recorded` events, by the log's unique key), the events of the batch's streams in order,
# and the standards used. Columns: part, key, version, position, then two texts.
# Each id and each stream is looked up by its own key (LATERAL, kept a subquery by OFFSET 0): a
# plan that matched the ids against the tenant's events would pick a scan of all of them while
# the statistics say a tenant is small (a school's first bulk import, or one school among many
# under a cached generic plan), and read every event of the tenant for each batch.
_PRIOR, _EVENT = 0, 1  # the `part` of each row; 2 is a standard
BATCH_READ = """
SELECT 0 AS part, e.recorded_attempt_id AS key, e.stream_version AS version,
       e.global_position AS position, e.event_id::text, e.data::text
  FROM (SELECT DISTINCT unnest($2::text[])) AS k (attempt_id)
 CROSS JOIN LATERAL (
    SELECT recorded_attempt_id, stream_version, global_position, event_id, data
      FROM attempt_events
     WHERE tenant_id = $1 AND recorded_attempt_id = k.attempt_id OFFSET 0) AS e
UNION ALL
SELECT 1, e.stream_id, e.stream_version, e.global_position, e.event_id::text, e.data::text
  FROM unnest($3::text[]) AS k (stream_id)
 CROSS JOIN LATERAL (
    SELECT stream_id, stream_version, global_position, event_id, data
      FROM attempt_events WHERE stream_id = k.stream_id OFFSET 0) AS e
UNION ALL
SELECT 2, standard_id, version, 0, NULL, definition::text
  FROM standards WHERE tenant_id = $1 AND standard_id = ANY($4::text[])
ORDER BY part, key, version
"""


async def _location(pool: asyncpg.Pool, tenant_id: str, attempt_id: str) -> AttemptLocation | None:
    async with tenant_connection(pool, tenant_id) as connection:
        row = await connection.fetchrow(
            "SELECT data->>'student_id' AS student_id, data->>'standard_id' AS standard_id "
            "FROM attempt_events WHERE tenant_id = $1 AND recorded_attempt_id = $2",
            tenant_id,
            attempt_id,
        )
    if row is None:
        return None
    return AttemptLocation(student_id=row["student_id"], standard_id=row["standard_id"])
