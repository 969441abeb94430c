"""`mastery dev`'s services: demo emails arrive within half a minute at any hour, unless the
environment sets the mail defaults itself."""

import pytest

from devtools.devstack import DEV_GRACE_SECONDS, SERVICES, Infrastructure, service_environments
from services.mastery.config import MasteryConfig
from services.notify.config import NotifyConfig
from shared.platform.config import load_config

INFRA = Infrastructure(
    database_url="postgresql://admin@127.0.0.1:5/db",
    nats_url="nats://127.0.0.1:4222",
    smtp_url="smtp://127.0.0.1:8025",
    unsubscribe_secret="dev-secret-of-at-least-32-characters-0123",
    report_link_secret="dev-report-link-secret-of-32-characters-0123",
)
PORTS = {"attempts": 8001, "mastery": 8002, "notify": 8003}
URLS = {name: f"postgresql://{name}@127.0.0.1:5/db" for name in SERVICES}


def test_the_dev_notifier_sends_after_a_short_grace_at_any_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MAIL_DEFAULT_GRACE_SECONDS", raising=False)
    monkeypatch.delenv("MAIL_DEFAULT_QUIET_HOURS", raising=False)
    config = load_config(NotifyConfig, service_environments(INFRA, PORTS, URLS)["notify"])
    assert config.storm_defaults().grace_seconds == DEV_GRACE_SECONDS
    assert config.storm_defaults().quiet_hours is None
    assert NotifyConfig(database_url="x").storm_defaults().grace_seconds == 600


def test_the_environment_still_wins_over_the_dev_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_DEFAULT_GRACE_SECONDS", "120")
    monkeypatch.setenv("MAIL_DEFAULT_QUIET_HOURS", "21:00-06:30")
    config = load_config(NotifyConfig, service_environments(INFRA, PORTS, URLS)["notify"])
    assert config.storm_defaults().grace_seconds == 120
    assert config.storm_defaults().quiet_hours is not None


def test_the_dev_emails_link_reports_the_dev_mastery_service_opens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MASTERY_PUBLIC_URL", raising=False)
    environments = service_environments(INFRA, PORTS, URLS)
    notify = load_config(NotifyConfig, environments["notify"])
    mastery = load_config(MasteryConfig, environments["mastery"])
    assert notify.report_link_secret == mastery.report_link_secret == INFRA.report_link_secret
    assert notify.mastery_public_url == "http://127.0.0.1:8002"
    assert mastery.report_links().mastery_public_url == notify.mastery_public_url
    assert notify.report_link_problem() is None
