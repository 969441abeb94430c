"""Typed configuration loaded once from the environment and passed down explicitly."""

import re
from collections.abc import Mapping
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

from shared.contract.partitions import DEFAULT_PARTITIONS, MAX_PARTITIONS

ConfigT = TypeVar("ConfigT", bound=msgspec.Struct)

# How long JetStream remembers a message id to drop a repeat (shared/platform/bus.py).
DUPLICATE_WINDOW_SECONDS = 120.0


class BusConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Where the streams live and how JetStream keeps them (shared/platform/bus.py).

    Three replicas by default: a stream on a three-node cluster keeps every acknowledged message
    on two nodes more, and goes on when one is down. A single nats-server (`mastery dev`, tests)
    refuses more than one, so it is given 1. Durable consumers take their stream's replicas
    unless `bus_consumer_replicas` (at most the stream's) says otherwise. Streams keep
    everything by default (`bus_max_age` 0 seconds, `bus_max_bytes` -1): PostgreSQL is the system
    of record, but a consumer that falls behind a stream's limit misses what it dropped until
    `mastery republish` sends it again. Retention stays `limits`: subscribers other than ours
    (an SIS) read the same streams, and an interest or work-queue stream would drop a message
    once the consumers it knows of had it.
    """

    bus_namespace: str = ""
    bus_stream_replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 3
    bus_consumer_replicas: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0
    bus_storage: Literal["file", "memory"] = "file"
    bus_max_age: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    bus_max_bytes: Annotated[int, msgspec.Meta(ge=-1)] = -1
    # How many partitions carry the attempt events keyed by a student
    # (`shared.contract.partitions`). Fixed for a stream's life: the relay and every projector
    # must agree, and a changed count would move a student's later events to another partition.
    bus_projector_partitions: Annotated[int, msgspec.Meta(ge=1, le=MAX_PARTITIONS)] = (
        DEFAULT_PARTITIONS
    )

    def __post_init__(self) -> None:
        if self.bus_consumer_replicas > self.bus_stream_replicas:
            raise ValueError(
                f"bus_consumer_replicas ({self.bus_consumer_replicas}) exceeds "
                f"bus_stream_replicas ({self.bus_stream_replicas})"
            )
        if 0 < self.bus_max_age < DUPLICATE_WINDOW_SECONDS:
            raise ValueError(
                f"bus_max_age must be 0 (no limit) or at least the {DUPLICATE_WINDOW_SECONDS:.0f}"
                " seconds of the streams' duplicate window"
            )
        if self.bus_max_bytes == 0:
            raise ValueError("bus_max_bytes must be positive, or -1 for no limit")


class ServiceConfig(BusConfig, frozen=True, kw_only=True):
    """What every service process reads. Each service's config extends it (`kw_only` is not
    inherited, so each subclass declares it again)."""

    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    # A crashed worker is restarted after `worker_restart_delay`, doubling up to the maximum;
    # `worker_max_failures` crashes within `worker_failure_window` seconds stop the process.
    worker_restart_delay: float = 0.5
    worker_restart_max_delay: float = 30.0
    worker_max_failures: int = 5
    worker_failure_window: float = 300.0
    # On shutdown a worker gets this long to finish its batch and close its connections; then it
    # is cancelled, so a NATS or PostgreSQL that does not answer cannot hold the process.
    worker_stop_timeout: float = 3.0
    # Services that consume JetStream: a batch that failed transiently (PostgreSQL or NATS
    # unavailable) is tried again after pauses doubling up to `consumer_retry_max_delay`; a
    # message waiting for an event not delivered yet is dead-lettered on its
    # `consumer_retry_later_limit`-th delivery.
    consumer_retry_max_delay: float = 30.0
    consumer_retry_later_limit: int = 10
    # Abuse limits (shared/platform/limits.py, connections.py). Each API key may send
    # `rate_limit_requests` requests per `rate_limit_window`, evenly spread (GCRA: one every
    # window/requests), `rate_limit_burst` of them at once (default a tenth of the limit, at
    # least 1); 0 requests turns the limit off. With `rate_limit_redis_url` the instances of a
    # service share each key's budget in one Redis; without it each process counts alone. A
    # connection must send a whole request head within `http_header_timeout` seconds, an idle
    # keep-alive connection is closed after `http_keep_alive_timeout`, and beyond
    # `http_max_connections` open connections (or requests in progress) a request is answered
    # 503 at once.
    rate_limit_requests: int = 100
    rate_limit_window: Literal["second", "minute", "hour", "day"] = "second"
    rate_limit_burst: int | None = None
    rate_limit_redis_url: str = ""
    http_header_timeout: float = 10.0
    http_keep_alive_timeout: float = 5.0
    http_max_connections: int = 1000
    # Traces (shared/platform/tracing.py), under OpenTelemetry's own names: spans are exported by
    # OTLP/HTTP to `<otel_exporter_otlp_endpoint>/v1/traces` (or the traces endpoint as given)
    # as `otel_service_name` (default: the service's name); with neither endpoint, none are.
    otel_exporter_otlp_endpoint: str = ""
    otel_exporter_otlp_traces_endpoint: str = ""
    otel_service_name: str = ""

    def __repr__(self) -> str:
        """Every setting, with secrets and the credentials in URLs masked: a config printed to a
        log or a traceback gives nothing away."""
        shown = []
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, str) and value and _SECRET_SETTING.search(name):
                value = "***"
            elif isinstance(value, str):
                value = masked_urls(value)
            shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


# Settings whose whole value is a secret (a password, a signing secret, a token).
_SECRET_SETTING = re.compile(r"password|secret|token|api_key")


class OutboxServiceConfig(ServiceConfig, frozen=True, kw_only=True):
    """A service that writes an outbox and runs its relay."""

    relay_batch_size: int = 500
    relay_idle_interval: float = 0.02
    relay_poll_interval: float = 1.0


class ConfigError(ValueError):
    """The environment does not describe a valid configuration."""


def load_config(config_type: type[ConfigT], environ: Mapping[str, str]) -> ConfigT:
    """Build `config_type` from the upper-case environment variables named after its fields."""
    fields = {field.name for field in msgspec.structs.fields(config_type)}
    subset = {name: environ[name.upper()] for name in fields if name.upper() in environ}
    try:
        return msgspec.convert(subset, config_type, strict=False)
    except msgspec.ValidationError as error:
        raise ConfigError(f"invalid configuration: {error}") from error


def redacted(url: str) -> str:
    """The URL without its credentials, fit for a log line.

    The whole user part goes, not only a password: `nats://<token>@host` carries its secret there.
    A list of URLs separated by commas (`NATS_URL` naming a cluster's nodes) loses each one's.
    """
    if "," in url:
        return ",".join(redacted(each) for each in url.split(","))
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


# `scheme://user:password@` or `scheme://token@` anywhere in a text: an error message or a log
# line may quote a URL that no code here chose to print.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def masked_urls(text: str) -> str:
    """`text` with the credentials of every URL in it replaced, as `redacted` replaces them."""
    if "@" not in text:  # no credentials without one; most log fields have none
        return text
    return _URL_CREDENTIALS.sub(r"\1***@", text)
