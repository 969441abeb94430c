import os

from services.mastery.app import create_app
from services.mastery.config import MIN_SECRET_LENGTH, MasteryConfig
from shared.platform.config import ConfigError, load_config
from shared.platform.service import serve


def main() -> None:
    config = load_config(MasteryConfig, os.environ)
    # Empty: no family report link opens (none can be made). A short one is guessable.
    if 0 < len(config.report_link_secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"REPORT_LINK_SECRET must be at least {MIN_SECRET_LENGTH} characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or unset"
        )
    serve(create_app(config), config.mastery_http_host, config.mastery_http_port, config)


if __name__ == "__main__":
    main()
