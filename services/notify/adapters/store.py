"""PostgreSQL adapter of the notify service: guardians and the notification outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
import msgspec

from services.notify.core.messages import Email, Guardian
from shared.contract.events.mastery import MasteryChanged
from shared.platform.postgres import DbConnection


class PendingEmail(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    change_id: str
    email: Email
    send_attempts: int


async def replace_guardians(
    pool: asyncpg.Pool, tenant_id: str, student_id: str, guardians: Sequence[Guardian]
) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "DELETE FROM guardians WHERE tenant_id = $1 AND student_id = $2", tenant_id, student_id
        )
        await connection.executemany(
            "INSERT INTO guardians (tenant_id, student_id, email, name) VALUES ($1, $2, $3, $4)",
            [(tenant_id, student_id, guardian.email, guardian.name) for guardian in guardians],
        )


async def guardians_of(
    connection: DbConnection | asyncpg.Pool, tenant_id: str, student_id: str
) -> list[Guardian]:
    rows = await connection.fetch(
        "SELECT email, name FROM guardians WHERE tenant_id = $1 AND student_id = $2 ORDER BY email",
        tenant_id,
        student_id,
    )
    return [Guardian(email=row["email"], name=row["name"]) for row in rows]


async def enqueue_emails(
    connection: DbConnection, change: MasteryChanged, emails: Sequence[Email]
) -> None:
    """Plan the emails of one change; a redelivered change finds its rows and adds nothing."""
    await connection.executemany(
        "INSERT INTO notifications "
        "(tenant_id, change_id, guardian_email, student_id, standard_id, subject, body) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        [
            (
                change.tenant_id,
                change.change_id,
                email.to,
                change.student_id,
                change.standard_id,
                email.subject,
                email.body,
            )
            for email in emails
        ],
    )


async def claim_due(pool: asyncpg.Pool, limit: int, lease: timedelta) -> list[PendingEmail]:
    """Lease due rows to this mailer; if it dies, the lease runs out and another sends them."""
    rows = await pool.fetch(
        """
        UPDATE notifications n SET next_attempt_at = now() + $2
        FROM (
            SELECT tenant_id, change_id, guardian_email FROM notifications
            WHERE sent_at IS NULL AND next_attempt_at <= now()
            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
        ) due
        WHERE (n.tenant_id, n.change_id, n.guardian_email)
            = (due.tenant_id, due.change_id, due.guardian_email)
        RETURNING n.tenant_id, n.change_id, n.guardian_email, n.subject, n.body, n.send_attempts
        """,
        limit,
        lease,
    )
    return [
        PendingEmail(
            tenant_id=row["tenant_id"],
            change_id=row["change_id"],
            email=Email(to=row["guardian_email"], subject=row["subject"], body=row["body"]),
            send_attempts=row["send_attempts"],
        )
        for row in rows
    ]


async def mark_sent(connection: asyncpg.Pool, pending: PendingEmail, at: datetime) -> None:
    await connection.execute(
        "UPDATE notifications SET sent_at = $4, send_attempts = send_attempts + 1 "
        "WHERE tenant_id = $1 AND change_id = $2 AND guardian_email = $3",
        pending.tenant_id,
        pending.change_id,
        pending.email.to,
        at,
    )


async def mark_failed(
    connection: asyncpg.Pool, pending: PendingEmail, error: str, retry_in: timedelta
) -> None:
    await connection.execute(
        "UPDATE notifications SET send_attempts = send_attempts + 1, last_error = $4, "
        "next_attempt_at = now() + $5 "
        "WHERE tenant_id = $1 AND change_id = $2 AND guardian_email = $3",
        pending.tenant_id,
        pending.change_id,
        pending.email.to,
        error,
        retry_in,
    )
