"""A page per problem type, served where its `type` URI points (`/problems/<slug>`).

Every problem a service answers has `"type": "/problems/<slug>"` (RFC 9457 section 3.1.1: a URI
reference that, dereferenced, documents the problem for humans). `PROBLEM_TYPES` says what each
slug means and what a client does about it; the catch-all HTTP errors (`_http_handler` names them
after their status phrase, `method-not-allowed`, `request-entity-too-large`, ...) get a page from
the status itself. tests/contract/test_problem_types.py checks that every slug in the code has one.
"""

from html import escape
from http import HTTPStatus

from litestar import Response, get

from shared.platform.http import PROBLEM_TYPE_BASE, PathId, Problem
from shared.platform.openapi import problem

PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "validation-error": (
        "The request is not valid",
        "A field of the body, or a path or query parameter, is missing, unknown, of the wrong "
        "type or out of bounds. `errors` lists each invalid field with what is wrong with it; "
        "fix them all and send the request again.",
    ),
    "malformed-request": (
        "Malformed request",
        "The body is not JSON, or a parameter could not be read at all. Send JSON.",
    ),
    "body-too-deep": (
        "The body is nested too deeply",
        "The JSON body nests arrays or objects deeper than any request of the API.",
    ),
    "unsupported-media-type": (
        "Unsupported media type",
        "The body's `Content-Type` is not JSON. Send it as `application/json`.",
    ),
    "insufficient-scope": (
        "The API key's scope does not allow this",
        "`required_scope` names the scope the operation needs and `key_scope` the key's. "
        "Use a key created with that scope (`mastery keys create`).",
    ),
    "rate-limited": (
        "Too many requests",
        "The API key has spent its request budget; `Retry-After` says how many seconds until "
        "the next request is admitted.",
    ),
    "service-unavailable": (
        "Service unavailable",
        "The service cannot reach PostgreSQL right now. The request may succeed unchanged after "
        "`Retry-After` seconds.",
    ),
    "not-ready": (
        "Not ready",
        "PostgreSQL does not answer or a background worker is down; `workers` shows each one.",
    ),
    "internal-error": (
        "Internal error",
        "The server failed to handle the request; it was logged. Nothing the client sent is "
        "known to be at fault.",
    ),
    "stream-contended": (
        "Too many concurrent writes",
        "Concurrent writers kept taking the next version of the same stream. Retry.",
    ),
    "attempt-id-conflict": (
        "Attempt id already used",
        "The attempt_id was recorded before with another body. Posting the same body again is "
        "safe; a different attempt needs a new id.",
    ),
    "attempt-voided": (
        "Attempt already voided",
        "The attempt was voided; it cannot be voided or rescored again.",
    ),
    "reassessment-limit-reached": (
        "No reassessments left",
        "The standard's `max_reassessments` is used up (`rule`); `remedy` says what would let "
        "the attempt through.",
    ),
    "corrective-work-required": (
        "Corrective work comes first",
        "The standard requires corrective work before a reassessment (`rule`); record it with "
        "the URI in `remedy`, then post the attempt again.",
    ),
    "method-in-use": (
        "A standard uses a method this allow-list removes",
        "Change those standards' method first, or keep their method allowed.",
    ),
    "not-found": ("Not found", "Nothing with this id exists in the tenant of the API key."),
    "unknown-standard": (
        "No such standard",
        "No standard with this id in the tenant. Define it with `PUT /v1/standards/{id}`.",
    ),
    "no-policy": (
        "No tenant policy",
        "No default policy is set: standards without a method use `latest`. "
        "Set one with `PUT /v1/policy`.",
    ),
    "invalid-cursor": (
        "Invalid cursor",
        "The cursor was not issued by this service, or was changed. Start again without one.",
    ),
    "invalid-policy": (
        "The calculation policy is not valid",
        "The method's parameter or the proposed policy is refused; `errors` names the field.",
    ),
    "scores-out-of-range": (
        "The scores are out of range",
        "A score lies outside the scale given; `errors` names the field.",
    ),
    "suppression-not-found": ("Not suppressed", "That address is not suppressed."),
    "unsubscribe-link-invalid": (
        "This unsubscribe link is not valid",
        "The link was changed or was not made by this service; nothing was changed.",
    ),
    "not-one-click": (
        "Not a one-click unsubscribe",
        "POST the form body `List-Unsubscribe=One-Click` (RFC 8058).",
    ),
    "invalid-roster": (
        "The roster was not imported",
        "A file of the OneRoster zip is missing, unreadable or has bad lines; `errors` names each "
        "one (file, line, field, why). Nothing was imported: fix them all and send the zip again.",
    ),
    "report-link-invalid": (
        "This report link is not valid",
        "The link was changed, cut short or not made by this service; ask the school for a new "
        "one.",
    ),
    "report-link-expired": (
        "This report link has expired",
        "Report links work for a limited time (`REPORT_LINK_DAYS`); ask the school for a new one.",
    ),
}

_BY_PHRASE = {
    status.phrase.lower().replace(" ", "-"): status for status in HTTPStatus if status >= 400
}


def problem_page(slug: str) -> tuple[str, str] | None:
    """The title and explanation of a problem type, or None if there is no such type."""
    if slug in PROBLEM_TYPES:
        return PROBLEM_TYPES[slug]
    status = _BY_PHRASE.get(slug)
    return None if status is None else (status.phrase, status.description + ".")


@get(
    PROBLEM_TYPE_BASE + "{slug:str}",
    tags=["problems"],
    summary="What a problem type means",
    description="The page a problem's `type` URI points to.",
    media_type="text/html",
    responses={404: problem("No such problem type")},
    sync_to_thread=False,
)
def problem_type(slug: PathId) -> Response[str]:
    page = problem_page(slug)
    if page is None:
        raise Problem(404, "not-found", "Not found", f"no problem type {slug!r}")
    title, text = page
    html = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
        f"<h1>{escape(title)}</h1><p><code>type: {PROBLEM_TYPE_BASE}{escape(slug)}</code>"
        f"<p>{escape(text)}</html>"
    )
    return Response(html, media_type="text/html")
