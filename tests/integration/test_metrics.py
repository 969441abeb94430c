"""`/metrics` of the three running services: the series move with the traffic, the work and the
emails, and every series the shipped dashboard and alert rules name is one the services expose."""

from collections.abc import Callable
from typing import Any

import asyncpg
import nats
from prometheus_client.parser import text_string_to_metric_families

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.monitoring import alert_metric_names, dashboard_metric_names
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
ATTEMPTS = 3


def _attempt(attempt_id: str, score: float, day: int) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "student_id": "maya",
        "standard_id": "ela.argument",
        "score": score,
        "points_possible": 4,
        "assessed_at": f"2026-10-{day:02d}T10:00:00Z",
    }


# The names a family's samples take, by its type (a family with no sample yet still has them).
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


async def _scrape(client: Any) -> tuple[Samples, set[str]]:
    """Every sample by (name, labels), and every name a series of a family is exposed under."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, names


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def _scraped(client: Any, check: Callable[[Samples], bool]) -> Any:
    async def scrape() -> Samples:
        return (await _scrape(client))[0]

    return eventually(scrape, check, within=20.0, interval=0.2)


async def test_the_series_move_with_requests_work_emails_and_dead_letters(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        before, _ = await _scrape(system.attempts)  # the log's count starts at a first scrape
        await _traffic(system, auth)
        route = {"route": "/v1/attempts", "method": "POST", "service": "attempts"}

        attempts = await _scraped(
            system.attempts,
            lambda s: (
                value(s, "mastery_events_appended_total", type="attempt_recorded.v2") == ATTEMPTS
            ),
        )
        ok = value(attempts, "mastery_http_requests_total", status_class="2xx", **route)
        assert ok - value(before, "mastery_http_requests_total", **route) == ATTEMPTS
        assert value(attempts, "mastery_http_requests_total", status_class="4xx", **route) == 1
        assert (
            value(attempts, "mastery_http_request_errors_total", status_class="4xx", **route) == 1
        )
        assert (
            value(attempts, "mastery_http_request_errors_total", status_class="2xx", **route) == 0
        )
        timed = value(attempts, "mastery_http_request_duration_seconds_count", **route)
        assert timed == ATTEMPTS + 1
        assert value(attempts, "mastery_events_appended_total", type="standard_defined.v1") == 1
        assert value(attempts, "mastery_db_pool_connections", pool="requests") >= 1
        assert value(attempts, "mastery_worker_up", worker="relay") == 1
        assert not [labels for _, labels in attempts if any("maya" in v for _, v in labels)]

        mastery = await _scraped(
            system.mastery,
            lambda s: (
                value(s, "mastery_consumer_applied_events_total", worker="projector")
                >= ATTEMPTS + 1
                and value(s, "mastery_consumer_lag_messages", worker="projector") == 0
                and value(s, "mastery_outbox_depth_rows", outbox="mastery_changes") == 0
            ),
        )
        assert value(mastery, "mastery_batch_size_events_sum", worker="projector") >= ATTEMPTS + 1
        assert value(mastery, "mastery_batch_apply_seconds_count", worker="projector") >= 1
        assert value(mastery, "mastery_relay_lag_seconds", outbox="mastery_changes") == 0
        roster_outbox = [
            v for (n, got), v in mastery.items()
            if n == "mastery_outbox_depth_rows" and ("outbox", "roster_log") in got
        ]  # fmt: skip
        assert roster_outbox == [0]

        notify = await _scraped(
            system.notify,
            lambda s: (
                value(s, "mastery_emails_sent_total") >= 1
                and value(s, "mastery_emails_sent_total") == len(smtp_sink.messages)
                and value(s, "mastery_notifications", status="pending") == 0
                and value(s, "mastery_consumer_lag_messages", worker="planner") == 0
            ),
        )
        assert value(notify, "mastery_emails_failed_total") == 0
        assert value(notify, "mastery_emails_deferred") == 0

        await _publish_poison(servers.nats_url, bus.attempts(tenant, "recorded"))
        await _scraped(
            system.mastery,
            lambda s: value(s, "mastery_dead_letters_total", worker="projector") == 1,
        )


async def _traffic(system: System, auth: dict[str, str]) -> None:
    guardians = {"guardians": [{"email": "rosa.parent@example.org", "name": "Rosa"}]}
    put = await system.notify.put("/v1/students/maya/guardians", json=guardians, headers=auth)
    assert put.status_code == 200, put.text
    standard = {"title": "Argument writing"}
    defined = await system.attempts.put("/v1/standards/ela.argument", json=standard, headers=auth)
    assert defined.status_code == 201, defined.text
    for day, score in enumerate((2, 3, 1), start=1):
        posted = await system.attempts.post(
            "/v1/attempts", json=_attempt(f"a{day}", score, day), headers=auth
        )
        assert posted.status_code == 201, posted.text
        if day == 1:  # one email on its own: changes arriving together may be coalesced
            await _scraped(system.notify, lambda s: value(s, "mastery_emails_sent_total") == 1)
    refused = await system.attempts.post("/v1/attempts", json={"attempt_id": "x"}, headers=auth)
    assert refused.status_code in (400, 422), refused.text


async def _publish_poison(nats_url: str, subject: str) -> None:
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().publish(subject, b'{"not": "an event"}')
    finally:
        await client.close()


async def test_metrics_is_public_unlisted_and_names_what_the_dashboard_and_alerts_use(
    database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    named = dashboard_metric_names() | alert_metric_names()
    assert len(named) >= 10, named
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        clients = (system.attempts, system.mastery, system.notify)
        for client in clients:
            schema = await client.get("/schema/openapi.json")
            assert "/metrics" not in schema.json()["paths"]

        async def exposed() -> set[str]:
            names: set[str] = set()
            for client in clients:  # no key: the scrape is public, like the probes
                names |= (await _scrape(client))[1]
            return names

        # A lag is exposed once its worker's probe answers (it is connected).
        found = await eventually(exposed, lambda names: named <= names, within=20.0)
    assert named <= found, sorted(named - found)
