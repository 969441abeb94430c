"""Family emails for Prometheus: what waits, from the database; what was sent or parked, from the
mailer that did it.

The waiting states (pending, sending, held for a digest) are read through their partial indexes
when Prometheus scrapes, so a scrape costs the backlog, not the history: the table keeps every
notification ever planned, and counting it all every 15 seconds would grow with it. Emails sent
and refused for good are counted by each mailer process as it records them (counters that start
at zero with the process, as Prometheus expects: `sum(increase(...))` over the instances).
"""

from collections.abc import Sequence
from typing import Protocol

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from shared.platform.metrics import Probe

# The states a notification waits in (migrations 002 and 013), reported even when 0. The others
# (sent, failed, suppressed, coalesced) are final.
WAITING = ("pending", "sending", "held_for_digest")


class MailerCounts(Protocol):
    sent: int
    parked: int


def notification_series(mailers: Sequence[MailerCounts]) -> Probe:
    """The probe; `mailers` is read at each scrape (the service's mailer joins it at start)."""

    async def series(pool: asyncpg.Pool) -> list[Metric]:
        # Each arm matches a partial index's predicate (notifications_due, notifications_held).
        rows = await pool.fetch(
            "SELECT status, count(*) AS n, count(*) FILTER (WHERE send_attempts > 0) AS retried "
            "FROM notifications WHERE status IN ('pending', 'sending') GROUP BY status "
            "UNION ALL SELECT 'held_for_digest', count(*), 0 FROM notifications "
            "WHERE status = 'held_for_digest'"
        )
        counts = dict.fromkeys(WAITING, 0) | {row["status"]: row["n"] for row in rows}
        waiting = GaugeMetricFamily(
            "mastery_notifications",
            "Family notifications waiting: to be sent, being sent, held for a digest",
            labels=["status"],
        )
        for status, count in counts.items():
            waiting.add_metric([status], count)
        deferred = GaugeMetricFamily(
            "mastery_emails_deferred",
            "Emails waiting to be tried again after a transient SMTP failure",
            value=sum(row["retried"] for row in rows if row["status"] == "pending"),
        )
        sent = CounterMetricFamily(
            "mastery_emails_sent", "Emails the SMTP server accepted (this process)"
        )
        sent.add_metric([], sum(mailer.sent for mailer in mailers))
        failed = CounterMetricFamily(
            "mastery_emails_failed",
            "Emails the SMTP server refused for good, parked (this process)",
        )
        failed.add_metric([], sum(mailer.parked for mailer in mailers))
        return [waiting, deferred, sent, failed]

    return series
