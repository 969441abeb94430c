"""The three services wired to one database, one NATS and one SMTP sink, in this process, each
connecting as its own database role (`database_url` is the admin's)."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar.testing import AsyncTestClient

from devtools.nats_auth import service_url as nats_service_url
from services.attempts.app import create_app as create_attempts_app
from services.attempts.config import AttemptsConfig
from services.mastery.app import create_app as create_mastery_app
from services.mastery.config import MasteryConfig
from services.notify.app import create_app as create_notify_app
from services.notify.config import NotifyConfig
from shared.platform.bus import BusNames
from shared.platform.tracing import Tracing
from tests.support.roles import service_url as database_service_url

# The notify app signs its emails' unsubscribe links with this (tests may sign their own).
UNSUBSCRIBE_SECRET = "system-test-unsubscribe-secret-0123456789"


@dataclass
class System:
    attempts: AsyncTestClient[Any]
    mastery: AsyncTestClient[Any]
    notify: AsyncTestClient[Any]


@contextlib.asynccontextmanager
async def running_system(
    database_url: str,
    nats_url: str,
    smtp_url: str,
    bus: BusNames,
    mastery_settings: dict[str, Any] | None = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[System]:
    """`tracing`: one provider the three services record their spans with (else none)."""
    namespace = bus.namespace
    # Tests call routes faster than any key's budget allows; the limits are tested on their own.
    unlimited: dict[str, Any] = {"rate_limit_requests": 0}
    # Each service with its own NATS user, as deployed (the URL given is the admin's).
    attempts_config = AttemptsConfig(
        database_url=database_service_url(database_url, "attempts"),
        nats_url=nats_service_url(nats_url, "attempts"),
        bus_namespace=namespace,
        bus_stream_replicas=1,
        **unlimited,
    )
    mastery_config = MasteryConfig(
        database_url=database_service_url(database_url, "mastery"),
        nats_url=nats_service_url(nats_url, "mastery"),
        bus_namespace=namespace,
        bus_stream_replicas=1,
        **{**unlimited, **(mastery_settings or {})},
    )
    notify_config = NotifyConfig(
        database_url=database_service_url(database_url, "notify"),
        nats_url=nats_service_url(nats_url, "notify"),
        bus_namespace=namespace,
        bus_stream_replicas=1,
        smtp_url=smtp_url,
        mailer_idle_interval=0.05,
        unsubscribe_secret=UNSUBSCRIBE_SECRET,
        # Each change emailed at once, at any hour, unless a test sets the tenant's own.
        mail_default_grace_seconds=0,
        mail_default_quiet_hours="",
        **unlimited,
    )
    async with (
        AsyncTestClient(create_attempts_app(attempts_config, tracing=tracing)) as attempts,
        AsyncTestClient(create_mastery_app(mastery_config, tracing=tracing)) as mastery,
        AsyncTestClient(create_notify_app(notify_config, tracing=tracing)) as notify,
    ):
        yield System(attempts, mastery, notify)
