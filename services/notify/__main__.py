import os

from services.notify.app import create_app
from services.notify.config import MIN_SECRET_LENGTH, NotifyConfig
from shared.platform.config import ConfigError, load_config
from shared.platform.service import serve


def main() -> None:
    config = load_config(NotifyConfig, os.environ)
    # Without it no email could carry a one-click unsubscribe link, and a short one is guessable.
    if len(config.unsubscribe_secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"UNSUBSCRIBE_SECRET must be set, at least {MIN_SECRET_LENGTH} characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    problem = config.report_link_problem()
    if problem is not None:
        raise ConfigError(problem)
    serve(create_app(config), config.notify_http_host, config.notify_http_port, config)


if __name__ == "__main__":
    main()
