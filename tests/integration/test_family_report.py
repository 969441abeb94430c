"""The family report from its signed link, over HTTP, from the real attempts log: the page against
hand-computed levels, evidence and dates (tests/support/family_report.py) in English and Spanish,
its growth chart's points, the PDF of it, and every link that must not open."""

import base64
import html
import re
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt, Refuse
from shared.platform.bus import BusNames
from shared.platform.report_links import ReportLink, report_link, sign
from tests.support.family_report import FRACTIONS, SECRET, report_app, seeded_school
from tests.support.oneroster_sample import sample_files, zipped
from tests.support.servers import Servers
from tests.support.tenants import new_key

BROWSER = {"accept": "text/html,application/xhtml+xml", "accept-language": "es-MX,es;q=0.9"}
# 12:00 UTC is 06:00 in Chicago, the same day.
EXPIRES = datetime(2030, 1, 15, 12, tzinfo=UTC)

EXPECTED: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Progress report: Maya López",
        "status": ["Proficient (level 3) Mastered", "Beginning (level 1) Not yet mastered"],
        "can": [
            ["Beginning (level 1)", "Developing (level 2)", "Proficient (level 3) mastery"],
            ["Beginning (level 1)"],
        ],
        "not_yet": [
            ["Advanced (level 4)"],
            ["Developing (level 2)", "Proficient (level 3) mastery", "Advanced (level 4)"],
        ],
        "rows": [
            [
                ("Oct 6, 2026", "q4", "4 of 4 points → 4", "Yes"),
                ("Oct 3, 2026", "q5", "1 of 4 points → 1", "No: voided by the teacher"),
                ("Sep 30, 2026", "q3", "3 of 4 points → 3", "Yes"),
                ("Sep 22, 2026", "q2", "–", "No: missing, never counted as a zero"),
                ("Sep 15, 2026", "q1", "2 of 4 points → 2", "Yes"),
            ],
            [("Oct 2, 2026", "r1", "1 of 4 points → 1", "Yes")],
        ],
        "rule": "How the result is worked out: every assessment counts the same.",
        "axis": ["Sep 15", "Sep 30", "Oct 6"],
        "footer": "This report is for Maya López's family. Its link works until January 15, 2030.",
    },
    "es": {
        "title": "Informe de progreso: Maya López",
        "status": ["Proficient (nivel 3) Dominado", "Beginning (nivel 1) Todavía no dominado"],
        "can": [
            ["Beginning (nivel 1)", "Developing (nivel 2)", "Proficient (nivel 3) dominio"],
            ["Beginning (nivel 1)"],
        ],
        "not_yet": [
            ["Advanced (nivel 4)"],
            ["Developing (nivel 2)", "Proficient (nivel 3) dominio", "Advanced (nivel 4)"],
        ],
        "rows": [
            [
                ("6 oct 2026", "q4", "4 de 4 puntos → 4", "Sí"),
                ("3 oct 2026", "q5", "1 de 4 puntos → 1", "No: anulada por el docente"),
                ("30 sept 2026", "q3", "3 de 4 puntos → 3", "Sí"),
                ("22 sept 2026", "q2", "–", "No: no entregada, nunca cuenta como cero"),
                ("15 sept 2026", "q1", "2 de 4 puntos → 2", "Sí"),
            ],
            [("2 oct 2026", "r1", "1 de 4 puntos → 1", "Sí")],
        ],
        "rule": "Cómo se calcula el resultado: todas las evaluaciones cuentan lo mismo.",
        "axis": ["15 sept", "30 sept", "6 oct"],
        "footer": "Este informe es para la familia de Maya López. "
        "Su enlace funciona hasta el 15 de enero de 2030.",
    },
}


def _token(tenant: str, student: str = "maya", language: str = "en") -> str:
    link = ReportLink(tenant_id=tenant, student_id=student, language=language, expires_at=EXPIRES)
    return sign(SECRET.encode(), link)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _items(section: str) -> list[str]:
    return [_text(item) for item in re.findall(r"<li[^>]*>(.*?)</li>", section, re.S)]


def _one(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.S)
    assert found is not None, pattern
    return found.group(1)


def _articles(page: str) -> list[str]:
    return re.findall(r'<article class="standard[^"]*"[^>]*>(.*?)</article>', page, re.S)


