"""Consumes mastery changes and plans one email per guardian, in one transaction, then acks."""

from collections.abc import Sequence

import asyncpg

from services.notify.adapters import store
from services.notify.core.messages import compose_change_email
from shared.contract.events.mastery import AnyMasteryEvent
from shared.platform.bus_users import PLANNER_DURABLE
from shared.platform.consumer import Delivered

PLANNER_NAME = PLANNER_DURABLE


class NotificationPlanner:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def handle_mastery_events(self, batch: Sequence[Delivered[AnyMasteryEvent]]) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            for delivered in batch:
                change = delivered.envelope.data
                guardians = await store.guardians_of(
                    connection, change.tenant_id, change.student_id
                )
                emails = [compose_change_email(change, guardian) for guardian in guardians]
                await store.enqueue_emails(connection, change, emails)
