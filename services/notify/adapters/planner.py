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
from services.notify.core.messages import Guardian, TenantSettings
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
        """The batch in one transaction and a fixed number of statements: keep its changes, read
        each tenant's settings and the students' guardians once, then plan every email."""
        changes = [delivered.envelope.data for delivered in batch]
        async with self._pool.acquire() as connection, connection.transaction():
            await family.keep_changes(connection, changes)
            settings = {
                tenant: await family.settings_of(connection, tenant, self._defaults)
                for tenant in sorted({change.tenant_id for change in changes})
            }
            guardians = await store.guardians_of_students(
                connection, ((change.tenant_id, change.student_id) for change in changes)
            )
            rows: list[store.NotificationRow] = []
            for delivered, change in zip(batch, changes, strict=True):
                tenant = settings[change.tenant_id]
                planned = planned_emails(
                    change, guardians.get((change.tenant_id, change.student_id), []),
                    self._links, tenant,
                )  # fmt: skip
                rows += store.notification_rows(
                    change,
                    planned,
                    timedelta(seconds=tenant.storm.grace_seconds),
                    group_key(change),
                    traceparent=delivered.envelope.trace_parent,
                )
            await store.insert_notifications(connection, rows)


async def plan_emails(
    connection: DbConnection,
    change: MasteryChanged,
    links: UnsubscribeLinks | None = None,
    settings: TenantSettings | None = None,
) -> list[PlannedEmail]:
    """Each guardian of the change's student who wants news (`off`: none)."""
    guardians = await store.guardians_of(connection, change.tenant_id, change.student_id)
    if not any(guardian.delivery != "off" for guardian in guardians):
        return []
    settings = settings or await family.settings_of(connection, change.tenant_id)
    return planned_emails(change, guardians, links or UnsubscribeLinks(), settings)


def planned_emails(
    change: MasteryChanged,
    guardians: Sequence[Guardian],
    links: UnsubscribeLinks,
    settings: TenantSettings,
) -> list[PlannedEmail]:
    """An email for each of the student's guardians who wants news (`off`: none)."""
    return [
        PlannedEmail(
            guardian=guardian,
            reply_to=settings.reply_to,
            unsubscribe_url=links.for_guardian(change.tenant_id, guardian.email),
        )
        for guardian in guardians
        if guardian.delivery != "off"
    ]
