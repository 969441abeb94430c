"""PostgreSQL event store for attempts: optimistic appends, outbox row in the same transaction."""

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from services.attempts.core.recording import (
    Accept,
    AttemptReceipt,
    RecordAttempt,
    Refuse,
    Replay,
    decide_record,
    receipt_for,
)
from shared.bus import BusNames
from shared.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.events.attempts import AnyAttemptEvent, AttemptRecorded
from shared.ids import stream_id
from shared.postgres import DbConnection

EVENT_SOURCE = "/services/attempts"
# Each lost race means another writer won, so n concurrent writers need at most n rounds.
MAX_APPEND_RETRIES = 16

_request_decoder = msgspec.json.Decoder(RecordAttempt)
_receipt_decoder = msgspec.json.Decoder(AttemptReceipt)
_encoder = msgspec.json.Encoder()
_envelopes = EnvelopeCodec(AnyAttemptEvent)


class StreamContended(Exception):
    """Concurrent writers kept winning the next version of this stream."""


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: Literal["created", "replayed"]
    receipt: AttemptReceipt


class _Retry(Exception):
    pass


class AttemptStore:
    def __init__(self, pool: asyncpg.Pool, bus: BusNames) -> None:
        self._pool = pool
        self._bus = bus

    async def record(self, command: RecordAttempt, *, now: datetime) -> Recorded | Refuse:
        for attempt in range(MAX_APPEND_RETRIES):
            try:
                return await self._try_record(command, now)
            except _Retry:
                # Jitter keeps the losers of one race from colliding again in lockstep.
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311
        raise StreamContended(stream_id(command.tenant_id, command.student_id, command.standard_id))

    async def _try_record(self, command: RecordAttempt, now: datetime) -> Recorded | Refuse:
        async with self._pool.acquire() as connection, connection.transaction():
            prior_row = await connection.fetchrow(
                "SELECT request, response FROM attempt_requests "
                "WHERE tenant_id = $1 AND attempt_id = $2",
                command.tenant_id,
                command.attempt_id,
            )
            prior = _request_decoder.decode(prior_row["request"]) if prior_row else None
            decision = decide_record(command, prior, now=now)
            if isinstance(decision, Replay):
                assert prior_row is not None
                return Recorded("replayed", _receipt_decoder.decode(prior_row["response"]))
            if isinstance(decision, Refuse):
                return decision
            return await self._append(connection, command, decision)

    async def _append(
        self, connection: DbConnection, command: RecordAttempt, decision: Accept
    ) -> Recorded:
        event = decision.event
        stream = stream_id(event.tenant_id, event.student_id, event.standard_id)
        event_id = str(uuid.uuid4())
        # The event row is the transaction's first write, so transaction ids rise with stream
        # versions; the outbox relay's horizon order then keeps each stream in order.
        version = await _append_event(connection, stream, event, event_id)
        receipt = receipt_for(event, event_id=event_id, stream_version=version)
        claimed = await connection.fetchval(
            "INSERT INTO attempt_requests (tenant_id, attempt_id, request, response, event_id) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
            command.tenant_id,
            command.attempt_id,
            _encoder.encode(command).decode(),
            _encoder.encode(receipt).decode(),
            uuid.UUID(event_id),
        )
        if not claimed:
            raise _Retry  # a concurrent request with the same attempt id won; replay it
        await connection.execute(
            "INSERT INTO attempts_outbox (tenant_id, subject, msg_id, payload) "
            "VALUES ($1, $2, $3, $4)",
            event.tenant_id,
            self._bus.attempts(event.tenant_id, "recorded"),
            event_id,
            _envelopes.encode(_envelope(event, event_id, stream, version)),
        )
        return Recorded("created", receipt)


async def _append_event(
    connection: DbConnection, stream: str, event: AttemptRecorded, event_id: str
) -> int:
    try:
        version: int = await connection.fetchval(
            "INSERT INTO attempt_events "
            "(tenant_id, stream_id, stream_version, event_id, event_type, data, recorded_at) "
            "SELECT $1, $2, coalesce(max(stream_version), 0) + 1, $3, $4, $5, $6 "
            "FROM attempt_events WHERE stream_id = $2 "
            "RETURNING stream_version",
            event.tenant_id,
            stream,
            uuid.UUID(event_id),
            type(event).__struct_config__.tag,
            _encoder.encode(event).decode(),
            event.recorded_at,
        )
    except asyncpg.UniqueViolationError as error:
        raise _Retry from error  # another writer took this version; decide again
    return version


def _envelope(
    event: AttemptRecorded, event_id: str, stream: str, version: int
) -> CloudEvent[AnyAttemptEvent]:
    return CloudEvent(
        id=event_id,
        source=EVENT_SOURCE,
        type=cloudevent_type(event),
        subject=stream,
        time=event.recorded_at,
        tenantid=event.tenant_id,
        streamversion=version,
        data=event,
    )
