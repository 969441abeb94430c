import msgspec


class AttemptsConfig(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    bus_namespace: str = ""
    attempts_http_host: str = "127.0.0.1"
    attempts_http_port: int = 8001
    relay_batch_size: int = 500
    relay_idle_interval: float = 0.02
