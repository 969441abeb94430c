"""Composes planned rows into the emails that go out: never a storm.

A planned row waits out the tenant's grace delay uncomposed. When one comes due, every uncomposed
row of its group (a guardian's rows about one student; a guardian's policy changes form one group
of their own) is netted per standard in the core (`net_changes`): standards back where they
started, and crossings of the mastery line inside the flap window, drop out. One row, the newest
change's, carries the email of what is left (one standard: the usual email; several: one email
listing them; policy: the summary), due at the end of the quiet hours; the others are marked
`coalesced` with the row they went into. Nothing is deleted. All in one transaction, rows locked,
so two mailers never compose the same group.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal

import asyncpg
import msgspec

from services.notify.adapters import family
from services.notify.adapters.rendering import Renderer
from services.notify.adapters.report_links import NO_REPORT_LINKS, ReportLinks
from services.notify.core.messages import (
    Email,
    EmailFacts,
    FamilyReport,
    Guardian,
    TenantSettings,
    email_facts,
)
from services.notify.core.storms import (
    LastEmailed,
    StormSettings,
    crosses,
    net_changes,
    next_allowed,
    within_flap,
)
from shared.contract.events.mastery import MasteryChanged
from shared.platform.postgres import DbConnection

POLICY_GROUP = "policy"
_decoder = msgspec.json.Decoder(MasteryChanged)


def group_key(change: MasteryChanged) -> str:
    """Rows composed together: a student's changes, or all of a guardian's policy changes."""
    return POLICY_GROUP if change.reason == "policy" else f"student:{change.student_id}"


async def compose_due(
    pool: asyncpg.Pool,
    renderer: Renderer,
    now: datetime,
    limit: int,
    defaults: StormSettings,
    *,
    links: ReportLinks = NO_REPORT_LINKS,
) -> int:
    """Compose the groups with a due uncomposed row; returns how many groups. Each email links
    to its students' family reports when `links` has a secret, open from `now`."""
    groups = await pool.fetch(
        "SELECT DISTINCT tenant_id, guardian_email, group_key FROM notifications "
        "WHERE status = 'pending' AND NOT composed AND next_attempt_at <= $1 LIMIT $2",
        now,
        limit,
    )
    for group in groups:
        async with pool.acquire() as connection, connection.transaction():
            await _compose(
                connection, renderer, now=now, defaults=defaults, links=links, **dict(group)
            )
    return len(groups)


async def _compose(
    connection: DbConnection,
    renderer: Renderer,
    *,
    now: datetime,
    defaults: StormSettings,
    links: ReportLinks,
    tenant_id: str,
    guardian_email: str,
    group_key: str,
) -> None:
    key = group_key
    rows = await connection.fetch(
        "SELECT n.change_id, n.unsubscribe_url, c.event::text AS event FROM notifications n "
        "JOIN notified_changes c USING (tenant_id, change_id) "
        "WHERE n.tenant_id = $1 AND n.guardian_email = $2 AND n.group_key = $3 "
        "AND n.status = 'pending' AND NOT n.composed FOR UPDATE OF n SKIP LOCKED",
        tenant_id,
        guardian_email,
        key,
    )
    if not rows:
        return  # another mailer has it
    changes = [_decoder.decode(row["event"]) for row in rows]
    settings = await family.settings_of(connection, tenant_id, defaults)
    kept = await _worth_sending(connection, guardian_email, changes, settings, now)
    if key == POLICY_GROUP and settings.storm.policy_changes == "silent":
        kept = []
    all_ids = [change.change_id for change in changes]
    if not kept:
        await _coalesce(connection, tenant_id, guardian_email, all_ids, "nothing to say")
        return
    anchor = kept[-1].change_id
    guardian = await guardian_of(connection, tenant_id, guardian_email)
    facts = await facts_of(
        connection,
        kept,
        guardian,
        settings,
        unsubscribe_url=rows[-1]["unsubscribe_url"],  # the guardian's, signed when planned
        reports=links.opening(now).of(guardian),
    )
    kind: Literal["changes", "policy"] = "policy" if key == POLICY_GROUP else "changes"
    email = renderer.render_many(facts, guardian_email, settings.reply_to, kind=kind)
    due = next_allowed(now, settings.time_zone, settings.storm.quiet_hours)
    await _carry(connection, tenant_id, anchor, email, due)
    others = [change_id for change_id in all_ids if change_id != anchor]
    await _coalesce(connection, tenant_id, guardian_email, others, f"coalesced into {anchor}")
    await _remember(connection, guardian_email, kept, now)


