"""NATS JetStream helpers: connections, stream names and subjects, stream definitions."""

import asyncio
import contextlib
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from shared.contract.partitions import DEFAULT_PARTITIONS, partition_of, partition_token
from shared.platform.config import DUPLICATE_WINDOW_SECONDS, BusConfig, redacted
from shared.platform.retry import retry_until_stopped

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How JetStream keeps the streams and durable consumers (`BusConfig` says why). The defaults
    suit one nats-server; a service takes its configuration's (`bus_names`)."""

    replicas: int = 1
    consumer_replicas: int = 0  # 0: as the stream
    storage: StorageType = StorageType.FILE
    max_age: float = 0.0  # seconds; 0: no limit
    max_bytes: int = -1  # -1: no limit


@dataclass(frozen=True, slots=True)
class BusNames:
    """Stream names and subjects, and how the streams are kept. A namespace lets several
    environments share one NATS system."""

    namespace: str = ""
    settings: StreamSettings = StreamSettings()
    # Of the attempt events keyed by a student (`shared.contract.partitions`).
    partitions: int = DEFAULT_PARTITIONS

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
    def rosters_stream(self) -> str:
        return self._stream("ROSTERS")

    @property
    def deadletter_stream(self) -> str:
        return self._stream("DEADLETTER")

    def attempts(self, tenant_id: str, kind: str) -> str:
        return self._subject("attempts", tenant_id, kind)

    def all_attempts(self, kind: str = "*") -> str:
        """The tenant-wide events (standards, policies) and attempts sent before partitioning:
        three tokens, so no partition's subject matches."""
        return self._subject("attempts", "*", kind)

    def student_attempts(self, tenant_id: str, student_id: str, kind: str) -> str:
        """`attempts.<tenant>.p<k>.<kind>`: a student's events, on the student's partition."""
        partition = partition_of(tenant_id, student_id, self.partitions)
        return self._subject("attempts", tenant_id, partition_token(partition), kind)

    def partition_attempts(self, partition: int) -> str:
        return self._subject("attempts", "*", partition_token(partition), "*")

    def partition_attempts_of_any(self) -> str:
        return self._subject("attempts", "*", "*", "*")

    def mastery_changed(self, tenant_id: str) -> str:
        return self._subject("mastery", tenant_id, "changed")

    def all_mastery_changed(self) -> str:
        return self._subject("mastery", "*", "changed")

    def rosters(self, tenant_id: str) -> str:
        return self._subject("rosters", tenant_id, "changed")

    def all_rosters(self) -> str:
        return self._subject("rosters", "*", "changed")

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
            self.rosters_stream: "rosters",
            self.deadletter_stream: "deadletter",
        }
        return [
            StreamConfig(
                name=name,
                subjects=[self._subject(prefix, ">")],
                retention=RetentionPolicy.LIMITS,
                storage=self.settings.storage,
                num_replicas=self.settings.replicas,
                max_age=self.settings.max_age or None,
                max_bytes=self.settings.max_bytes,
                discard=DiscardPolicy.OLD,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
                # The relays publish each batch as one (shared/platform/atomic_batch.py).
                allow_atomic=True,
            )
            for name, prefix in subjects.items()
        ]


def bus_names(config: BusConfig) -> BusNames:
    """The names and stream settings a service's configuration describes."""
    settings = StreamSettings(
        replicas=config.bus_stream_replicas,
        consumer_replicas=config.bus_consumer_replicas,
        storage=StorageType(config.bus_storage),
        max_age=config.bus_max_age,
        max_bytes=config.bus_max_bytes,
    )
    return BusNames(config.bus_namespace, settings, config.bus_projector_partitions)


_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def inbox_prefix(user: str) -> str:
    """Each NATS user gets replies on an inbox of its own, so its permissions can name it."""
    return f"_INBOX.{user}"


# One connection attempt ends within this long even when the server accepts and never answers:
# nats-py's `connect_timeout` bounds each step of the handshake, not the whole.
CONNECT_ATTEMPT_SECONDS = 5.0
# On the way out: how long the server gets to confirm what was sent (acks, mostly), and how long
# nats-py gets to close; a server that does not answer must not hold a shutdown.
FLUSH_ON_CLOSE_SECONDS = 1
CLOSE_SECONDS = 1.0


class CredentialsRefused(Exception):
    """NATS refused the user's credentials. A configuration error that waiting does not mend, so
    `shared.platform.errors` calls it permanent: the worker fails, and a service whose workers keep
    failing stops with a non-zero status, as one given a wrong database password does."""


class ConnectFailed(ConnectionError):
    """One connection attempt failed for a reason that may pass (the server down, restarting or
    full). An `OSError`, so transient: nats-py itself would have tried again."""


def refuses_credentials(error: BaseException) -> bool:
    # nats-py reports the server's `-ERR 'Authorization Violation'` to a handshake as a plain
    # nats.errors.Error; only to an established connection as AuthorizationError.
    return isinstance(error, nats.errors.AuthorizationError) or (
        "authorization violation" in str(error).lower()
    )


class _ClientErrors:
    """nats-py's error callback for one client (`report`: nats-py takes coroutine functions only).

    nats-py reports each failed attempt of its first connection here and tries again, for ever
    (`max_reconnect_attempts=-1`), inside `connect`: no exception ever reaches the caller, and
    nothing but cancelling it stops the loop. So until the client is connected, the first error
    is kept and ends the attempt (`first`); the retry helper paces the next and logs why. Once
    connected, the client reconnects on its own and its errors are logged here.
    """

    def __init__(self, name: str, user: str) -> None:
        self._name = name
        self._user = user
        self.connected = False
        self.first: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def report(self, error: Exception) -> None:
        if not self.connected:
            if not self.first.done():
                self.first.set_result(error)
            return
        if refuses_credentials(error):
            logger.error("%s: NATS refused the credentials of user %r", self._name, self._user)
        else:
            logger.error("%s: NATS reports %s: %s", self._name, type(error).__name__, error)


