"""Each service's configuration: the shared fields come from the base, every field from its
upper-case environment variable."""

from typing import Literal, get_args, get_origin

import msgspec
import pytest

from services.attempts.config import AttemptsConfig
from services.mastery.config import MasteryConfig
from services.notify.config import NotifyConfig
from shared.platform.config import ConfigError, ServiceConfig, load_config

CONFIGS = [AttemptsConfig, MasteryConfig, NotifyConfig]
# Settings with bounds of their own (tests/deploy/test_stream_settings.py): a value within them.
BOUNDED = {"bus_stream_replicas": "5", "bus_consumer_replicas": "4", "bus_max_age": "3600.5"}


def _value_for(field: msgspec.structs.FieldInfo) -> str:
    if field.name in BOUNDED:
        return BOUNDED[field.name]
    if get_origin(field.type) is Literal:
        return str(get_args(field.type)[-1])
    # An optional field (`int | None`: unset means a default derived from other fields).
    kind = next((arg for arg in get_args(field.type) if arg is not type(None)), field.type)
    return {int: "7", float: "0.25", str: f"value of {field.name}"}[kind]


@pytest.mark.parametrize("config_type", CONFIGS)
def test_every_field_is_read_from_its_environment_variable(
    config_type: type[ServiceConfig],
) -> None:
    fields = msgspec.structs.fields(config_type)
    values = {field.name: _value_for(field) for field in fields}
    environ = {name.upper(): value for name, value in values.items()}

    config = load_config(config_type, environ)

    for field in fields:
        assert str(getattr(config, field.name)) == values[field.name], field.name


@pytest.mark.parametrize("config_type", CONFIGS)
def test_the_shared_fields_and_their_defaults_come_from_the_base(
    config_type: type[ServiceConfig],
) -> None:
    config = load_config(config_type, {"DATABASE_URL": "postgresql://db/mastery"})

    assert isinstance(config, ServiceConfig)
    assert (config.nats_url, config.bus_namespace) == ("nats://127.0.0.1:4222", "")
    with pytest.raises(AttributeError):  # frozen, as each subclass declares
        config.nats_url = "nats://elsewhere"  # type: ignore[misc]


def test_a_missing_database_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="database_url"):
        load_config(NotifyConfig, {})


def test_a_rate_limit_window_outside_the_units_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="rate_limit_window"):
        load_config(NotifyConfig, {"DATABASE_URL": "postgresql://db", "RATE_LIMIT_WINDOW": "week"})


def test_a_printed_config_masks_its_secrets_and_the_credentials_in_its_urls() -> None:
    config = NotifyConfig(
        database_url="postgresql://notify:db-pass-1@db.internal/gradebook",
        nats_url="nats://notify:nats-pass-2@nats.internal:4222",
        smtp_url="smtp://relay.internal:587",
        smtp_username="mailer",
        smtp_password="smtp-pass-3",
        unsubscribe_secret="signing-secret-4-0123456789abcdef0123456789",
        report_link_secret="report-secret-5-0123456789abcdef0123456789",
    )
    printed = repr(config)
    for secret in (
        "db-pass-1",
        "nats-pass-2",
        "smtp-pass-3",
        "signing-secret-4",
        "report-secret-5",
    ):
        assert secret not in printed
        assert secret not in str(config)
    assert "smtp_password='***'" in printed
    assert "report_link_secret='***'" in printed
    assert "postgresql://***@db.internal/gradebook" in printed
    assert "smtp_username='mailer'" in printed  # not a secret: shown
    assert "smtp_url='smtp://relay.internal:587'" in printed


REPORT_SECRET = "report-link-secret-0123456789abcdef01234"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [({}, None),
     ({"REPORT_LINK_SECRET": REPORT_SECRET, "MASTERY_PUBLIC_URL": "https://m.example"}, None),
     ({"REPORT_LINK_SECRET": "short", "MASTERY_PUBLIC_URL": "https://m.example"}, "at least 32"),
     ({"REPORT_LINK_SECRET": REPORT_SECRET}, "without MASTERY_PUBLIC_URL"),
     ({"REPORT_LINK_SECRET": REPORT_SECRET, "MASTERY_PUBLIC_URL": "https://m.example",
       "REPORT_LINK_DAYS": "0"}, "REPORT_LINK_DAYS must be positive")],
)  # fmt: skip
def test_notify_refuses_report_link_settings_that_make_no_working_link(
    settings: dict[str, str], problem: str | None
) -> None:
    config = load_config(NotifyConfig, {"DATABASE_URL": "postgresql://db", **settings})
    found = config.report_link_problem()
    assert found is None if problem is None else problem in (found or "")
