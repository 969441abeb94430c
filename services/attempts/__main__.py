import os

from services.attempts.app import create_app
from services.attempts.config import AttemptsConfig
from shared.platform.config import load_config
from shared.platform.service import serve


def main() -> None:
    config = load_config(AttemptsConfig, os.environ)
    serve(create_app(config), config.attempts_http_host, config.attempts_http_port, config)


if __name__ == "__main__":
    main()
