"""Each service's configuration: the shared fields come from the base, every field from its
upper-case environment variable."""

import msgspec
import pytest

from services.attempts.config import AttemptsConfig
from services.mastery.config import MasteryConfig
from services.notify.config import NotifyConfig
from shared.platform.config import ConfigError, ServiceConfig, load_config

CONFIGS = [AttemptsConfig, MasteryConfig, NotifyConfig]


@pytest.mark.parametrize("config_type", CONFIGS)
def test_every_field_is_read_from_its_environment_variable(
    config_type: type[ServiceConfig],
) -> None:
    fields = msgspec.structs.fields(config_type)
    values = {
        field.name: {int: "7", float: "0.25", str: f"value of {field.name}"}[field.type]
        for field in fields
    }
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
