from shared.platform.config import OutboxServiceConfig


class MasteryConfig(OutboxServiceConfig, frozen=True, kw_only=True):
    mastery_http_host: str = "127.0.0.1"
    mastery_http_port: int = 8002
    projector_batch_size: int = 200
    projector_max_deliver: int = 10
    projector_batches_in_flight: int = 2
    # How long a read with `min_position` waits for the read model to apply it before it answers
    # what it has, marked stale (seconds).
    read_wait_timeout: float = 2.0
    # Per key and second. Reads cost less than writes, and a dashboard asks for many at once.
    rate_limit_requests: int = 200
