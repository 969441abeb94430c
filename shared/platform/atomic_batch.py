"""Messages published to JetStream as one atomic batch: stored together, or not at all.

With `sync_interval: always` JetStream writes each stored message to disk before it acknowledges
it, one fsync per message; an atomic batch (nats-server 2.12 and later, on a stream with
`allow_atomic`) is stored as one, with one. The messages go out as plain publishes carrying
`Nats-Batch-Id` and `Nats-Batch-Sequence`, the last one as a request with `Nats-Batch-Commit`,
and only that one is answered: the batch's last sequence and its count, or why it was refused.

A batch is refused whole when one of its message ids is one JetStream already holds (a relay that
crashed after publishing, before it moved its position, sends the batch again): the caller then
publishes message by message, and JetStream drops the ones it holds, as before. A server that
knows no atomic batches stores each message as an ordinary publish and answers the last alone;
the answer then names no batch, and the caller publishes them all again the same way.
"""

import enum
import uuid
from collections.abc import Sequence

import msgspec
from nats.aio.client import Client as NatsClient

from shared.contract.cloudevents import CONTENT_TYPE, CONTENT_TYPE_HEADER
from shared.platform.deadletter import MSG_ID_HEADER

BATCH_ID_HEADER = "Nats-Batch-Id"
BATCH_SEQUENCE_HEADER = "Nats-Batch-Sequence"
BATCH_COMMIT_HEADER = "Nats-Batch-Commit"
# The most messages a JetStream atomic batch may hold.
MAX_BATCH = 1_000
# JetStream's error code for a stream that does not allow atomic batches.
ATOMIC_PUBLISH_DISABLED = 10174


class Outcome(enum.Enum):
    STORED = "stored"  # every message, in order, as one
    REFUSED = "refused"  # nothing stored; message by message may still store them
    UNSUPPORTED = "unsupported"  # the stream or the server takes no atomic batches


class _Error(msgspec.Struct, frozen=True):
    err_code: int = 0
    description: str = ""


class _Answer(msgspec.Struct, frozen=True):
    batch: str | None = None
    count: int | None = None
    error: _Error | None = None


_decode_answer = msgspec.json.Decoder(_Answer).decode


class Published(msgspec.Struct, frozen=True):
    outcome: Outcome
    reason: str = ""


async def publish_atomically(
    client: NatsClient, messages: Sequence[tuple[str, str, bytes]], ack_wait: float
) -> Published:
    """Publish (subject, message id, payload), at least two and at most `MAX_BATCH`, as one
    atomic batch, waiting up to `ack_wait` seconds for its answer (a timeout is raised, as a
    publish's would be: the batch may have been stored, and sending it again is safe)."""
    if not 2 <= len(messages) <= MAX_BATCH:
        raise ValueError(f"an atomic batch holds 2 to {MAX_BATCH} messages, not {len(messages)}")
    batch_id = uuid.uuid4().hex
    *leading, (last_subject, last_id, last_payload) = messages
    for sequence, (subject, msg_id, payload) in enumerate(leading, start=1):
        await client.publish(subject, payload, headers=_headers(batch_id, sequence, msg_id))
    commit = {**_headers(batch_id, len(messages), last_id), BATCH_COMMIT_HEADER: "1"}
    reply = await client.request(last_subject, last_payload, timeout=ack_wait, headers=commit)
    answer = _decode_answer(reply.data)
    if answer.error is not None:
        if answer.error.err_code == ATOMIC_PUBLISH_DISABLED:
            return Published(Outcome.UNSUPPORTED, answer.error.description)
        return Published(Outcome.REFUSED, answer.error.description)
    if answer.batch != batch_id or answer.count != len(messages):
        return Published(Outcome.UNSUPPORTED, "the server answered the last message alone")
    return Published(Outcome.STORED)


def _headers(batch_id: str, sequence: int, msg_id: str) -> dict[str, str]:
    return {
        MSG_ID_HEADER: msg_id,
        CONTENT_TYPE_HEADER: CONTENT_TYPE,
        BATCH_ID_HEADER: batch_id,
        BATCH_SEQUENCE_HEADER: str(sequence),
    }
