"""Sends planned notifications over SMTP and records each one sent.

Due rows are leased, sent one by one, and each is marked sent as soon as the SMTP server accepts
it; a crash between acceptance and the mark can resend that one email once its lease runs out
(at-least-once towards SMTP), and nothing else can.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import aiosmtplib
import asyncpg

from services.notify.adapters import store
from services.notify.core.messages import Email
from shared.platform.retry import retry_until_stopped, sleep_unless_stopped

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=30)
SEND_LEASE = timedelta(minutes=2)


class SmtpMailer:
    def __init__(
        self, pool: asyncpg.Pool, smtp_url: str, mail_from: str, *, batch_size: int, idle: float
    ) -> None:
        parts = urlsplit(smtp_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 25
        self._use_tls = parts.scheme == "smtps"
        self._username = parts.username
        self._password = parts.password
        self._pool = pool
        self._mail_from = mail_from
        self._batch_size = batch_size
        self._idle = idle
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            count = await retry_until_stopped(
                stop,
                self.send_due,
                transient=(OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError),
                what="mailer: sending due emails",
                delay=self._idle,
            )
            if count is not None and count < self._batch_size:
                await sleep_unless_stopped(stop, self._idle)

    async def lag(self) -> dict[str, int]:
        """Emails due now and not yet sent (a lease in force pushes a row's due time out)."""
        due = await self._pool.fetchval(
            "SELECT count(*) FROM notifications WHERE sent_at IS NULL AND next_attempt_at <= now()"
        )
        return {"due_notifications": int(due)}

    async def send_due(self) -> int:
        due = await store.claim_due(self._pool, self._batch_size, SEND_LEASE)
        for pending in due:
            try:
                await self._send(pending.email)
            except (aiosmtplib.SMTPException, OSError) as error:
                backoff = min(timedelta(seconds=2**pending.send_attempts), MAX_BACKOFF)
                logger.warning("email for tenant %s failed: %s", pending.tenant_id, error)
                await store.mark_failed(self._pool, pending, str(error), backoff)
                continue
            await store.mark_sent(self._pool, pending, datetime.now(UTC))
            self.sent += 1
        return len(due)

    async def _send(self, email: Email) -> None:
        message = EmailMessage()
        message["From"] = self._mail_from
        message["To"] = email.to
        message["Subject"] = email.subject
        message.set_content(email.body)
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            use_tls=self._use_tls,
            username=self._username,
            password=self._password,
            timeout=10,
        )
