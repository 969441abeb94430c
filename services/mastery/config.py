from datetime import timedelta

import msgspec

from shared.platform.config import OutboxServiceConfig

# Of REPORT_LINK_SECRET, when set: a shorter one is guessable.
MIN_SECRET_LENGTH = 32


class MasteryConfig(OutboxServiceConfig, frozen=True, kw_only=True):
    mastery_http_host: str = "127.0.0.1"
    mastery_http_port: int = 8002
    projector_batch_size: int = 200
    projector_max_deliver: int = 10
    projector_batches_in_flight: int = 2
    # How long a read with `min_position` waits for the read model to apply it before it answers
    # what it has, marked stale (seconds).
    read_wait_timeout: float = 2.0
    # Per key and second. Reads cost less than writes, and a dashboard asks for many at once.
    rate_limit_requests: int = 200
    # The family report (`/v1/family-reports/{token}`): links are HMAC-SHA256 under
    # REPORT_LINK_SECRET (at least 32 characters; empty: no link opens and none can be made),
    # open for REPORT_LINK_DAYS after they are made, and point at MASTERY_PUBLIC_URL (by default
    # this service's own http://host:port). Dates on the report are in REPORT_TIME_ZONE (IANA)
    # until the school's own zone is wired in.
    report_link_secret: str = ""
    report_link_days: float = 30.0
    mastery_public_url: str = ""
    report_time_zone: str = "UTC"

    def report_links(self) -> "ReportLinkSettings":
        return ReportLinkSettings(
            report_link_secret=self.report_link_secret,
            report_link_days=self.report_link_days,
            mastery_public_url=self.mastery_public_url
            or f"http://{self.mastery_http_host}:{self.mastery_http_port}",
        )


class ReportLinkSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What making a report link takes: no database (`mastery report link` reads only these)."""

    report_link_secret: str = ""
    report_link_days: float = 30.0
    mastery_public_url: str = "http://127.0.0.1:8002"

    def __repr__(self) -> str:
        return f"ReportLinkSettings(days={self.report_link_days}, url={self.mastery_public_url!r})"

    def lifetime(self) -> timedelta:
        return timedelta(days=self.report_link_days)
