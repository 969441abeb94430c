from datetime import time
from typing import Literal

from services.notify.core.storms import QuietHours, StormSettings
from shared.platform.config import ServiceConfig

# Of UNSUBSCRIBE_SECRET and REPORT_LINK_SECRET: a shorter one is guessable.
MIN_SECRET_LENGTH = 32


class NotifyConfig(ServiceConfig, frozen=True, kw_only=True):
    smtp_url: str = "smtp://127.0.0.1:8025"
    mail_from: str = "Mastery Updates <updates@mastery.invalid>"
    notify_http_host: str = "127.0.0.1"
    notify_http_port: int = 8003
    mailer_batch_size: int = 50
    mailer_idle_interval: float = 0.1  # seconds between tries while PostgreSQL fails
    # Woken by NOTIFY when notifications are written; otherwise it looks every this many seconds
    # (for grace delays and retries that came due, and as a safety net).
    mailer_poll_interval: float = 1.0
    mailer_lease: float = 15.0  # seconds a row stays leased unless its send is still going on
    mailer_first_retry: float = 2.0  # seconds before a transient failure is retried, then doubled
    mailer_max_retry: float = 1800.0
    # Each retry waits its doubled delay less a random share of up to this fraction (0 to 1), so
    # emails that failed together (an SMTP outage) come back spread out.
    mailer_retry_jitter: float = 0.5
    # The relay: credentials here rather than in SMTP_URL keep the password out of a URL (these
    # win over the URL's own). Over smtp:// STARTTLS is used whenever the server offers it; with
    # SMTP_STARTTLS=required a server that does not is not sent to (smtps:// is TLS throughout).
    # The server's certificate is always verified: against the system's CAs, or SMTP_CA_FILE
    # (PEM) for a relay signed by the school's own CA.
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: Literal["opportunistic", "required"] = "opportunistic"
    smtp_ca_file: str = ""
    smtp_max_per_second: float = 10.0  # emails a second at most; 0 = no limit
    # One-click unsubscribe links (RFC 8058): tokens are HMAC-SHA256 under this secret (at least
    # 32 characters; `python -m services.notify` refuses to start without one). Links point at
    # NOTIFY_PUBLIC_URL, by default this service's own http://host:port.
    unsubscribe_secret: str = ""
    notify_public_url: str = ""
    # Each email links to the student's family report on the mastery service: a token sealed
    # under REPORT_LINK_SECRET (the mastery service's own; at least 32 characters; empty: emails
    # carry no such link), open for REPORT_LINK_DAYS, at MASTERY_PUBLIC_URL (required with a
    # secret: this service cannot guess where families reach the mastery service).
    report_link_secret: str = ""
    report_link_days: float = 30.0
    mastery_public_url: str = ""
    # For a tenant that never saved mail settings: its grace delay, and its quiet hours as
    # "HH:MM-HH:MM" local time (empty: none). A tenant's own settings win.
    mail_default_grace_seconds: float = 600.0
    mail_default_quiet_hours: str = "20:00-07:00"
    # Per key and second. Guardian lists and parked emails are read and changed rarely.
    rate_limit_requests: int = 50

    def public_url(self) -> str:
        base = self.notify_public_url or f"http://{self.notify_http_host}:{self.notify_http_port}"
        return base.rstrip("/")

    def report_link_problem(self) -> str | None:
        """Why these report link settings cannot make a link that opens; None: they can (or the
        secret is unset, and emails carry no link)."""
        if not self.report_link_secret:
            return None
        if len(self.report_link_secret) < MIN_SECRET_LENGTH:
            return f"REPORT_LINK_SECRET must be at least {MIN_SECRET_LENGTH} characters, or unset"
        if not self.mastery_public_url:
            return "REPORT_LINK_SECRET is set without MASTERY_PUBLIC_URL (where the report is)"
        if self.report_link_days <= 0:
            return "REPORT_LINK_DAYS must be positive"
        return None

    def storm_defaults(self) -> StormSettings:
        quiet = None
        if self.mail_default_quiet_hours:
            start, _, end = self.mail_default_quiet_hours.partition("-")
            quiet = QuietHours(start=time.fromisoformat(start), end=time.fromisoformat(end))
        return StormSettings(grace_seconds=self.mail_default_grace_seconds, quiet_hours=quiet)
