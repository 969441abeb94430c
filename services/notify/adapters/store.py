"""PostgreSQL adapter of the notify service: guardians and the notification outbox."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from services.notify.core.messages import Email, Guardian
from shared.contract.events.mastery import MasteryChanged
from shared.platform.postgres import DbConnection
from shared.platform.rows import Columns


class PendingEmail(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    change_id: str
    email: Email
    send_attempts: int
    # The trace context of the change it tells of (None: none carried): the send span links it.
    traceparent: str | None = None


class GuardianRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `guardians` as written."""

    tenant_id: str
    student_id: str
    email: str
    name: str
    language: str
    delivery: str


_GUARDIANS = Columns(GuardianRow)
_INSERT_GUARDIAN = (
    f"INSERT INTO guardians ({_GUARDIANS.listed}) VALUES ({_GUARDIANS.placeholders()})"  # noqa: S608 - names from the row Struct
)


async def replace_guardians(
    connection: DbConnection, tenant_id: str, student_id: str, guardians: Sequence[Guardian]
) -> None:
    """Replace the student's guardians set through the API. Those from the roster stay until the
    roster drops them, but one given here too becomes the API's (and the roster leaves it be)."""
    async with connection.transaction():
        await connection.execute(
            "DELETE FROM guardians WHERE tenant_id = $1 AND student_id = $2 "
            "AND (roster_person_id IS NULL OR email = ANY($3::text[]))",
            tenant_id,
            student_id,
            [each.email for each in guardians],
        )
        rows = [
            GuardianRow(
                tenant_id=tenant_id,
                student_id=student_id,
                email=each.email,
                name=each.name,
                language=each.language,
                delivery=each.delivery,
            )
            for each in guardians
        ]
        await connection.executemany(_INSERT_GUARDIAN, map(_GUARDIANS.values, rows))


async def guardians_of(
    connection: DbConnection | asyncpg.Pool, tenant_id: str, student_id: str
) -> list[Guardian]:
    found = await guardians_of_students(connection, [(tenant_id, student_id)])
    return found.get((tenant_id, student_id), [])


async def guardians_of_students(
    connection: DbConnection | asyncpg.Pool, students: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[Guardian]]:
    """The guardians of each (tenant, student), by address, in one statement; a student with
    none is left out."""
    tenants, student_ids = _columns(sorted(set(students)))
    # An address unsubscribed by its own one-click link reads `off`, whatever an admin's PUT said.
    rows = await connection.fetch(
        "SELECT g.tenant_id, g.student_id, email, name, language, CASE WHEN EXISTS ("
        "SELECT 1 FROM unsubscribes u WHERE u.tenant_id = g.tenant_id "
        "AND u.address = lower(g.email)) THEN 'off' ELSE delivery END AS delivery "
        "FROM guardians g JOIN unnest($1::text[], $2::text[]) AS k (tenant_id, student_id) "
        "USING (tenant_id, student_id) ORDER BY g.tenant_id, g.student_id, email",
        tenants,
        student_ids,
    )
    found: dict[tuple[str, str], list[Guardian]] = {}
    for row in rows:
        found.setdefault((row["tenant_id"], row["student_id"]), []).append(
            Guardian(
                email=row["email"],
                name=row["name"],
                language=row["language"],
                delivery=row["delivery"],
            )
        )
    return found


