"""A service whose NATS connection cannot be made: a refusal of its credentials stops it with a
non-zero status and says why, and SIGTERM stops it within seconds whatever NATS does (refuses,
is down, or accepts and never answers).

Against a real nats-server with the services' users, and `python -m services.mastery` as a real
process, as deployed.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import pytest

from devtools.embedded import EmbeddedNats, free_port
from shared.platform.bus import (
    BusNames,
    ConnectFailed,
    CredentialsRefused,
    connect_unless_stopped,
    connect_with_retry,
    ensure_streams,
)
from shared.platform.errors import is_transient
from tests.support.polling import eventually
from tests.support.roles import service_url

WRONG_PASSWORD = "wrong-secret-4f2a9c"
# How long a SIGTERM may take to end the process while it is connecting, whatever NATS does;
# and once connected to a NATS that stopped answering (the workers' grace is 3 s of it).
STOPS_WITHIN = 5.0
STOPS_WITHIN_HUNG = 7.0


def wrong_password_url(server: EmbeddedNats, user: str) -> str:
    right = server.service_url(user)
    password = right.split(":")[2].split("@")[0]
    return right.replace(password, WRONG_PASSWORD, 1)


@dataclass
class SilentServer:
    """A TCP server that accepts connections and never says a word (no NATS INFO)."""

    url: str
    held: list[asyncio.StreamWriter]

    async def accepted(self) -> int:
        return len(self.held)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[SilentServer]:
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield SilentServer(f"nats://mastery:{WRONG_PASSWORD}@127.0.0.1:{port}", held)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@dataclass
class Service:
    """`python -m services.mastery`, its output in a file."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def read_log(self) -> str:
        return self.log

    async def readiness(self) -> httpx.Response | None:
        async with httpx.AsyncClient() as client:
            try:
                return await client.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2)
            except httpx.HTTPError:
                return None

    async def exit_status(self, within: float) -> int:
        deadline = time.monotonic() + within
        while (status := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {within}s; log:\n{self.log}")
            await asyncio.sleep(0.02)
        return status


@pytest.fixture
async def start_mastery(database_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(nats_url: str, **settings: str) -> Service:
        port = free_port()
        env = {name: value for name, value in os.environ.items() if not name.endswith("_URL")}
        env.update(
            DATABASE_URL=service_url(database_url, "mastery"),
            NATS_URL=nats_url,
            MASTERY_HTTP_PORT=str(port),
            **settings,
        )
        log_path = tmp_path / f"mastery-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.mastery"], env=env, stdout=log, stderr=log
            )
        started.append(Service(process, port, log_path))
        return started[-1]

    yield start
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


async def test_refused_credentials_make_the_service_not_ready_then_stop_it_non_zero(
    auth_nats: EmbeddedNats, start_mastery: Callable[..., Service]
) -> None:
    service = start_mastery(
        wrong_password_url(auth_nats, "mastery"),
        WORKER_RESTART_DELAY="0.5",
        WORKER_RESTART_MAX_DELAY="1",
        WORKER_MAX_FAILURES="4",
    )

    def refused(response: httpx.Response | None) -> bool:
        """The projector says why (its partitions' consumers fail, then the worker with them)."""
        if response is None or response.status_code != 503:
            return False
        projector = response.json()["workers"]["projector"]
        return "refused the credentials" in (projector.get("last_error") or "")

    response = await eventually(service.readiness, refused, within=20)
    assert response is not None
    assert response.status_code == 503
    reason = response.json()["workers"]["projector"]["last_error"]
    assert reason == (
        f"CredentialsRefused: NATS at {auth_nats.address.replace('//', '//***@')} "
        "refused the credentials of user 'mastery'"
    )

    # The supervisor gives up (WORKER_MAX_FAILURES) and stops the process as SIGTERM does.
    assert await service.exit_status(within=30) == -signal.SIGTERM
    log = service.log
    assert '"worker projector failed: CredentialsRefused: NATS at nats://***@' in log
    assert "worker projector keeps failing (CredentialsRefused" in log or (
        "worker relay keeps failing (CredentialsRefused" in log
    )
    assert WRONG_PASSWORD not in log
    assert WRONG_PASSWORD not in response.text


