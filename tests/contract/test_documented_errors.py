"""Every status a route can answer is in its service's OpenAPI document, as a problem.

The walk takes every route of the three apps (and so any route added later) and derives, from
what the route declares, the statuses the platform answers on it:

- a scope (`opt=requires(...)`): 401, 403 and 503 (its key is looked up in PostgreSQL);
- a path outside `/health/` and `/schema`: 429 (the per-key rate limit);
- a JSON body (`data`): 400, 413, 415 and 422;
- a path parameter: 400 and 422.

What only a handler knows (a 404 for a lookup, a 409 for a conflict) is in `HANDLER_STATUSES`,
found by reading each handler; the schemathesis run (tests/fuzz) checks those against the wire.
Each documented status of 400 or more must be `application/problem+json` with the one
`ProblemDetails` schema.
"""

from typing import Any

import pytest
from litestar import Litestar, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from litestar.routes import HTTPRoute

from shared.platform.auth import SCOPE_OPT, requires
from shared.platform.http import PathId
from shared.platform.openapi import document_problems
from tests.unit.test_route_scopes import APPS

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
STUDENT = "/v1/students/{student_id}"
HANDLER_STATUSES: dict[str, set[int]] = {
    "GET /health/ready": {503},
    "GET /problems/{slug}": {404},
    "POST /v1/attempts": {409},
    "POST /v1/attempts/{attempt_id}/void": {404, 409},
    "POST /v1/attempts/{attempt_id}/rescore": {404, 409},
    f"POST {STUDENT}/standards/{{standard_id}}/corrective-work": {404},
    "GET /v1/standards/{standard_id}": {404},
    "GET /v1/policy": {404},
    "PUT /v1/policy": {409},
    f"GET {STUDENT}/standards/{{standard_id}}/history": {404},
    "POST /v1/standards/{standard_id}/policy-preview": {404},
    "GET /v1/mastery": {400},
    "DELETE /v1/suppressions/{address}": {404},
    "GET /v1/unsubscribe/{token}": {404, 503},
    "POST /v1/unsubscribe/{token}": {400, 404, 503},
    "POST /v1/rosters/oneroster": {413, 422},
    "GET /v1/classes/{class_id}": {404},
    "PUT /v1/classes/{class_id}/students/{student_id}": {404},
    "DELETE /v1/classes/{class_id}/students/{student_id}": {404},
    "GET /v1/classes/{class_id}/mastery": {400, 404},
    "GET /v1/classes/{class_id}/analytics": {404},
    "GET /v1/family-reports/{token}": {404, 410},
    "GET /v1/family-reports/{token}/pdf": {404, 410},
}


def producible(path: str, handler: HTTPRouteHandler) -> set[int]:
    statuses: set[int] = set()
    if handler.opt.get(SCOPE_OPT) is not None:
        statuses |= {401, 403, 503}
    if not path.startswith(("/health/", "/schema")):
        statuses.add(429)
    if "data" in handler.parsed_fn_signature.parameters:
        statuses |= {400, 413, 415, 422}
    if "{" in path:
        statuses |= {400, 422}
    return statuses


def undocumented(app: Litestar) -> list[str]:
    """`METHOD /path status` for each status a route can produce that its document lacks, or
    documents as anything but the problem schema."""
    document: dict[str, Any] = app.openapi_schema.to_schema()
    missing = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue  # served, not documented: /metrics, for Prometheus
            for method in sorted(handler.http_methods - {"OPTIONS"}):
                label = f"{method} {route.path_format}"
                operation = document["paths"][route.path_format][method.lower()]
                expected = producible(route.path, handler) | HANDLER_STATUSES.get(label, set())
                documented = operation["responses"]
                for status in sorted(expected):
                    content = documented.get(str(status), {}).get("content", {})
                    if content != {"application/problem+json": {"schema": PROBLEM_REF}}:
                        missing.append(f"{label} {status}")
    return missing


def test_the_walk_finds_an_undocumented_status() -> None:
    @post("/v1/things/{thing_id:str}", opt=requires("admin"), sync_to_thread=False)
    def make_thing(thing_id: PathId, data: JSONBody[dict[str, str]]) -> str:
        return thing_id

    bare = Litestar([make_thing])
    assert "POST /v1/things/{thing_id} 401" in undocumented(bare)
    assert "POST /v1/things/{thing_id} 415" in undocumented(bare)
    documented = Litestar([make_thing])
    document_problems(documented)
    assert undocumented(documented) == []


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_producible_status_is_documented_as_a_problem(service: str) -> None:
    assert undocumented(APPS[service]()) == []


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_error_response_is_a_problem_and_none_is_the_framework_s(service: str) -> None:
    document = APPS[service]().openapi_schema.to_schema()
    schemas = document["components"]["schemas"]
    assert set(schemas["ProblemDetails"]["required"]) == {
        "type", "title", "status", "detail", "instance"
    }  # fmt: skip
    assert {"errors", "rule", "remedy"} <= set(schemas["ProblemDetails"]["properties"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"] == {
                        "application/problem+json": {"schema": PROBLEM_REF}
                    }, (method, path, status)


@pytest.mark.parametrize("service", sorted(APPS))
def test_only_routes_without_a_scope_are_outside_the_security(service: str) -> None:
    document = APPS[service]().openapi_schema.to_schema()
    assert document["security"] == [{"apiKey": []}]
    public = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == []
    }
    expected = {"GET /health/live", "GET /health/ready", "GET /problems/{slug}"}
    if service == "notify":
        expected |= {"GET /v1/unsubscribe/{token}", "POST /v1/unsubscribe/{token}"}
    if service == "mastery":
        expected |= {"GET /v1/family-reports/{token}", "GET /v1/family-reports/{token}/pdf"}
    assert public == expected
