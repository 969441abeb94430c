import msgspec


class MasteryConfig(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    bus_namespace: str = ""
    mastery_http_host: str = "127.0.0.1"
    mastery_http_port: int = 8002
    projector_batch_size: int = 200
    projector_max_deliver: int = 10
    projector_batches_in_flight: int = 2
    relay_batch_size: int = 500
    relay_idle_interval: float = 0.02