def _rows(article: str) -> list[tuple[str, ...]]:
    rows = re.findall(r"<tr class=\"(?:not-)?counted\">(.*?)</tr>", article, re.S)
    return [tuple(_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", r)) for r in rows]


@pytest.fixture
async def school(pool: asyncpg.Pool, bus: BusNames) -> str:
    return await seeded_school(pool, bus)


@pytest.fixture
async def mastery(
    database_url: str, servers: Servers, bus: BusNames
) -> Any:  # an AsyncTestClient serving the mastery app
    async with report_app(database_url, servers, bus) as client:
        yield client


@pytest.mark.parametrize("language", ["en", "es"])
async def test_the_report_says_what_the_student_can_do_and_not_yet_with_the_evidence(
    school: str, mastery: AsyncTestClient[Any], language: str
) -> None:
    answer = await mastery.get(f"/v1/family-reports/{_token(school, language=language)}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    page, expected = answer.text, EXPECTED[language]
    assert f'<html lang="{language}">' in page
    assert _text(_one(r"<h1>(.*?)</h1>", page)) == expected["title"]
    articles = _articles(page)
    assert [_text(_one(r"<h2>(.*?)</h2>", a)) for a in articles] == [
        "Add and subtract fractions",
        "Find the main idea",
    ]
    assert [_text(_one(r'<p class="status">(.*?)</p>', a)) for a in articles] == expected["status"]
    assert [_items(_one(r'<div class="reached">(.*?)</div>', a)) for a in articles] == expected[
        "can"
    ]
    assert [_items(_one(r'<div class="next">(.*?)</div>', a)) for a in articles] == expected[
        "not_yet"
    ]
    assert [_rows(a) for a in articles] == expected["rows"]
    assert _text(_one(r'<p class="rule">(.*?)</p>', articles[0])) == expected["rule"]
    assert _text(_one(r"<footer>(.*?)</footer>", page)) == expected["footer"]
    assert "<script" not in page


@pytest.mark.parametrize("language", ["en", "es"])
async def test_each_standard_has_a_growth_chart_of_its_assessments_and_results(
    school: str, mastery: AsyncTestClient[Any], language: str
) -> None:
    answer = await mastery.get(f"/v1/family-reports/{_token(school, language=language)}")
    fractions, main_idea = (_one(r"(<svg.*?</svg>)", a) for a in _articles(answer.text))
    # Each assessment on the scale (2, 3, 4; the voided q5 is no point), then the average after
    # each: 2, (2+3)/2, (2+3+4)/3.
    assert re.findall(r'<desc class="value">([^<]*)</desc>', fractions) == [
        "2", "3", "4", "2", "2.5", "3",
    ]  # fmt: skip
    labels = re.findall(r'<desc class="x_label">([^<]*)</desc>', fractions)
    assert labels == EXPECTED[language]["axis"] * 2
    assert re.findall(r'<desc class="value">([^<]*)</desc>', main_idea) == ["1", "1"]
    assert "<script" not in fractions
    assert 'role="img"' in fractions


def _pdf_pages(pdf: bytes) -> int:
    """The page objects of a PDF, also inside compressed object streams."""
    texts = [pdf]
    for start in (m.end() for m in re.finditer(rb"stream\r?\n", pdf)):
        try:
            texts.append(
                zlib.decompressobj().decompress(pdf[start : pdf.find(b"endstream", start)])
            )
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", text)) for text in texts)


async def test_the_pdf_is_the_report_printed(school: str, mastery: AsyncTestClient[Any]) -> None:
    page = await mastery.get(f"/v1/family-reports/{_token(school)}")
    pdf_path = _one(r'<a class="button" href="([^"]+)"', page.text)
    assert pdf_path == f"/v1/family-reports/{_token(school)}/pdf"
    answer = await mastery.get(pdf_path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    assert len(answer.content) > 10_000
    assert _pdf_pages(answer.content) == 2


def _forged(token: str, student: str) -> str:
    """The token's MAC over another student's payload."""
    payload, mac = token.split(".")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    changed = decoded.replace(b'"maya"', f'"{student}"'.encode())
    return base64.urlsafe_b64encode(changed).rstrip(b"=").decode() + "." + mac


async def test_an_altered_forged_or_foreign_link_opens_nothing(
    school: str, mastery: AsyncTestClient[Any]
) -> None:
    token = _token(school)
    payload, mac = token.split(".")
    flipped = mac[:5] + ("A" if mac[5] != "A" else "B") + mac[6:]
    foreign = sign(b"another-secret-of-at-least-32-characters!", report_link(
        school, "maya", "en", datetime.now(UTC), timedelta(days=1)
    ))  # fmt: skip
    for bad in [f"{payload}.{flipped}", _forged(token, "noah"), foreign, payload, "x.y"]:
        for path in (f"/v1/family-reports/{bad}", f"/v1/family-reports/{bad}/pdf"):
            answer = await mastery.get(path)
            assert answer.status_code == 404, (bad, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["type"].endswith("/report-link-invalid")
        page = await mastery.get(f"/v1/family-reports/{bad}", headers=BROWSER)
        assert page.status_code == 404
        assert "Este enlace no es válido" in page.text  # the browser's language
        assert "q1" not in page.text


async def test_an_expired_link_says_so_in_the_familys_language(
    school: str, mastery: AsyncTestClient[Any]
) -> None:
    past = ReportLink(
        tenant_id=school,
        student_id="maya",
        language="es",
        expires_at=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1),
    )
    token = sign(SECRET.encode(), past)
    answer = await mastery.get(f"/v1/family-reports/{token}/pdf")
    assert answer.status_code == 410
    assert answer.json()["type"].endswith("/report-link-expired")
    page = await mastery.get(
        f"/v1/family-reports/{token}", headers={**BROWSER, "accept-language": "en"}
    )
    assert page.status_code == 410
    assert "Este enlace ha caducado" in page.text
    assert "Maya" not in page.text


async def test_a_students_link_shows_that_student_of_that_school_only(
    school: str, pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    other = await seeded_school(pool, bus)
    command = RecordAttempt(
        tenant_id=other, attempt_id="elsewhere-1", student_id="maya", standard_id=FRACTIONS,
        score=1, points_possible=4, assessed_at=datetime(2026, 10, 9, 15, tzinfo=UTC),
    )  # fmt: skip
    assert not isinstance(
        await AttemptRecorder(pool, bus).record(command, now=datetime.now(UTC)), Refuse
    )
    maya = (await mastery.get(f"/v1/family-reports/{_token(school)}")).text
    assert "q-noah" not in maya
    assert "Noah" not in maya
    assert "elsewhere-1" not in maya
    noah = (await mastery.get(f"/v1/family-reports/{_token(school, 'noah')}")).text
    assert "Progress report: Noah Kim" in noah
    assert [_rows(a) for a in _articles(noah)] == [
        [("Oct 2, 2026", "q-noah", "4 of 4 points → 4", "Yes")]
    ]
    assert "elsewhere-1" in (await mastery.get(f"/v1/family-reports/{_token(other)}")).text


async def test_a_language_without_a_catalog_reads_english(
    school: str, mastery: AsyncTestClient[Any]
) -> None:
    french = (await mastery.get(f"/v1/family-reports/{_token(school, language='fr-CA')}")).text
    assert '<html lang="en">' in french
    assert "Progress report: Maya López" in french
    mexican = (await mastery.get(f"/v1/family-reports/{_token(school, language='es-MX')}")).text
    assert "Informe de progreso: Maya López" in mexican


async def test_the_report_names_the_student_as_the_roster_does(
    school: str, pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    admin = (await new_key(pool, school, "admin"))[1]
    roster = {
        name: data.replace(b"student-0000", b"maya")
        for name, data in sample_files(classes=1, students=1).items()
    }
    async with report_app(database_url, servers, bus, roster_names=True) as client:
        unnamed = await client.get(f"/v1/family-reports/{_token(school)}")
        imported = await client.post(
            "/v1/rosters/oneroster",
            content=zipped(roster),
            headers={**admin, "Content-Type": "application/zip"},
        )
        assert imported.status_code in {200, 201}, imported.text
        named = await client.get(f"/v1/family-reports/{_token(school)}")
    assert "Given0 Family0" not in unnamed.text
    assert "maya" in _text(_one(r"<h1>(.*?)</h1>", unnamed.text))
    assert "Given0 Family0" in _text(_one(r"<h1>(.*?)</h1>", named.text))
