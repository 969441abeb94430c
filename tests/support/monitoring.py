"""The series the shipped Grafana dashboard and Prometheus alert rules name."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "mastery-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
# PromQL read loosely: every name of ours in an expression, whatever surrounds it.
_METRIC = re.compile(r"\bmastery_\w+")


def _expressions(node: Any) -> Iterator[str]:
    """Every `expr` and `query` string anywhere in a parsed JSON or YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query") and isinstance(value, str):
                yield value
            else:
                yield from _expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def dashboard() -> Any:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def alert_rules() -> Any:
    return yaml.safe_load(ALERTS.read_text(encoding="utf-8"))


def dashboard_metric_names() -> set[str]:
    return {name for expr in _expressions(dashboard()) for name in _METRIC.findall(expr)}


def alert_metric_names() -> set[str]:
    return {name for expr in _expressions(alert_rules()) for name in _METRIC.findall(expr)}
