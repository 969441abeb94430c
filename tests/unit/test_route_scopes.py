"""Every route of the three services declares the scope a key needs, and the matrix is the one
the READMEs document. A route that declares none is public, so only health, the metrics and the
schema may."""

from collections.abc import Callable, Iterator

import pytest
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient

from services.attempts.app import create_app as create_attempts
from services.attempts.config import AttemptsConfig
from services.mastery.app import create_app as create_mastery
from services.mastery.config import MasteryConfig
from services.notify.app import create_app as create_notify
from services.notify.config import NotifyConfig
from shared.platform.auth import SCOPE_OPT, KeyCache, authenticated_tenant, key_guard, requires
from shared.platform.http import PROBLEM_HANDLERS
from shared.platform.tenancy import SCOPES, Scope

DATABASE_URL = "postgresql://unused@127.0.0.1:1/unused"  # building an app connects to nothing
APPS: dict[str, Callable[[], Litestar]] = {
    "attempts": lambda: create_attempts(AttemptsConfig(database_url=DATABASE_URL)),
    "mastery": lambda: create_mastery(MasteryConfig(database_url=DATABASE_URL)),
    "notify": lambda: create_notify(NotifyConfig(database_url=DATABASE_URL)),
}
# The signed token in an unsubscribe link is its own authority (RFC 8058 one-click: no key).
UNSUBSCRIBE = {"GET /v1/unsubscribe/{token:str}", "POST /v1/unsubscribe/{token:str}"}
# So is the signed, expiring link of a family report, and the page of each problem type, where
# its `type` URI points.
FAMILY_REPORT = {"GET /v1/family-reports/{token:str}", "GET /v1/family-reports/{token:str}/pdf"}
PUBLIC = {
    "GET /health/live", "GET /health/ready", "GET /metrics", "GET /problems/{slug:str}",
    *UNSUBSCRIBE, *FAMILY_REPORT,
}  # fmt: skip
STUDENT = "/v1/students/{student_id:str}"
# The documented matrix (README.md, "API keys and scopes").
MATRIX: dict[str, dict[str, Scope]] = {
    "attempts": {
        "POST /v1/attempts": "ingest",
        "POST /v1/attempts/batch": "ingest",
        "GET /v1/attempts/{attempt_id:str}": "read",
        "POST /v1/attempts/{attempt_id:str}/void": "ingest",
        "POST /v1/attempts/{attempt_id:str}/rescore": "ingest",
        f"POST {STUDENT}/standards/{{standard_id:str}}/corrective-work": "ingest",
        f"GET {STUDENT}/standards/{{standard_id:str}}/corrective-work/{{work_id:str}}": "read",
        "PUT /v1/standards/{standard_id:str}": "admin",
        "GET /v1/standards/{standard_id:str}": "read",
        "GET /v1/standards": "read",
        "PUT /v1/policy": "admin",
        "GET /v1/policy": "read",
    },
    "mastery": {
        f"GET {STUDENT}/mastery": "read",
        f"GET {STUDENT}/standards/{{standard_id:str}}/history": "read",
        "GET /v1/mastery": "read",
        "POST /v1/rosters/oneroster": "admin",
        "GET /v1/classes": "read",
        "PUT /v1/classes/{class_id:str}": "admin",
        "GET /v1/classes/{class_id:str}": "read",
        "PUT /v1/classes/{class_id:str}/students/{student_id:str}": "admin",
        "DELETE /v1/classes/{class_id:str}/students/{student_id:str}": "admin",
        "GET /v1/classes/{class_id:str}/mastery": "read",
        "GET /v1/classes/{class_id:str}/analytics": "read",
        "GET /v1/classes/{class_id:str}/report-card.csv": "read",
        "GET /v1/classes/{class_id:str}/report-card.xlsx": "read",
        "GET /v1/oneroster/gradebook/classes/{class_id:str}/results": "read",
        "GET /v1/oneroster/gradebook/classes/{class_id:str}/lineItems": "read",
        "GET /v1/oneroster/gradebook/classes/{class_id:str}/scoreScales": "read",
        "GET /v1/oneroster/gradebook/classes/{class_id:str}/categories": "read",
        "GET /v1/oneroster/gradebook/classes/{class_id:str}/bulk.zip": "read",
        "POST /v1/calculate": "read",
        "POST /v1/standards/{standard_id:str}/policy-preview": "read",
    },
    "notify": {
        f"PUT {STUDENT}/guardians": "admin",
        f"GET {STUDENT}/guardians": "read",
        "GET /v1/notifications/failed": "read",
        f"PUT {STUDENT}": "admin",
        f"GET {STUDENT}": "read",
        "PUT /v1/mail-settings": "admin",
        "GET /v1/mail-settings": "read",
        "GET /v1/suppressions": "admin",
        "DELETE /v1/suppressions/{address:str}": "admin",
    },
}


def routes(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    """`METHOD /path` and its handler, for every route but Litestar's own (OPTIONS, the schema)."""
    schema_path = (app.openapi_config and app.openapi_config.path) or "/schema"  # its default
    for route in app.routes:
        if route.path == schema_path or route.path.startswith(f"{schema_path}/"):
            continue
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler) and handler.http_methods != {"OPTIONS"}:
                for method in sorted(handler.http_methods):
                    yield f"{method} {route.path}", handler


def undeclared(app: Litestar) -> list[str]:
    return [
        route
        for route, handler in routes(app)
        if handler.opt.get(SCOPE_OPT) not in SCOPES and route not in PUBLIC
    ]


def test_the_walk_finds_a_route_that_declares_no_scope() -> None:
    @get("/v1/forgotten", sync_to_thread=False)
    def forgotten() -> str:
        return ""

    @get("/v1/declared", opt=requires("read"), sync_to_thread=False)
    def declared() -> str:
        return ""

    assert undeclared(Litestar([forgotten, declared])) == ["GET /v1/forgotten"]


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_route_declares_a_scope(service: str) -> None:
    assert undeclared(APPS[service]()) == []


@pytest.mark.parametrize("service", sorted(APPS))
def test_each_route_needs_the_documented_scope(service: str) -> None:
    declared = {
        route: handler.opt[SCOPE_OPT]
        for route, handler in routes(APPS[service]())
        if route not in PUBLIC
    }
    assert declared == MATRIX[service]


def test_only_notify_serves_the_unsubscribe_routes() -> None:
    served = {service: {route for route, _ in routes(APPS[service]())} for service in APPS}
    assert served["notify"] >= UNSUBSCRIBE
    assert not (served["attempts"] | served["mastery"]) & UNSUBSCRIBE


def test_only_mastery_serves_the_family_report_routes() -> None:
    served = {service: {route for route, _ in routes(APPS[service]())} for service in APPS}
    assert served["mastery"] >= FAMILY_REPORT
    assert not (served["attempts"] | served["notify"]) & FAMILY_REPORT


def test_a_route_without_a_scope_that_asks_for_a_tenant_fails_closed() -> None:
    @get("/v1/forgotten", sync_to_thread=False)
    def forgotten(tenant: NamedDependency[str]) -> str:
        return tenant

    app = Litestar(
        [forgotten],
        guards=[key_guard(lambda _: pytest.fail("a public route looks up no key"), KeyCache())],
        dependencies={"tenant": Provide(authenticated_tenant, sync_to_thread=False)},
        exception_handlers=PROBLEM_HANDLERS,  # type: ignore[arg-type]
    )
    with TestClient(app) as client:
        response = client.get("/v1/forgotten", headers={"Authorization": "Bearer mk_a_b"})
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal-error"
