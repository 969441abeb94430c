from shared.platform.config import OutboxServiceConfig


class AttemptsConfig(OutboxServiceConfig, frozen=True, kw_only=True):
    attempts_http_host: str = "127.0.0.1"
    attempts_http_port: int = 8001
