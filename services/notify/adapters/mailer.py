"""Sends planned notifications over SMTP and records the outcome of each.

A row is leased (`sending`) for seconds, its lease renewed while its SMTP session lasts, and marked
`sent` as soon as the server accepts it. Only a mailer that dies between the server's acceptance
and that mark leaves a copy to send again once the lease runs out (at-least-once towards SMTP);
the copy has the same Message-ID, derived from the notification's key, so mail systems and readers
can tell it is the same message. Transient failures (4xx, the server down, a refused login) wait
and retry with capped exponential backoff and jitter; all of it lives in PostgreSQL, so a restarted
mailer carries on where the last one stopped. Permanent ones are parked as `failed` with the
server's reason; a permanent refusal of the recipient also suppresses that address for its tenant.
Each email is its own SMTP transaction, so one refused address never holds up the others, and a
token bucket keeps the sending rate within what the school's relay allows.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from services.notify.adapters import composer, digests, smtp, store
from services.notify.adapters.rendering import Renderer
from services.notify.adapters.report_links import NO_REPORT_LINKS, ReportLinks
from services.notify.adapters.store import PendingEmail
from services.notify.core.messages import message_id
from services.notify.core.pacing import TokenBucket, retry_delay
from services.notify.core.storms import StormSettings
from shared.platform.errors import is_transient
from shared.platform.retry import retry_until_stopped, sleep_unless_stopped
from shared.platform.tracing import Tracing, span_context_of
from shared.platform.wake import Wakeup

logger = logging.getLogger(__name__)


class SmtpMailer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        smtp_server: str | smtp.SmtpServer,
        mail_from: str,
        *,
        batch_size: int,
        idle: float,
        wakeup: Wakeup | None = None,
        lease: timedelta = timedelta(seconds=15),
        first_retry: timedelta = timedelta(seconds=2),
        max_retry: timedelta = timedelta(minutes=30),
        retry_jitter: float = 0.5,
        max_per_second: float = 10.0,
        storm_defaults: StormSettings | None = None,
        renderer: Renderer | None = None,
        report_links: ReportLinks = NO_REPORT_LINKS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracing: Tracing | None = None,
    ) -> None:
        if isinstance(smtp_server, str):
            smtp_server = smtp.SmtpServer.from_url(smtp_server)
        self._server = smtp_server
        self._pool = pool
        self._mail_from = mail_from
        self._domain = smtp.sender_domain(mail_from)
        self._batch_size = batch_size
        self._idle = idle
        self._wakeup = wakeup
        self._lease = lease
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._jitter = retry_jitter
        # Up to a second's worth at once after a quiet spell, then evenly spaced.
        self._bucket = TokenBucket.full(max_per_second, max(1.0, max_per_second), _now())
        self._outage_pause = 0.0
        self._storm_defaults = storm_defaults or StormSettings()
        self._renderer = renderer or Renderer()
        self._report_links = report_links
        self._clock = clock
        self._tracing = tracing or Tracing()
        self.sent = 0
        self.parked = 0

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                count = await retry_until_stopped(
                    stop,
                    self.send_due,
                    what="mailer: sending due emails",
                    delay=self._idle,
                )
                if self._outage_pause > 0:
                    await sleep_unless_stopped(stop, self._outage_pause)
                elif count is not None and count < self._batch_size:
                    await self._sleep(stop)
        finally:
            if self._wakeup is not None:
                await self._wakeup.close()

    async def _sleep(self, stop: asyncio.Event) -> None:
        """Until notifications are written (or the wake-up's poll), else `idle` seconds."""
        if self._wakeup is None:
            await sleep_unless_stopped(stop, self._idle)
        else:
            await self._wakeup.sleep(stop)

    async def lag(self) -> dict[str, int]:
        """Emails due and not yet sent, and emails parked after a permanent failure."""
        counts = await store.notification_counts(self._pool)
        return {"due_notifications": counts.due, "failed_notifications": counts.failed}

    async def send_due(self) -> int:
        """Plan the digests due, compose the groups whose grace delay ran out, then lease a
        batch of due rows and send them one by one; returns how many were leased."""
        now, defaults, links = self._clock(), self._storm_defaults, self._report_links
        await digests.send_due_digests(self._pool, self._renderer, now, defaults, links=links)
        await composer.compose_due(
            self._pool, self._renderer, now, self._batch_size, defaults, links=links
        )
        due = await store.claim_due(self._pool, self._batch_size, self._lease)
        if not due:
            return 0
        async with self._leases_kept(due) as unfinished:
            for pending in due:
                failure = await self._traced_delivery(pending)
                await self._record(pending, failure)
                unfinished.remove(pending)
                if isinstance(failure, smtp.Transient) and failure.unreachable:
                    self._note_outage()
                    break  # the rest of the batch comes back when its lease runs out
                self._outage_pause = 0.0
        return len(due)

    def _note_outage(self) -> None:
        """The relay is down, or refuses this mailer's TLS or login: pause before the next pass,
        doubling up to the retry cap, so a backlog does not turn into a connection (or a failed
        login, which a relay may answer by locking the account) per pass."""
        first, cap = self._first_retry.total_seconds(), self._max_retry.total_seconds()
        self._outage_pause = min(max(self._outage_pause * 2, first), cap)

    async def _traced_delivery(self, pending: PendingEmail) -> smtp.SendFailure | None:
        """`deliver` in a span of its own, linked to the trace of the change's cause: sending
        happens minutes later (grace delay, retries), so it starts a trace, not a child."""
        cause = span_context_of(pending.traceparent)
        with self._tracing.span("send email", links=[cause] if cause else []) as span:
            failure = await self.deliver(pending)
            if span.is_recording():
                span.set_attribute("mail.outcome", type(failure).__name__ if failure else "sent")
            return failure

    async def deliver(self, pending: PendingEmail) -> smtp.SendFailure | None:
        """Send one leased row's email, always with the same Message-ID.

        A row that cannot become an email (a header that would hold a line break, say: data
        written before today's validation) is that row's permanent failure, never the mailer's.
        """
        identity = message_id(pending.tenant_id, pending.change_id, pending.email.to, self._domain)
        try:
            message = smtp.build_message(pending.email, self._mail_from, identity)
        except Exception as error:  # noqa: BLE001 - any failure to build is this row's alone
            return smtp.Permanent(f"could not build the email: {type(error).__name__}: {error}")
        await self._pace()
        try:
            return await smtp.send(self._server, message)
        except Exception as error:  # noqa: BLE001 - classified: transient waits, the rest parks
            reason = f"{type(error).__name__}: {error}"
            return smtp.Transient(reason) if is_transient(error) else smtp.Permanent(reason)

    async def _record(self, pending: PendingEmail, failure: smtp.SendFailure | None) -> None:
        if failure is None:
            # The server has the email: the mark must land, or the row is sent again when its
            # lease ends. Through a database outage the process keeps trying to record it.
            sent_at = datetime.now(UTC)
            await _through_outage(lambda: store.mark_sent(self._pool, pending, sent_at))
            self.sent += 1
        elif isinstance(failure, smtp.Permanent):
            logger.warning("email for tenant %s parked: %s", pending.tenant_id, failure.reason)
            await store.park(self._pool, pending, failure.reason, suppress=failure.recipient)
            self.parked += 1
        else:
            retry_in = self._retry_in(pending.send_attempts)
            logger.warning("email for tenant %s failed: %s", pending.tenant_id, failure.reason)
            await store.mark_for_retry(self._pool, pending, failure.reason, retry_in)

    def _retry_in(self, attempts: int) -> timedelta:
        draw = random.random()  # noqa: S311 - jitter, not a secret
        seconds = retry_delay(
            attempts,
            self._first_retry.total_seconds(),
            self._max_retry.total_seconds(),
            self._jitter,
            draw,
        )
        return timedelta(seconds=seconds)

    async def _pace(self) -> None:
        """Wait for a token: at most `max_per_second` emails a second (0: no limit)."""
        self._bucket, wait = self._bucket.take(_now())
        if wait > 0:
            await asyncio.sleep(wait)

    @contextlib.asynccontextmanager
    async def _leases_kept(self, due: Sequence[PendingEmail]) -> AsyncIterator[list[PendingEmail]]:
        """Renew the leases of the rows not yet finished, a few times per lease, until done."""
        unfinished = list(due)
        renewing = asyncio.create_task(self._renew(unfinished))
        try:
            yield unfinished
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _renew(self, unfinished: list[PendingEmail]) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            if not unfinished:
                continue
            try:
                await store.renew_leases(self._pool, list(unfinished), self._lease)
            except Exception as error:
                if not is_transient(error):
                    raise
                logger.warning("mailer: renewing leases failed, trying again: %s", error)


def _now() -> float:
    return time.monotonic()


# How long an accepted email's "sent" mark is retried through a database outage before the row is
# left to its lease (and sent again, with the same Message-ID, once the lease ends).
MARK_RETRY_SECONDS = 60.0


async def _through_outage(write: Callable[[], Awaitable[None]]) -> None:
    """Run `write`, retrying transient failures with growing pauses for up to a minute."""
    deadline, pause = asyncio.get_running_loop().time() + MARK_RETRY_SECONDS, 0.1
    while True:
        try:
            await write()
        except Exception as error:
            if not is_transient(error) or asyncio.get_running_loop().time() > deadline:
                raise
            logger.warning("mailer: recording a sent email failed, trying again: %s", error)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
        else:
            return