async def _worth_sending(
    connection: DbConnection,
    guardian_email: str,
    changes: Sequence[MasteryChanged],
    settings: TenantSettings,
    now: datetime,
) -> list[MasteryChanged]:
    window = timedelta(hours=settings.storm.flap_window_hours)
    kept = []
    for net in sorted(net_changes(changes), key=lambda each: (each.changed_at, each.change_id)):
        last = await _last_emailed(connection, guardian_email, net)
        if not within_flap(net, last, now, window):
            kept.append(net)
    return kept


async def _last_emailed(
    connection: DbConnection, guardian_email: str, change: MasteryChanged
) -> LastEmailed | None:
    row = await connection.fetchrow(
        "SELECT mastered, crossed, emailed_at FROM last_emailed WHERE tenant_id = $1 "
        "AND guardian_email = $2 AND student_id = $3 AND standard_id = $4",
        change.tenant_id,
        guardian_email,
        change.student_id,
        change.standard_id,
    )
    if row is None:
        return None
    return LastEmailed(
        standard_id=change.standard_id,
        mastered=row["mastered"],
        crossed=row["crossed"],
        emailed_at=row["emailed_at"],
    )


async def facts_of(
    connection: DbConnection,
    changes: Sequence[MasteryChanged],
    guardian: Guardian,
    settings: TenantSettings,
    *,
    unsubscribe_url: str,
    reports: Callable[[MasteryChanged], FamilyReport | None],
) -> list[EmailFacts]:
    """What the email says of each change, with the student's name and report link."""
    facts = []
    for change in changes:
        name = await family.student_name(connection, change.tenant_id, change.student_id)
        report = reports(change)
        facts.append(email_facts(change, guardian, name, settings, unsubscribe_url, report=report))
    return facts


async def guardian_of(connection: DbConnection, tenant_id: str, email: str) -> Guardian:
    row = await connection.fetchrow(
        "SELECT name, language FROM guardians WHERE tenant_id = $1 AND email = $2 "
        "ORDER BY student_id LIMIT 1",
        tenant_id,
        email,
    )
    if row is None:  # replaced since the change was planned: still told, in English
        return Guardian(email=email)
    return Guardian(email=email, name=row["name"], language=row["language"])


async def _carry(
    connection: DbConnection, tenant_id: str, change_id: str, email: Email, due: datetime
) -> None:
    await connection.execute(
        "UPDATE notifications SET composed = true, subject = $3, body = $4, html = $5, "
        "language = $6, next_attempt_at = $7, reply_to = $9 "
        "WHERE tenant_id = $1 AND change_id = $2 AND guardian_email = $8",
        tenant_id,
        change_id,
        email.subject,
        email.body,
        email.html,
        email.language,
        due,
        email.to,
        email.reply_to,
    )


async def _coalesce(
    connection: DbConnection,
    tenant_id: str,
    guardian_email: str,
    change_ids: Sequence[str],
    reason: str,
) -> None:
    await connection.execute(
        "UPDATE notifications SET composed = true, status = 'coalesced', last_error = $4 "
        "WHERE tenant_id = $1 AND guardian_email = $2 AND change_id = ANY($3::text[])",
        tenant_id,
        guardian_email,
        list(change_ids),
        reason,
    )


async def _remember(
    connection: DbConnection, guardian_email: str, kept: Sequence[MasteryChanged], now: datetime
) -> None:
    """What the guardian is told now, for the flap window (told when composed, sent soon after)."""
    await connection.executemany(
        "INSERT INTO last_emailed (tenant_id, guardian_email, student_id, standard_id, "
        "mastered, crossed, emailed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (tenant_id, guardian_email, student_id, standard_id) DO UPDATE SET "
        "mastered = excluded.mastered, crossed = excluded.crossed, "
        "emailed_at = excluded.emailed_at",
        [
            (c.tenant_id, guardian_email, c.student_id, c.standard_id, c.mastered, crosses(c), now)
            for c in kept
        ],
    )