def _columns(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [first for first, _ in pairs], [second for _, second in pairs]


class NotificationRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `notifications` as planned (its sending state starts at the table's defaults)."""

    tenant_id: str
    change_id: str
    guardian_email: str
    student_id: str
    standard_id: str
    subject: str
    body: str
    html: str
    language: str
    reply_to: str
    delivery: str
    # 'pending' for the mailer, or 'held_for_digest' for a digest guardian's digest job.
    status: str
    unsubscribe_url: str
    # Due after the grace delay, then composed with the rest of its group (composer.py).
    next_attempt_at: datetime
    composed: bool = False
    group_key: str
    traceparent: str | None = None


_NOTIFICATIONS = Columns(NotificationRow)
_INSERT_NOTIFICATION = (
    f"INSERT INTO notifications ({_NOTIFICATIONS.listed}) "  # noqa: S608 - names from the row Struct
    f"VALUES ({_NOTIFICATIONS.placeholders()}) ON CONFLICT DO NOTHING"
)


class PlannedEmail(msgspec.Struct, frozen=True, kw_only=True):
    """An email planned for a guardian, not yet written: the composer renders it when it is due
    (with the rest of its group, in the guardian's language, with the settings of that moment)."""

    guardian: Guardian
    reply_to: str
    unsubscribe_url: str  # signed when planned; empty without a secret


def _notification(
    change: MasteryChanged,
    planned: PlannedEmail,
    due: datetime,
    key: str,
    *,
    traceparent: str | None,
) -> NotificationRow:
    guardian = planned.guardian
    return NotificationRow(
        tenant_id=change.tenant_id,
        change_id=change.change_id,
        guardian_email=guardian.email,
        student_id=change.student_id,
        standard_id=change.standard_id,
        # Written by the composer (`composed`); the mailer takes composed rows only.
        subject="",
        body="",
        html="",
        language=guardian.language,
        reply_to=planned.reply_to,
        delivery=guardian.delivery,
        status="pending" if guardian.delivery == "immediate" else "held_for_digest",
        unsubscribe_url=planned.unsubscribe_url,
        next_attempt_at=due,
        group_key=key,
        traceparent=traceparent,
    )


async def enqueue_emails(
    connection: DbConnection,
    change: MasteryChanged,
    planned: Sequence[PlannedEmail],
    grace: timedelta = timedelta(0),
    key: str = "",
    *,
    traceparent: str | None = None,
) -> None:
    """Plan the emails of one change, due after `grace`, each keeping the trace context the
    change carried; a redelivered change finds its rows and adds nothing."""
    rows = notification_rows(change, planned, grace, key, traceparent=traceparent)
    await insert_notifications(connection, rows)


def notification_rows(
    change: MasteryChanged,
    planned: Sequence[PlannedEmail],
    grace: timedelta = timedelta(0),
    key: str = "",
    *,
    traceparent: str | None = None,
) -> list[NotificationRow]:
    """The rows of one change's emails, due after `grace`."""
    due = datetime.now(UTC) + grace
    return [_notification(change, email, due, key, traceparent=traceparent) for email in planned]


async def insert_notifications(connection: DbConnection, rows: Sequence[NotificationRow]) -> None:
    """Plan emails (of any changes); a row planned before adds nothing."""
    if rows:
        await connection.executemany(_INSERT_NOTIFICATION, map(_NOTIFICATIONS.values, rows))


async def claim_due(pool: asyncpg.Pool, limit: int, lease: timedelta) -> list[PendingEmail]:
    """Lease due rows to this mailer: pending ones, and sending ones whose lease ran out (their
    mailer died, perhaps after the SMTP server accepted the email). A due row to an address on
    its tenant's suppression list is marked `suppressed` instead, in the same statement. Only
    composed rows: an uncomposed one waits for the composer (which skips rows another mailer
    holds), never to be sent on its own."""
    rows = await pool.fetch(
        """
        WITH due AS (
            SELECT tenant_id, change_id, guardian_email, EXISTS (
                SELECT 1 FROM suppressions s
                WHERE s.tenant_id = n.tenant_id AND s.address = lower(n.guardian_email)
            ) AS suppressed
            FROM notifications n
            WHERE status IN ('pending', 'sending') AND composed AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
        ), suppressing AS (
            UPDATE notifications n SET status = 'suppressed',
                last_error = 'not sent: the address is suppressed'
            FROM due WHERE due.suppressed AND (n.tenant_id, n.change_id, n.guardian_email)
                = (due.tenant_id, due.change_id, due.guardian_email)
        )
        UPDATE notifications n SET status = 'sending', next_attempt_at = now() + $2
        FROM due
        WHERE NOT due.suppressed AND (n.tenant_id, n.change_id, n.guardian_email)
            = (due.tenant_id, due.change_id, due.guardian_email)
        RETURNING n.tenant_id, n.change_id, n.guardian_email, n.subject, n.body, n.html,
            n.language, n.reply_to, n.created_at, n.send_attempts, n.unsubscribe_url,
            n.traceparent
        """,
        limit,
        lease,
    )
    return [
        PendingEmail(
            tenant_id=row["tenant_id"],
            change_id=row["change_id"],
            email=Email(
                to=row["guardian_email"],
                subject=row["subject"],
                body=row["body"],
                html=row["html"],
                language=row["language"],
                reply_to=row["reply_to"],
                date=row["created_at"],
                unsubscribe_url=row["unsubscribe_url"],
            ),
            send_attempts=row["send_attempts"],
            traceparent=row["traceparent"],
        )
        for row in rows
    ]


async def renew_leases(
    pool: asyncpg.Pool, pending: Collection[PendingEmail], lease: timedelta
) -> None:
    """Keep these rows leased while their SMTP sessions last."""
    await pool.execute(
        "UPDATE notifications SET next_attempt_at = now() + $4 WHERE status = 'sending' "
        "AND (tenant_id, change_id, guardian_email) "
        "IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
        [item.tenant_id for item in pending],
        [item.change_id for item in pending],
        [item.email.to for item in pending],
        lease,
    )


async def mark_sent(pool: asyncpg.Pool, pending: PendingEmail, at: datetime) -> None:
    await pool.execute(
        "UPDATE notifications SET status = 'sent', sent_at = $4, send_attempts = send_attempts + 1 "
        "WHERE tenant_id = $1 AND change_id = $2 AND guardian_email = $3 AND status <> 'sent'",
        *_key(pending),
        at,
    )


async def mark_for_retry(
    pool: asyncpg.Pool, pending: PendingEmail, error: str, retry_in: timedelta
) -> None:
    """A transient failure: due again after `retry_in`."""
    await pool.execute(
        "UPDATE notifications SET status = 'pending', send_attempts = send_attempts + 1, "
        "last_error = $4, next_attempt_at = now() + $5 "
        "WHERE tenant_id = $1 AND change_id = $2 AND guardian_email = $3 AND status = 'sending'",
        *_key(pending),
        error,
        retry_in,
    )


async def park(
    pool: asyncpg.Pool, pending: PendingEmail, reason: str, *, suppress: bool = False
) -> None:
    """A permanent failure: parked as failed with its reason, and never sent on its own again.
    With `suppress` (the server refused the address itself) the address joins the tenant's
    suppression list in the same statement, so no later email to it is sent."""
    await pool.execute(
        "WITH parked AS (UPDATE notifications SET status = 'failed', "
        "send_attempts = send_attempts + 1, last_error = $4, failed_at = now() "
        "WHERE tenant_id = $1 AND change_id = $2 AND guardian_email = $3 AND status = 'sending' "
        "RETURNING tenant_id, change_id, guardian_email) "
        "INSERT INTO suppressions (tenant_id, address, reason, change_id) "
        "SELECT tenant_id, lower(guardian_email), $4, change_id FROM parked WHERE $5 "
        "ON CONFLICT DO NOTHING",
        *_key(pending),
        reason,
        suppress,
    )


def _key(pending: PendingEmail) -> tuple[str, str, str]:
    return pending.tenant_id, pending.change_id, pending.email.to


class NotificationCounts(msgspec.Struct, frozen=True, kw_only=True):
    due: int
    failed: int


async def notification_counts(pool: asyncpg.Pool) -> NotificationCounts:
    """Emails due now and not sent (a lease in force pushes a row's due time out), and parked."""
    row = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending') "
        "AND next_attempt_at <= now()) AS due, "
        "count(*) FILTER (WHERE status = 'failed') AS failed FROM notifications"
    )
    assert row is not None
    return NotificationCounts(due=row["due"], failed=row["failed"])


class FailedNotification(msgspec.Struct, frozen=True, kw_only=True):
    change_id: str
    guardian_email: str
    student_id: str
    reason: str
    failed_at: datetime


async def failed_notifications(
    connection: DbConnection, tenant_id: str
) -> list[FailedNotification]:
    """A tenant's parked emails, newest first, with the SMTP server's reason."""
    rows = await connection.fetch(
        "SELECT change_id, guardian_email, student_id, last_error, failed_at FROM notifications "
        "WHERE tenant_id = $1 AND status = 'failed' ORDER BY failed_at DESC",
        tenant_id,
    )
    return [
        FailedNotification(
            change_id=row["change_id"],
            guardian_email=row["guardian_email"],
            student_id=row["student_id"],
            reason=row["last_error"],
            failed_at=row["failed_at"],
        )
        for row in rows
    ]
