import os

from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from shared.platform.config import load_config
from shared.platform.service import serve


def main() -> None:
    config = load_config(MasteryConfig, os.environ)
    serve(create_app(config), config.mastery_http_host, config.mastery_http_port, config)


if __name__ == "__main__":
    main()
