"""The change every family-email test renders: Noah masters fractions, in a school in New York."""

from datetime import UTC, datetime

from services.notify.core.messages import FamilyReport, Guardian, TenantSettings
from services.notify.core.storms import StormSettings
from shared.contract.events.mastery import MasteryChanged

# 23:30 UTC on 1 October is still 1 October in New York: the date shows the school's day.
ASSESSED = datetime(2026, 10, 1, 23, 30, tzinfo=UTC)

CHANGE = MasteryChanged(
    tenant_id="school",
    student_id="noah",
    standard_id="math.fractions",
    change_id="c1",
    previous_level=2,
    previous_mastered=False,
    level=3,
    level_label="Proficient",
    mastered=True,
    score=3.25,
    method="decaying_average",
    caused_by_attempt_id="quiz-2-noah",
    caused_by_event_id="e2",
    assessed_at=ASSESSED,
    changed_at=ASSESSED,
    standard_title="Add and subtract fractions",
    case_guid=None,
    previous_score=2.5,
    previous_level_label="Developing",
)
SETTINGS = TenantSettings(
    time_zone="America/New_York",
    portal_url_template="https://portal.example.org/students/{student_id}/standards/{standard_id}",
    reply_to="office@school.example.org",
)
STUDENT_NAME = "Noah Díaz"
UNSUBSCRIBE_URL = "https://notify.school.example.org/v1/unsubscribe/eyJ0ZXN0Ijp0cnVlfQ.c2lnbmVk"
# Noah's family report, open until 31 October in New York (23:30 UTC is 19:30 there).
REPORT = FamilyReport(
    url="https://mastery.school.example.org/v1/family-reports/WzEsImZhbWlseS1yZXBvcnQiXQ.c2lnbmVk",
    expires_at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
)


def guardian(language: str) -> Guardian:
    return Guardian(email="rosa@example.org", name="Rosa", language=language)


# A tenant without mail settings, in tests that expect each change emailed at once, at any hour.
NO_DELAY = StormSettings(grace_seconds=0, quiet_hours=None)
