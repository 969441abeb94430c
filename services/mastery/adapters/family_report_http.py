"""The family report, served without an API key: the signed link is the authority.

`GET /v1/family-reports/{token}` is the page, `GET /v1/family-reports/{token}/pdf` the same page
as a PDF. The token (`core/report_links.py`) names the tenant, the student, the family's language
and when it expires; only that student's streams are read, on a connection that sees only that
tenant's rows. A token that does not verify is refused before any database access: 404 (altered,
cut short, or not made by this service) or 410 (genuine but expired), as a page in the family's
language for a browser and as problem+json otherwise.
"""

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.params import Parameter

from services.mastery.adapters.family_report import (
    ReportRenderer,
    StudentNames,
    TimeZones,
    load_report,
    pdf_of,
)
from shared.platform import report_links
from shared.platform.http import Problem
from shared.platform.openapi import problem
from shared.platform.report_links import Expired, ReportLink

Token = Annotated[
    str,
    Parameter(
        max_length=report_links.MAX_TOKEN_LENGTH,
        description="The signed token of one student's report link.",
    ),
]
# The URL holds the token: it must not leave in a Referer, nor sit in a shared cache; the page
# runs no script and loads nothing from elsewhere.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


# A browser is shown a page in the family's language; any other client this problem.
_REFUSALS = {
    404: problem("The link was changed, cut short or not made by this service"),
    410: problem("The link has expired"),
}


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _browser_language(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("accept-language", "en").split(",", 1)[0].strip() or "en"


def family_report_router(
    secret: bytes, renderer: ReportRenderer, names: StudentNames, time_zones: TimeZones
) -> Router:
    """The public routes, bound to the service's secret, renderer and ports."""
    # A PDF takes WeasyPrint about a second of CPU: one at a time per process, so that a few
    # families printing at once cannot starve the projector and the read API.
    printing = asyncio.Semaphore(1)

    def opened(request: Request[Any, Any, Any], token: str) -> ReportLink:
        verified = report_links.verify(secret, token, datetime.now(UTC))
        if isinstance(verified, ReportLink):
            return verified
        if isinstance(verified, Expired):
            raise _refusal(request, 410, "expired", verified.link.language)
        raise _refusal(request, 404, "invalid", _browser_language(request))

    def _refusal(
        request: Request[Any, Any, Any], status: int, state: str, language: str
    ) -> Problem | _PageRefusal:
        if _wants_html(request):
            return _PageRefusal(status, renderer.refusal(state, language))
        if state == "expired":
            return Problem(
                410, "report-link-expired", "This report link has expired",
                "Report links work for a limited time; ask the school for a new one.",
            )  # fmt: skip
        return Problem(
            404, "report-link-invalid", "This report link is not valid",
            "The link was changed, cut short or not made by this service.",
        )  # fmt: skip

    async def html_of(request: Request[Any, Any, Any], token: str, state: State) -> str:
        link = opened(request, token)
        report = await load_report(state.pool, link, names, datetime.now(UTC))
        time_zone = await time_zones.time_zone_of(link.tenant_id)
        pdf = f"{request.url.path.rstrip('/')}/pdf"
        return renderer.page(report, link.language, time_zone, link=link, pdf=pdf)

    @get(
        "/{token:str}",
        summary="A student's family report (HTML), opened by its signed link",
        responses=_REFUSALS,
    )
    async def page(request: Request[Any, Any, Any], token: Token, state: State) -> Response[str]:
        try:
            html = await html_of(request, token, state)
        except _PageRefusal as refused:
            return refused.response()
        return Response(html, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    @get("/{token:str}/pdf", summary="The same family report as a PDF", responses=_REFUSALS)
    async def pdf(request: Request[Any, Any, Any], token: Token, state: State) -> Response[Any]:
        try:
            html = await html_of(request, token, state)
        except _PageRefusal as refused:
            return refused.response()
        headers = {**PAGE_HEADERS, "Content-Disposition": 'inline; filename="report.pdf"'}
        async with printing:
            printed = await pdf_of(html)
        return Response(printed, media_type="application/pdf", headers=headers)

    return Router(path="/v1/family-reports", route_handlers=[page, pdf], tags=["family report"])


class _PageRefusal(Exception):
    """A refused link, for a browser: the page to show instead."""

    def __init__(self, status: int, html: str) -> None:
        super().__init__(status)
        self.status = status
        self.html = html

    def response(self) -> Response[str]:
        return Response(
            self.html,
            status_code=self.status,
            media_type="text/html; charset=utf-8",
            headers=PAGE_HEADERS,
        )
