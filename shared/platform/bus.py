"""NATS JetStream helpers: connections, stream names and subjects, stream definitions."""

import asyncio
import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from shared.platform.config import redacted
from shared.platform.retry import retry_until_stopped

DUPLICATE_WINDOW_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class BusNames:
    """Stream names and subjects. A namespace lets several environments share one NATS system."""

    namespace: str = ""

    def _subject(self, *tokens: str) -> str:
        return ".".join(((self.namespace,) if self.namespace else ()) + tokens)

    def _stream(self, name: str) -> str:
        return f"{self.namespace.upper()}_{name}" if self.namespace else name

    @property
    def attempts_stream(self) -> str:
        return self._stream("ATTEMPTS")

    @property
    def mastery_stream(self) -> str:
        return self._stream("MASTERY")

    @property
    def deadletter_stream(self) -> str:
        return self._stream("DEADLETTER")

    def attempts(self, tenant_id: str, kind: str) -> str:
        return self._subject("attempts", tenant_id, kind)

    def all_attempts(self, kind: str = "*") -> str:
        return self._subject("attempts", "*", kind)

    def mastery_changed(self, tenant_id: str) -> str:
        return self._subject("mastery", tenant_id, "changed")

    def all_mastery_changed(self) -> str:
        return self._subject("mastery", "*", "changed")

    def deadletter(self, consumer: str) -> str:
        return self._subject("deadletter", consumer)

    def tenant_of(self, subject: str) -> str | None:
        """The tenant a subject names (`[<namespace>.]<family>.<tenant>...`), if it names one."""
        prefix = f"{self.namespace}." if self.namespace else ""
        if not subject.startswith(prefix):
            return None
        tokens = subject[len(prefix) :].split(".")
        return tokens[1] if len(tokens) > 2 else None

    def stream_configs(self) -> list[StreamConfig]:
        subjects = {
            self.attempts_stream: "attempts",
            self.mastery_stream: "mastery",
            self.deadletter_stream: "deadletter",
        }
        return [
            StreamConfig(
                name=name,
                subjects=[self._subject(prefix, ">")],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
            for name, prefix in subjects.items()
        ]


_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def inbox_prefix(user: str) -> str:
    """Each NATS user gets replies on an inbox of its own, so its permissions can name it."""
    return f"_INBOX.{user}"


async def connect(url: str, name: str) -> NatsClient:
    """Connect once; afterwards the client reconnects on its own for as long as it lives.

    The credentials are the URL's (`nats://user:password@host:port`); replies then come to the
    user's own inbox prefix, the one its permissions allow it to subscribe to.
    """
    user = urlsplit(url).username or ""
    client: NatsClient = await nats.connect(
        url,
        name=name,
        inbox_prefix=inbox_prefix(user) if _TOKEN.fullmatch(user) else "_INBOX",
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
    )
    return client


async def connect_with_retry(url: str, name: str, stop: asyncio.Event) -> NatsClient | None:
    """Keep trying until connected or asked to stop; NATS being down must not stop a service."""
    return await retry_until_stopped(
        stop,
        lambda: connect(url, name),
        what=f"{name}: connecting to NATS at {redacted(url)}",
    )


async def ensure_streams(
    js: JetStreamContext, names: BusNames, only: Collection[str] | None = None
) -> None:
    """Create the streams (those named in `only`, if given), or bring their configuration up to
    date; safe to run at every start. A service declares only the streams it writes to."""
    for config in names.stream_configs():
        if only is not None and config.name not in only:
            continue
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
