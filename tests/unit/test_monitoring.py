"""The shipped alert rules and dashboard are well formed; a projector's batches are measured and
its progress is logged now and then, with its lag; each app keeps its own registry."""

import asyncio
import logging
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

import pytest
from prometheus_client import generate_latest

from shared.platform.batch_progress import BatchProgress
from shared.platform.delivery import Delivered
from shared.platform.metrics import ServiceMetrics
from tests.support.monitoring import ALERTS, alert_rules, dashboard, dashboard_metric_names

DURATION = re.compile(r"^\d+[smhdw]$")


def test_the_alert_rules_have_the_shape_of_prometheus_rule_groups() -> None:
    document = alert_rules()
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    alerts: list[str] = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        assert group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch("[A-Z][A-Za-z0-9]+", rule["alert"])
            assert isinstance(rule["expr"], str)
            assert "mastery_" in rule["expr"]
            assert DURATION.match(rule.get("for", "0s"))
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
            alerts.append(rule["alert"])
    # What the issue asks alerts for: projector lag, outbox depth, dead letters, email failures.
    expressions = " ".join(rule["expr"] for g in document["groups"] for rule in g["rules"])
    for series in (
        'mastery_consumer_lag_messages{worker="projector"}',
        "mastery_outbox_depth_rows",
        "mastery_dead_letters_total",
        "mastery_emails_failed_total",
    ):
        assert series in expressions


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus)")
def test_promtool_accepts_the_alert_rules() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_queries_our_series_in_each_panel() -> None:
    document = dashboard()
    assert document["uid"]
    assert document["title"]
    panels = [panel for panel in document["panels"] if panel["type"] != "row"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "mastery_" in target["expr"], panel["title"]
    assert {
        "mastery_consumer_lag_messages",
        "mastery_emails_sent_total",
    } <= dashboard_metric_names()


def test_each_app_has_a_registry_of_its_own() -> None:
    first, second = ServiceMetrics("attempts"), ServiceMetrics("attempts")
    first.observe_request("GET", "/v1/standards", 200, 0.01)
    assert b'mastery_http_requests_total{method="GET"' in generate_latest(first.registry)
    assert b"mastery_http_requests_total{" not in generate_latest(second.registry)


def _batch(*sequences: int) -> list[Delivered[str]]:
    return [Delivered(envelope=None, stream_sequence=seq) for seq in sequences]  # type: ignore[arg-type]


async def test_batches_are_measured_and_progress_is_logged_with_the_lag(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = ServiceMetrics("mastery")
    handled: list[int] = []

    async def handle(batch: Sequence[Delivered[str]]) -> None:
        handled.append(len(batch))

    async def lag() -> Mapping[str, float]:
        return {"consumer_pending": 42}

    progress = BatchProgress("projector", metrics, lag=lag, interval=0.0)
    caplog.set_level(logging.DEBUG, logger="shared.platform.batch_progress")
    observed = progress.observed(handle)
    await observed(_batch(7, 9, 8))
    await observed(_batch(10))
    await asyncio.sleep(0.01)  # the progress line asks for the lag after the batch
    assert handled == [3, 1]
    batches = [r for r in caplog.records if r.getMessage() == "projector: batch applied"]
    assert [(r.levelno, r.events, r.through_sequence) for r in batches] == [  # type: ignore[attr-defined]
        (logging.DEBUG, 3, 9),
        (logging.DEBUG, 1, 10),
    ]
    lines = [r for r in caplog.records if r.getMessage() == "projector: progress"]
    assert [(r.levelno, r.applied, r.lag) for r in lines] == [  # type: ignore[attr-defined]
        (logging.INFO, 3, 42),
        (logging.INFO, 1, 42),
    ]
    text = generate_latest(metrics.registry).decode()
    assert 'mastery_batch_size_events_sum{worker="projector"} 4.0' in text
    assert 'mastery_batch_apply_seconds_count{worker="projector"} 2.0' in text


async def test_a_batch_that_fails_is_not_counted_as_applied() -> None:
    metrics = ServiceMetrics("mastery")

    async def handle(batch: Sequence[Delivered[str]]) -> None:
        raise RuntimeError("PostgreSQL went away")

    observed = BatchProgress("projector", metrics).observed(handle)
    with pytest.raises(RuntimeError):
        await observed(_batch(1))
    assert b'mastery_batch_size_events_count{worker="projector"}' not in generate_latest(
        metrics.registry
    )
