"""The family report as a page and as a PDF: the student's log read from the attempts service's
read contract, the facts worked out by the pure core (`core/family_report.py`), the words from
the service's templates and catalogs (`services/mastery/templates`, `locales`), a growth chart
per standard (`growth_chart.py`), and the same page printed by WeasyPrint.

Two ports the composition root wires: `StudentNames` (a student's display name; without one the
page shows the id) and `TimeZones` (the school's time zone, for the dates; without one, the
configured zone).
"""

import asyncio
from datetime import datetime
from pathlib import Path
from typing import NoReturn, Protocol
from zoneinfo import ZoneInfo

import asyncpg
import babel.dates
import weasyprint
from markupsafe import Markup

from services.mastery.adapters.growth_chart import ChartWords, growth_svg
from services.mastery.adapters.history import student_log
from services.mastery.core.calculation import FALLBACK_POLICY
from services.mastery.core.family_report import FamilyReport, StandardReport, family_report
from shared.platform.postgres import DbConnection
from shared.platform.rendering import LocalizedTemplates
from shared.platform.report_links import ReportLink
from shared.platform.tenant_scope import tenant_connection

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOCALES = Path(__file__).resolve().parent.parent / "locales"
# Languages with a complete catalog; any other reads the first.
LANGUAGES = ("en", "es")


class StudentNames(Protocol):
    async def name_of(
        self, connection: DbConnection, tenant_id: str, student_id: str
    ) -> str | None: ...


class TimeZones(Protocol):
    async def time_zone_of(self, tenant_id: str) -> str: ...


class OneTimeZone:
    """Every tenant in the one configured zone (an IANA name)."""

    def __init__(self, time_zone: str) -> None:
        ZoneInfo(time_zone)  # an unknown zone fails at startup, not on a family's click
        self._time_zone = time_zone

    async def time_zone_of(self, tenant_id: str) -> str:
        return self._time_zone


async def load_report(
    pool: asyncpg.Pool, link: ReportLink, names: StudentNames, now: datetime
) -> FamilyReport:
    """The report of the link's student, from the log: the one student the link was signed for."""
    async with tenant_connection(pool, link.tenant_id) as connection:
        log = await student_log(connection, link.tenant_id, link.student_id, None)
        name = await names.name_of(connection, link.tenant_id, link.student_id)
    return family_report(
        log,
        tenant_id=link.tenant_id,
        student_id=link.student_id,
        student_name=name,
        now=now,
        default=FALLBACK_POLICY,
    )


class ReportRenderer:
    def __init__(self, templates: Path = TEMPLATES, locales: Path = LOCALES) -> None:
        self._localized = LocalizedTemplates(templates, locales, LANGUAGES)

    def language_of(self, tag: str) -> str:
        return self._localized.language_of(tag)

    def page(
        self, report: FamilyReport, language: str, time_zone: str, *, link: ReportLink, pdf: str
    ) -> str:
        """The report's HTML in `language` (a BCP 47 tag), dates where the school is."""
        language = self.language_of(language)

        def chart(standard: StandardReport, *words: str) -> Markup:
            dates = [short_day(point.assessed_at, time_zone, language) for point in standard.growth]
            return Markup(growth_svg(standard, dates, ChartWords(*words)))  # noqa: S704 - pygal's SVG

        template = self._localized.environment(language).get_template("html/report.html")
        return template.render(
            report=report,
            chart=chart,
            language=language,
            time_zone=time_zone,
            expires_at=link.expires_at,
            pdf_url=pdf,
        )

    def refusal(self, state: str, language: str) -> str:
        """The page of a link that does not open: `state` is "invalid" or "expired"."""
        language = self.language_of(language)
        template = self._localized.environment(language).get_template("html/refused.html")
        return template.render(state=state, language=language)


def short_day(instant: datetime, time_zone: str, language: str) -> str:
    """A day on a chart's axis: "Oct 1" in English, "1 oct" in Spanish."""
    local = instant.astimezone(ZoneInfo(time_zone)).date()
    return babel.dates.format_skeleton("MMMd", local, locale=language)


def _no_fetching(url: str, timeout: int = 10, ssl_context: object = None) -> NoReturn:
    raise ValueError(f"the report loads nothing from outside the page: {url}")


async def pdf_of(html: str) -> bytes:
    """The page printed (A4 or Letter as the printer chooses: the page's CSS sets margins only).
    WeasyPrint works for a while on the CPU, so on a thread of its own; it fetches nothing."""

    def write() -> bytes:
        return weasyprint.HTML(string=html, url_fetcher=_no_fetching).write_pdf()  # type: ignore[no-any-return]

    return await asyncio.to_thread(write)
