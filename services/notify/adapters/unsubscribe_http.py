"""The one-click unsubscribe link of every family email (RFC 8058), served without an API key.

The signed token in the path is the only authority (`core/unsubscribe.py`), so these routes
declare no scope. A GET only shows a page with a button (mail scanners follow links; a GET must
change nothing); the POST, from that button or from a mail client's one-click with the body
`List-Unsubscribe=One-Click`, adds the address to the tenant's `unsubscribes`. A browser (Accept:
text/html) gets pages in the guardian's language; anything else gets 204, or problem+json.
A token that does not verify is refused before any database access, and changes nothing.
"""

from typing import Annotated, Any
from urllib.parse import parse_qs

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from services.notify.adapters.rendering import Renderer
from services.notify.core import unsubscribe
from shared.platform.http import Problem
from shared.platform.openapi import problem
from shared.platform.postgres import DbConnection
from shared.platform.tenant_scope import tenant_connection

ONE_CLICK = "One-Click"
Token = Annotated[
    str,
    Parameter(
        max_length=unsubscribe.MAX_TOKEN_LENGTH,
        description="The signed token of one guardian's unsubscribe link.",
    ),
]
# The page's URL holds the token: it must not leave in a Referer, nor sit in a shared cache.
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


async def unsubscribe_address(connection: DbConnection, tenant_id: str, address: str) -> None:
    await connection.execute(
        "INSERT INTO unsubscribes (tenant_id, address) VALUES ($1, lower($2)) "
        "ON CONFLICT DO NOTHING",
        tenant_id,
        address,
    )


async def language_of_address(connection: DbConnection, tenant_id: str, address: str) -> str:
    """The language the address's guardian gave (any of its students' rows), else English."""
    language = await connection.fetchval(
        "SELECT language FROM guardians WHERE tenant_id = $1 AND lower(email) = lower($2) "
        "ORDER BY student_id LIMIT 1",
        tenant_id,
        address,
    )
    return str(language) if language else "en"


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _browser_language(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("accept-language", "en").split(",", 1)[0].strip() or "en"


_REFUSALS = {
    404: problem("The link was changed or not made by this service (a page for a browser)"),
    503: problem("PostgreSQL is unreachable; retry after `Retry-After` seconds"),
}


def unsubscribe_router(secret: bytes, renderer: Renderer) -> Router:
    """The public routes, bound to the service's secret and its renderer."""

    def page(state: str, language: str, status: int, **values: object) -> Response[str]:
        html = renderer.page("unsubscribe.html", language, state=state, **values)
        return Response(html, status_code=status, media_type="text/html", headers=PAGE_HEADERS)

    def refused(request: Request[Any, Any, Any]) -> Response[str]:
        if _wants_html(request):
            return page("invalid", _browser_language(request), 404)
        raise Problem(
            404,
            "unsubscribe-link-invalid",
            "This unsubscribe link is not valid",
            "The link was changed or was not made by this service; nothing was changed.",
        )

    @get(
        "/{token:str}",
        summary="The page of a one-click unsubscribe link (changes nothing)",
        responses=_REFUSALS,
    )
    async def show(request: Request[Any, Any, Any], token: Token, state: State) -> Response[str]:
        named = unsubscribe.verify(secret, token)
        if named is None:
            return refused(request)
        async with tenant_connection(state.pool, named.tenant_id) as connection:
            language = await language_of_address(connection, named.tenant_id, named.address)
        return page("confirm", language, 200, address=named.address, action=request.url.path)

    @post(
        "/{token:str}",
        summary="Unsubscribe (RFC 8058 one-click: body List-Unsubscribe=One-Click)",
        description="204 for a mail client's one-click POST; a page for a browser.",
        status_code=200,
        responses={**_REFUSALS, 400: problem("The body is not `List-Unsubscribe=One-Click`")},
    )
    async def confirm(request: Request[Any, Any, Any], token: Token, state: State) -> Response[Any]:
        named = unsubscribe.verify(secret, token)
        if named is None:
            return refused(request)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if form.get("List-Unsubscribe") != [ONE_CLICK]:
            raise Problem(
                400,
                "not-one-click",
                "Not a one-click unsubscribe",
                "POST the form body `List-Unsubscribe=One-Click` (RFC 8058).",
            )
        async with tenant_connection(state.pool, named.tenant_id) as connection:
            await unsubscribe_address(connection, named.tenant_id, named.address)
            language = await language_of_address(connection, named.tenant_id, named.address)
        if _wants_html(request):
            return page("done", language, 200, address=named.address)
        return Response(None, status_code=204, headers=PAGE_HEADERS)

    return Router(path="/v1/unsubscribe", route_handlers=[show, confirm], tags=["unsubscribe"])
