"""Digests: a digest guardian's held rows become one email at the school's digest hour (weekly:
on its weekday), netted like any burst, and nothing at all when they net to nothing.

The digest is an outbox row like any other, keyed by (digest id, guardian) where the id names the
guardian and the school's local day (`digest:<guardian>:<day>`): a crash and rerun finds the row
and adds nothing, and the mailer sends it with a Message-ID derived from that key. The held rows
are marked `coalesced` into it in the same transaction; they are never deleted.
"""

from datetime import datetime

import asyncpg
import msgspec

from services.notify.adapters import family
from services.notify.adapters.composer import facts_of, guardian_of
from services.notify.adapters.rendering import Renderer
from services.notify.adapters.report_links import NO_REPORT_LINKS, OpenFrom, ReportLinks
from services.notify.core.messages import TenantSettings
from services.notify.core.storms import StormSettings, digest_due, digest_id, net_changes
from shared.contract.events.mastery import MasteryChanged
from shared.platform.postgres import DbConnection

_decoder = msgspec.json.Decoder(MasteryChanged)


async def send_due_digests(
    pool: asyncpg.Pool,
    renderer: Renderer,
    now: datetime,
    defaults: StormSettings,
    *,
    links: ReportLinks = NO_REPORT_LINKS,
) -> int:
    """Plan the digests due at `now`; returns how many guardians were looked at."""
    waiting = await pool.fetch(
        "SELECT DISTINCT tenant_id, guardian_email, delivery FROM notifications "
        "WHERE status = 'held_for_digest'"
    )
    for row in waiting:
        async with pool.acquire() as connection, connection.transaction():
            settings = await family.settings_of(connection, row["tenant_id"], defaults)
            day = digest_due(now, settings.time_zone, row["delivery"], settings.storm)
            if day is not None:
                guardian = Recipient(
                    tenant_id=row["tenant_id"],
                    email=row["guardian_email"],
                    delivery=row["delivery"],
                    digest=digest_id(row["guardian_email"], day),
                )
                await _digest(connection, renderer, settings, guardian, links.opening(now))
    return len(waiting)


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    email: str
    delivery: str
    digest: str  # the digest's id: its change_id in the outbox


async def _digest(
    connection: DbConnection,
    renderer: Renderer,
    settings: TenantSettings,
    to: Recipient,
    reports: OpenFrom,
) -> None:
    # Held rows of a digest already planned today wait for the next one.
    rows = await connection.fetch(
        "SELECT n.change_id, n.unsubscribe_url, c.event::text AS event FROM notifications n "
        "JOIN notified_changes c USING (tenant_id, change_id) "
        "WHERE n.tenant_id = $1 AND n.guardian_email = $2 AND n.status = 'held_for_digest' "
        "AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.tenant_id = $1 "
        "AND d.change_id = $3 AND d.guardian_email = $2) "
        "FOR UPDATE OF n SKIP LOCKED",
        to.tenant_id,
        to.email,
        to.digest,
    )
    if not rows:
        return  # already planned today, or another mailer has it
    changes = [_decoder.decode(row["event"]) for row in rows]
    nets = net_changes(changes)
    if nets:
        await _plan_digest(
            connection,
            renderer,
            settings,
            to,
            nets,
            reports=reports,
            link=rows[-1]["unsubscribe_url"],
        )
    reason = f"in digest {to.digest}" if nets else "nothing to say"
    await connection.execute(
        "UPDATE notifications SET status = 'coalesced', composed = true, last_error = $4 "
        "WHERE tenant_id = $1 AND guardian_email = $2 AND change_id = ANY($3::text[])",
        to.tenant_id,
        to.email,
        [change.change_id for change in changes],
        reason,
    )


async def _plan_digest(
    connection: DbConnection,
    renderer: Renderer,
    settings: TenantSettings,
    to: Recipient,
    nets: list[MasteryChanged],
    *,
    reports: OpenFrom,
    link: str,
) -> None:
    guardian = await guardian_of(connection, to.tenant_id, to.email)
    facts = await facts_of(
        connection,
        nets,
        guardian,
        settings,
        unsubscribe_url=link,
        reports=reports.of(guardian),
    )
    email = renderer.render_many(facts, to.email, settings.reply_to, kind="digest")
    await connection.execute(
        "INSERT INTO notifications (tenant_id, change_id, guardian_email, student_id, "
        "standard_id, subject, body, html, language, reply_to, delivery, status, composed, "
        "group_key, unsubscribe_url) VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10, "
        "'pending', true, 'digest', $11) ON CONFLICT DO NOTHING",
        to.tenant_id,
        to.digest,
        to.email,
        nets[-1].student_id,
        email.subject,
        email.body,
        email.html,
        email.language,
        email.reply_to,
        to.delivery,
        email.unsubscribe_url,
    )