@pytest.mark.parametrize("nats_does", ["refuses the credentials", "is down", "never answers"])
async def test_sigterm_while_connecting_stops_the_service_within_seconds(
    nats_does: str, auth_nats: EmbeddedNats, start_mastery: Callable[..., Service]
) -> None:
    async with silent_server() as silent:
        url = {
            "refuses the credentials": wrong_password_url(auth_nats, "mastery"),
            "is down": f"nats://mastery:{WRONG_PASSWORD}@127.0.0.1:{free_port()}",
            "never answers": silent.url,
        }[nats_does]
        # Not giving up by itself within the test: only the SIGTERM may end it.
        service = start_mastery(url, WORKER_MAX_FAILURES="1000")
        # In the connect loop: both workers in the handshake, or a failed attempt logged.
        if nats_does == "never answers":
            await eventually(silent.accepted, lambda count: count >= 2, within=20)
        else:
            await eventually(service.read_log, _tried_to_connect, within=20)
        assert service.process.poll() is None

        began = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        status = await service.exit_status(within=STOPS_WITHIN)

    assert status == -signal.SIGTERM, service.log
    assert time.monotonic() - began < STOPS_WITHIN
    assert WRONG_PASSWORD not in service.log


async def test_sigterm_stops_a_service_whose_nats_hangs_once_connected(
    start_mastery: Callable[..., Service], tmp_path: Path
) -> None:
    own = EmbeddedNats(tmp_path / "nats").start()  # frozen below: not the session's server
    try:
        admin = await nats.connect(own.url)
        await ensure_streams(admin.jetstream(), BusNames())
        await admin.close()
        service = start_mastery(own.service_url("mastery"))
        await eventually(service.readiness, _projector_bound, within=20)

        own.freeze()
        began = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        # Closing gives up on the server within about 2 s; a worker still waiting on it after
        # WORKER_STOP_TIMEOUT (3 s) is cancelled.
        status = await service.exit_status(within=STOPS_WITHIN_HUNG)
        took = time.monotonic() - began
    finally:
        own.thaw()
        own.stop()

    assert status == -signal.SIGTERM, service.log
    assert took < STOPS_WITHIN_HUNG
    assert "Traceback" not in service.log


def _projector_bound(response: httpx.Response | None) -> bool:
    if response is None or response.status_code != 200:
        return False
    return response.json()["workers"]["projector"]["lag"] is not None


def _tried_to_connect(log: str) -> bool:
    # A refusal fails the worker (the supervisor's line); an outage is retried (the helper's).
    return "refused the credentials" in log or "connecting to NATS at" in log


async def test_one_attempt_tells_a_refusal_from_an_outage(auth_nats: EmbeddedNats) -> None:
    stop = asyncio.Event()
    with pytest.raises(CredentialsRefused) as refused:
        await connect_unless_stopped(wrong_password_url(auth_nats, "notify"), "probe", stop)
    assert not is_transient(refused.value)
    assert WRONG_PASSWORD not in str(refused.value)

    down = f"nats://notify:{WRONG_PASSWORD}@127.0.0.1:{free_port()}"
    with pytest.raises(ConnectFailed) as failed:
        await connect_unless_stopped(down, "probe", stop)
    assert is_transient(failed.value)

    client = await connect_unless_stopped(auth_nats.service_url("notify"), "probe", stop)
    assert client is not None
    assert client.is_connected
    await client.close()


async def test_a_stop_ends_a_connection_attempt_that_gets_no_answer() -> None:
    stop = asyncio.Event()
    async with silent_server() as silent:
        connecting = asyncio.create_task(connect_with_retry(silent.url, "probe", stop))
        # In the handshake, where nats-py waits for the server's INFO.
        await eventually(silent.accepted, lambda count: count == 1, within=5)
        assert not connecting.done()
        began = time.monotonic()
        stop.set()
        assert await asyncio.wait_for(connecting, 1) is None
    assert time.monotonic() - began < 0.5
