"""The family report links notify's emails carry: made when an email is composed, one per
student, in the guardian's language, sealed under the mastery service's REPORT_LINK_SECRET
(`shared/platform/report_links.py`), so the mastery service opens them and no table is needed.
An adapter rather than the core because it holds the secret; the core takes the made link."""

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

from services.notify.config import NotifyConfig
from services.notify.core.messages import FamilyReport, Guardian
from shared.contract.events.mastery import MasteryChanged
from shared.platform.report_links import LANGUAGE_TAG, report_link, url


class ReportLinks(msgspec.Struct, frozen=True, kw_only=True):
    secret: bytes = b""  # empty: emails carry no report link
    base_url: str = ""
    lifetime: timedelta = timedelta(days=30)

    def __repr__(self) -> str:
        return f"ReportLinks(url={self.base_url!r}, lifetime={self.lifetime})"

    @classmethod
    def from_config(cls, config: NotifyConfig) -> "ReportLinks":
        return cls(
            secret=config.report_link_secret.encode(),
            base_url=config.mastery_public_url,
            lifetime=timedelta(days=config.report_link_days),
        )

    def opening(self, now: datetime) -> "OpenFrom":
        return OpenFrom(links=self, now=now)

    def family_report(
        self, tenant_id: str, student_id: str, guardian_language: str, now: datetime
    ) -> FamilyReport | None:
        """The link to the student's report, open from `now` for the lifetime; None without a
        secret, or for ids no link can name (the email still goes, without the line)."""
        if not self.secret:
            return None
        try:
            link = report_link(
                tenant_id, student_id, primary_language(guardian_language), now, self.lifetime
            )
        except ValueError:
            return None
        return FamilyReport(url=url(self.secret, self.base_url, link), expires_at=link.expires_at)


class OpenFrom(msgspec.Struct, frozen=True, kw_only=True):
    """The links of one email, open from when it is composed."""

    links: ReportLinks
    now: datetime

    def of(self, guardian: Guardian) -> Callable[[MasteryChanged], FamilyReport | None]:
        """The report link of each change's student, in the guardian's language."""
        return lambda change: self.links.family_report(
            change.tenant_id, change.student_id, guardian.language, self.now
        )


def primary_language(tag: str) -> str:
    """The primary subtag of the guardian's language (es-MX: es), which the report reads; English
    for a tag that is not one."""
    primary = tag.split("-", 1)[0].lower()
    return primary if LANGUAGE_TAG.fullmatch(primary) else "en"


NO_REPORT_LINKS = ReportLinks()
