"""The report links notify makes: sealed as the mastery service opens them, for the student, in
the primary language of the guardian's tag, open for the configured days; none without a secret."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notify.adapters.report_links import NO_REPORT_LINKS, ReportLinks, primary_language
from services.notify.config import NotifyConfig
from shared.platform.report_links import ReportLink, verify

SECRET = "report-link-secret-for-notify-0123456789"
NOW = datetime(2026, 10, 1, 12, 0, 0, 500_000, tzinfo=UTC)


def test_a_link_opens_the_students_report_in_the_guardians_primary_language() -> None:
    config = NotifyConfig(
        database_url="postgresql://db",
        report_link_secret=SECRET,
        report_link_days=7,
        mastery_public_url="https://mastery.example/",
    )
    report = ReportLinks.from_config(config).family_report("school", "maya", "es-MX", NOW)
    assert report is not None
    base, _, token = report.url.rpartition("/")
    assert base == "https://mastery.example/v1/family-reports"
    expires = datetime(2026, 10, 8, 12, tzinfo=UTC)
    assert report.expires_at == expires
    assert verify(SECRET.encode(), token, NOW) == ReportLink(
        tenant_id="school", student_id="maya", language="es", expires_at=expires
    )
    assert verify(b"another-secret-of-at-least-32-characters", token, NOW) is None
    assert SECRET not in repr(ReportLinks.from_config(config))


def test_an_id_no_link_can_name_gets_no_link_rather_than_no_email() -> None:
    links = ReportLinks(secret=SECRET.encode(), base_url="https://m")
    assert links.family_report("school", "", "en", NOW) is None
    assert links.family_report("school", "maya", "en", NOW) is not None


def test_without_a_secret_there_is_no_link() -> None:
    assert NO_REPORT_LINKS.family_report("school", "maya", "en", NOW) is None
    unset = ReportLinks.from_config(NotifyConfig(database_url="postgresql://db"))
    assert unset.family_report("school", "maya", "en", NOW) is None


@pytest.mark.parametrize(
    ("tag", "primary"),
    [("es-MX", "es"), ("EN", "en"), ("zh-Hant-TW", "zh"), ("", "en"), ("1", "en")],
)
def test_the_report_reads_the_primary_language_of_the_guardians_tag(tag: str, primary: str) -> None:
    assert primary_language(tag) == primary


def test_the_lifetime_is_the_configured_days() -> None:
    links = ReportLinks(secret=SECRET.encode(), base_url="https://m", lifetime=timedelta(days=30))
    report = links.family_report("school", "maya", "en", NOW)
    assert report is not None
    assert report.expires_at - NOW == timedelta(days=30, microseconds=-500_000)
