"""Consumes mastery changes and plans one email per guardian, in one transaction, then acks.

Rows wait out the tenant's grace delay and are composed then (`composer.py`): each email is
rendered once, when it is composed, in its guardian's language, with the student's display name
and the school's settings as they are then; the row keeps it, so a resend is the same email.
The planner only decides who is told and signs each guardian's unsubscribe link.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from services.notify.adapters import family, store
from services.notify.adapters.composer import group_key
from services.notify.adapters.store import PlannedEmail
from services.notify.core import unsubscribe
from services.notify.core.messages import TenantSettings
from services.notify.core.storms import StormSettings
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.platform.bus_users import PLANNER_DURABLE
from shared.platform.consumer import Delivered
from shared.platform.postgres import DbConnection

PLANNER_NAME = PLANNER_DURABLE


@dataclass(frozen=True, slots=True)
class UnsubscribeLinks:
    """The server's secret (kept out of repr, so out of logs) and the public base of the links."""

    secret: bytes = field(default=b"", repr=False)
    base_url: str = ""

    def for_guardian(self, tenant_id: str, address: str) -> str:
        return unsubscribe.link(self.secret, self.base_url, tenant_id, address)


class NotificationPlanner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        defaults: StormSettings | None = None,
        unsubscribe: UnsubscribeLinks | None = None,
    ) -> None:
        self._pool = pool
        # For tenants that never saved mail settings.
        self._defaults = defaults or StormSettings()
        self._links = unsubscribe or UnsubscribeLinks()

    async def handle_mastery_events(self, batch: Sequence[Delivered[AnyMasteryEvent]]) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            for delivered in batch:
                change = delivered.envelope.data
                await family.keep_change(connection, change)
                settings = await family.settings_of(connection, change.tenant_id, self._defaults)
                planned = await plan_emails(connection, change, self._links, settings)
                grace = timedelta(seconds=settings.storm.grace_seconds)
                await store.enqueue_emails(
                    connection,
                    change,
                    planned,
                    grace,
                    group_key(change),
                    traceparent=delivered.envelope.trace_parent,
                )


async def plan_emails(
    connection: DbConnection,
    change: MasteryChanged,
    links: UnsubscribeLinks | None = None,
    settings: TenantSettings | None = None,
) -> list[PlannedEmail]:
    """Each guardian of the change's student who wants news (`off`: none)."""
    guardians = await store.guardians_of(connection, change.tenant_id, change.student_id)
    wanted = [guardian for guardian in guardians if guardian.delivery != "off"]
    if not wanted:
        return []
    settings = settings or await family.settings_of(connection, change.tenant_id)
    links = links or UnsubscribeLinks()
    return [
        PlannedEmail(
            guardian=guardian,
            reply_to=settings.reply_to,
            unsubscribe_url=links.for_guardian(change.tenant_id, guardian.email),
        )
        for guardian in wanted
    ]
