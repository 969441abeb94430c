"""`mastery report link`: a link the mastery service opens, made from the same settings; refused
without a secret or for an id the service would refuse."""

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from services.cli import _parser
from services.report_cli import report_command
from shared.platform.report_links import ReportLink, verify

SECRET = "report-cli-secret-of-the-unit-tests-0123456"
ENVIRON = {"REPORT_LINK_SECRET": SECRET, "MASTERY_PUBLIC_URL": "https://mastery.school.example"}


def _args(*argv: str) -> argparse.Namespace:
    return _parser().parse_args(["report", "link", *argv])


def test_the_printed_link_opens_the_students_report_in_the_language_until_it_expires(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = datetime.now(UTC)
    args = _args("--tenant", "school-1", "--student", "maya", "--language", "es")
    assert report_command(args, {**ENVIRON, "REPORT_LINK_DAYS": "7"}) == 0
    url = capsys.readouterr().out.strip()
    prefix = "https://mastery.school.example/v1/family-reports/"
    assert url.startswith(prefix)
    link = verify(SECRET.encode(), url.removeprefix(prefix), before)
    assert isinstance(link, ReportLink)
    assert (link.tenant_id, link.student_id, link.language) == ("school-1", "maya", "es")
    lifetime = link.expires_at - before
    assert timedelta(days=7) - timedelta(seconds=2) <= lifetime <= timedelta(days=7, seconds=2)


def test_days_on_the_command_line_win(capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    assert report_command(_args("--tenant", "s", "--student", "m", "--days", "1"), ENVIRON) == 0
    prefix = "https://mastery.school.example/v1/family-reports/"
    link = verify(SECRET.encode(), capsys.readouterr().out.strip().removeprefix(prefix), now)
    assert isinstance(link, ReportLink)
    assert link.expires_at - now <= timedelta(days=1, seconds=2)


@pytest.mark.parametrize(
    ("environ", "argv", "says"),
    [({}, ["--tenant", "s", "--student", "m"], "REPORT_LINK_SECRET must be set"),
     ({"REPORT_LINK_SECRET": "short"}, ["--tenant", "s", "--student", "m"], "at least 32"),
     (ENVIRON, ["--tenant", "S P", "--student", "m"], "not a tenant id"),
     (ENVIRON, ["--tenant", "s", "--student", "a/b"], "not a student id"),
     (ENVIRON, ["--tenant", "s", "--student", "m", "--language", "??"], "not a language")],
)  # fmt: skip
def test_no_link_without_a_secret_or_for_what_the_service_refuses(
    environ: dict[str, str], argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report_command(_args(*argv), environ) == 2
    output = capsys.readouterr()
    assert output.out == ""
    assert says in output.err
    assert SECRET not in output.err
