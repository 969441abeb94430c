"""The mastery change log as a relay test's log: rows to append, the relay, what reached the bus."""

from __future__ import annotations

import asyncpg
from nats.js import JetStreamContext

from services.mastery.adapters.change_log import RELAYED_LOG
from shared.platform.bus import BusNames
from shared.platform.outbox import OutboxRelay, RelaySettings
from shared.platform.postgres import DbConnection

LOG_ROW = (
    "INSERT INTO mastery_changes (tenant_id, subject, msg_id, payload, student_id, standard_id, "
    "change_number) VALUES ($1, $2, $3, $4, 'lee', 'math', $5)"
)


async def enqueue(connection: DbConnection | asyncpg.Pool, bus: BusNames, n: int) -> None:
    await connection.execute(
        LOG_ROW, "school", bus.mastery_changed("school"), f"msg-{n}", f"payload-{n}".encode(), n
    )


async def unpublished(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM mastery_changes c, mastery_changes_relayed r "
        "WHERE (c.tx_id, c.position) > (r.tx_id, r.position)"
    )
    return count


async def stream_payloads(js: JetStreamContext, bus: BusNames) -> list[bytes]:
    info = await js.stream_info(bus.mastery_stream)
    payloads = []
    for sequence in range(1, info.state.last_seq + 1):
        message = await js.get_msg(bus.mastery_stream, sequence)
        assert message.data is not None
        payloads.append(message.data)
    return payloads


def relay_of(
    pool: asyncpg.Pool, nats_url: str, bus: BusNames, poll_interval: float = 1.0
) -> OutboxRelay:
    return OutboxRelay(
        pool,
        RelaySettings(
            log=RELAYED_LOG,
            nats_url=nats_url,
            client_name="test-relay",
            bus=bus,
            poll_interval=poll_interval,
            publish_timeout=1.0,
            retry_interval=0.1,
        ),
    )
