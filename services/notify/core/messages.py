"""What a family reads when mastery changes. Pure: the change, the guardian, the student's name
and the tenant's settings in; the facts of one email out (`EmailFacts`), which the rendering
adapter turns into words in the guardian's language. Nothing here formats text for a reader."""

import uuid
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import msgspec

from services.notify.core.storms import StormSettings
from shared.contract.events.mastery import MasteryChanged, ReassessmentOutlook

_MESSAGE_NAMESPACE = uuid.UUID("0c8c7a52-5d0e-4d7b-9a44-2f4d8f7c1b36")
_key_encoder = msgspec.json.Encoder()

# Languages with a complete catalog; any other guardian language reads the first.
LANGUAGES = ("en", "es")
Delivery = Literal["immediate", "daily_digest", "weekly_digest", "off"]
DELIVERIES: tuple[Delivery, ...] = ("immediate", "daily_digest", "weekly_digest", "off")
Headline = Literal["mastered", "lost_mastery", "first_result", "moved_up", "moved_down"]


class Guardian(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    name: str = ""
    language: str = "en"  # a BCP 47 tag, as the guardian gave it
    delivery: Delivery = "immediate"


class TenantSettings(msgspec.Struct, frozen=True, kw_only=True):
    time_zone: str = "UTC"
    # With {student_id} and {standard_id}; empty: the email carries no link.
    portal_url_template: str = ""
    reply_to: str = ""
    # The grace delay, flap window, policy changes, quiet hours and digest times.
    storm: StormSettings = StormSettings()


class Email(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    subject: str
    body: str
    html: str = ""
    language: str = "en"
    reply_to: str = ""
    # When it was planned: the Date header, the same on every copy.
    date: datetime | None = None
    # The one-click link of the List-Unsubscribe header (RFC 8058); empty: no such header.
    unsubscribe_url: str = ""


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    level: float | None
    label: str | None
    score: float | None
    mastered: bool


class FamilyReport(msgspec.Struct, frozen=True, kw_only=True):
    """A signed link to the student's family report (made by an adapter) and when it stops
    opening."""

    url: str
    expires_at: datetime


class EmailFacts(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one email says, as values; the templates choose the words."""

    language: str
    time_zone: str
    guardian_name: str
    student: str
    standard: str
    headline: Headline
    before: Standing
    now: Standing
    reason: str
    method: str
    attempt_id: str
    assessed_at: datetime
    portal_url: str
    unsubscribe_url: str = ""
    # The student's family report, with the evidence behind every standard; empty: no link
    # (the service has no report link secret).
    report_url: str = ""
    report_expires_at: datetime | None = None
    # What the standard's reassessment rules leave open; None: the rules are not known.
    reassessment: ReassessmentOutlook | None = None

    @property
    def reassessments_left(self) -> int | None:
        """Reassessments the standard still allows; None: no limit, or the rules are not known."""
        rules = self.reassessment
        if rules is None or rules.max_reassessments is None:
            return None
        return max(rules.max_reassessments - rules.reassessments_used, 0)


def language_of(tag: str) -> str:
    """The catalog for a BCP 47 tag: its primary language when there is one (es-MX reads es)."""
    primary = tag.split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else LANGUAGES[0]


def _headline(change: MasteryChanged) -> Headline:
    if change.mastered and not change.previous_mastered:
        return "mastered"
    if change.previous_mastered and not change.mastered:
        return "lost_mastery"
    if change.previous_level is None:
        return "first_result"
    if change.level is not None and change.level > change.previous_level:
        return "moved_up"
    return "moved_down"


def portal_url(template: str, student_id: str, standard_id: str) -> str:
    """The tenant's link for this student and standard, ids percent-encoded into the path."""
    return template.replace("{student_id}", quote(student_id, safe="")).replace(
        "{standard_id}", quote(standard_id, safe="")
    )


def email_facts(
    change: MasteryChanged,
    guardian: Guardian,
    student_name: str,
    settings: TenantSettings,
    unsubscribe_url: str = "",
    *,
    report: FamilyReport | None = None,
) -> EmailFacts:
    return EmailFacts(
        language=language_of(guardian.language),
        time_zone=settings.time_zone,
        guardian_name=guardian.name,
        student=student_name or change.student_id,
        standard=change.standard_title or change.standard_id,
        headline=_headline(change),
        before=Standing(
            level=change.previous_level,
            label=change.previous_level_label,
            score=change.previous_score,
            mastered=change.previous_mastered,
        ),
        now=Standing(
            level=change.level,
            label=change.level_label,
            score=change.score,
            mastered=change.mastered,
        ),
        reason=change.reason,
        method=change.method,
        attempt_id=change.caused_by_attempt_id,
        assessed_at=change.assessed_at,
        portal_url=portal_url(settings.portal_url_template, change.student_id, change.standard_id)
        if settings.portal_url_template
        else "",
        unsubscribe_url=unsubscribe_url,
        report_url=report.url if report else "",
        report_expires_at=report.expires_at if report else None,
        reassessment=change.reassessment,
    )


def message_id(tenant_id: str, change_id: str, guardian_email: str, domain: str) -> str:
    """The email's Message-ID, the same every time it is sent: a copy sent again after a crash is
    the same message to every mail system that sees both."""
    name = _key_encoder.encode([tenant_id, change_id, guardian_email]).decode()
    return f"<{uuid.uuid5(_MESSAGE_NAMESPACE, name)}@{domain}>"
