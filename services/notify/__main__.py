import os

from services.notify.app import create_app
from services.notify.config import NotifyConfig
from shared.platform.config import load_config
from shared.platform.service import serve


def main() -> None:
    config = load_config(NotifyConfig, os.environ)
    serve(create_app(config), config.notify_http_host, config.notify_http_port, config)


if __name__ == "__main__":
    main()
