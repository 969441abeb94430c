"""Family emails by sending state, read from the notifications table when Prometheus scrapes."""

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

# Every state a notification can be in (migrations 002, 011, 012, 013), reported even when 0.
STATUSES = ("pending", "sending", "sent", "failed", "held_for_digest", "suppressed", "coalesced")


async def notification_series(pool: asyncpg.Pool) -> list[Metric]:
    """Notifications by status; emails sent and failed (rows only ever enter those states), and
    emails deferred: waiting to be tried again after a transient SMTP failure."""
    rows = await pool.fetch(
        "SELECT status, count(*) AS n, "
        "count(*) FILTER (WHERE status = 'pending' AND send_attempts > 0) AS deferred "
        "FROM notifications GROUP BY status"
    )
    counts = dict.fromkeys(STATUSES, 0) | {row["status"]: row["n"] for row in rows}
    by_status = GaugeMetricFamily(
        "mastery_notifications", "Family notifications by sending state", labels=["status"]
    )
    for status, count in counts.items():
        by_status.add_metric([status], count)
    sent = CounterMetricFamily("mastery_emails_sent", "Emails the SMTP server accepted")
    sent.add_metric([], counts["sent"])
    failed = CounterMetricFamily(
        "mastery_emails_failed", "Emails the SMTP server refused for good (parked)"
    )
    failed.add_metric([], counts["failed"])
    deferred = GaugeMetricFamily(
        "mastery_emails_deferred",
        "Emails waiting to be tried again after a transient SMTP failure",
        value=sum(row["deferred"] for row in rows),
    )
    return [by_status, sent, failed, deferred]