async def connect(url: str, name: str) -> NatsClient:
    """One connection attempt (see `connect_unless_stopped`), for a command that cannot be
    stopped but by ending it."""
    client = await connect_unless_stopped(url, name, asyncio.Event())
    assert client is not None
    return client


async def connect_unless_stopped(url: str, name: str, stop: asyncio.Event) -> NatsClient | None:
    """A connected client, or None once `stop` is set; raises `CredentialsRefused` or
    `ConnectFailed` when the attempt fails. Once connected, the client reconnects on its own for
    as long as it lives.

    The credentials are the URL's (`nats://user:password@host:port`); replies then come to the
    user's own inbox prefix, the one its permissions allow it to subscribe to.
    """
    if stop.is_set():
        return None
    user = urlsplit(url).username or ""
    client = NatsClient()
    errors = _ClientErrors(name, user)
    connecting = asyncio.ensure_future(_connect(client, url, name, user, errors))
    stopping = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[Any]] = {connecting, errors.first, stopping}
    await asyncio.wait(
        waiting,
        timeout=CONNECT_ATTEMPT_SECONDS,
        return_when=asyncio.FIRST_COMPLETED,
    )
    stopping.cancel()
    if connecting.done() and connecting.exception() is None:
        errors.connected = True
        return client
    await _abandon(client, connecting)
    if stop.is_set():
        return None
    raise _failure(url, user, errors.first, connecting)


@dataclass(frozen=True, slots=True)
class ServerList:
    """`NATS_URL` read: one server's URL, or several separated by commas (the nodes of a cluster,
    each tried at connecting), and the credentials of the first to name any.

    The credentials are given to nats-py apart from the URLs: it sends a URL's own only to that
    URL's server, none to the nodes it learns from the cluster, which would then refuse it; so
    without this, a client whose server went down could reconnect only to that same server.
    """

    servers: tuple[str, ...]
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> "ServerList":
        parts = [urlsplit(each.strip()) for each in url.split(",") if each.strip()]
        named = next((part for part in parts if part.password is not None), None)
        if named is None:  # no user and password (none, or a token): the URLs as they are
            return cls(tuple(part.geturl() for part in parts) or (url,), None, None)
        servers = tuple(
            urlunsplit(part._replace(netloc=part.netloc.rpartition("@")[2])) for part in parts
        )
        return cls(servers, named.username, named.password)


async def _connect(
    client: NatsClient, url: str, name: str, user: str, errors: _ClientErrors
) -> None:
    server_list = ServerList.parse(url)
    await client.connect(
        list(server_list.servers),
        user=server_list.user,
        password=server_list.password,
        name=name,
        inbox_prefix=inbox_prefix(user) if _TOKEN.fullmatch(user) else "_INBOX",
        error_cb=errors.report,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,  # type: ignore[arg-type] # annotated int, used as seconds
        connect_timeout=2,
    )


async def _abandon(client: NatsClient, connecting: asyncio.Future[None]) -> None:
    """Stop nats-py's connection loop and let go of whatever socket it holds."""
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await connecting
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), CLOSE_SECONDS)


async def close_client(client: NatsClient) -> None:
    """Flush what the client buffers, then close it, within about two seconds whatever NATS does.

    Not nats-py's drain: the workers' subscriptions have nothing left to deliver when they stop
    (every batch acked or naked, every publish acknowledged), and drain waits out its timeout
    (30 s) on them, then flushes for up to 10 s more, when the server does not answer.
    """
    with contextlib.suppress(TimeoutError, nats.errors.Error):
        await client.flush(timeout=FLUSH_ON_CLOSE_SECONDS)
    with contextlib.suppress(Exception):  # closing a connection already lost may raise anything
        await asyncio.wait_for(client.close(), CLOSE_SECONDS)


def _failure(
    url: str, user: str, first: asyncio.Future[Exception], connecting: asyncio.Future[None]
) -> BaseException:
    """What ended an attempt that did not connect, as the retry helper should see it."""
    raised = _raised(connecting)
    if raised is not None and not refuses_credentials(raised):
        return raised  # not what nats-py retries (a malformed URL, say): as it is
    error = first.result() if first.done() else raised
    if error is None:
        return ConnectFailed(f"no answer within {CONNECT_ATTEMPT_SECONDS:.0f}s")
    if refuses_credentials(error):
        # The user's name only: the URL holds the password (and `redacted` drops the user too).
        return CredentialsRefused(
            f"NATS at {redacted(url)} refused the credentials of user {user!r}"
        )
    return ConnectFailed(f"{type(error).__name__}: {error}")


def _raised(task: asyncio.Future[None]) -> BaseException | None:
    return None if task.cancelled() else task.exception()


async def connect_with_retry(url: str, name: str, stop: asyncio.Event) -> NatsClient | None:
    """Keep trying until connected or asked to stop; NATS being down must not stop a service.

    A refusal of the credentials is raised (`CredentialsRefused`): it will not pass by waiting."""
    return await retry_until_stopped(
        stop,
        lambda: connect_unless_stopped(url, name, stop),
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
