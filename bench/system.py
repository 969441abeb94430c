"""The system under test: servers (embedded unless URLs are given), a fresh database, services.

The services run as `python -m services.<name>` subprocesses, exactly as `mastery dev` starts
them, on a bus namespace and a database of their own, so a bench run never touches other data.
"""

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from bench.attempt_data import E2E_STANDARD, STANDARDS, assessed_at, spread_attempt
from bench.cpu import pid_listening_on, postmaster_pid
from bench.http_client import JsonPost, KeepAliveConnection
from devtools.devstack import (
    SERVICES,
    Infrastructure,
    start_infrastructure,
    stop_services,
    wait_until_ready,
)
from devtools.embedded import EmbeddedPostgres, free_port
from services.attempts.adapters.standards_store import Saved, StandardsStore
from services.attempts.core.standards import DefineStandard
from services.mastery.adapters.projector import PROJECTOR_NAME
from services.migrations import ALL_MIGRATIONS
from services.notify.adapters.planner import PLANNER_NAME
from shared.contract.grading import DEFAULT_SCALE
from shared.platform.bus import BusNames
from shared.platform.postgres import create_pool
from shared.platform.roles import RoleUrls, passwords_from, prepare_database
from shared.platform.tenancy import create_tenant, issue_api_key

BENCH_TENANT = "bench-school"
T = TypeVar("T")
DRAIN_POLL_SECONDS = 0.2
DRAIN_REPORT_SECONDS = 5.0


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def in_scratch_database(purpose: str, run: Callable[[str], Awaitable[T]]) -> T:
    """`run(url)` in a database of its own: on DATABASE_URL's server (created, then dropped) when
    it is set, else on an embedded PostgreSQL in a temporary directory."""
    url = os.environ.get("DATABASE_URL")
    if url:
        name = f"{purpose}{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                return await run(with_database(url, name))
            finally:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    with tempfile.TemporaryDirectory() as scratch:
        postgres = EmbeddedPostgres(Path(scratch) / "postgres").start()
        try:
            return await run(postgres.url)
        finally:
            postgres.stop()


@dataclass
class BenchSystem:
    infra: Infrastructure
    namespace: str
    database_url: str = ""  # the admin's, for setting up and reading back
    roles: RoleUrls | None = None  # each service connects as its own role
    api_key: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, "subprocess.Popen[bytes]"] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)

    @property
    def nats_url(self) -> str:
        return self.infra.nats_url

    @property
    def bus(self) -> BusNames:
        return BusNames(self.namespace)

    def service_pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def server_pids(self) -> dict[str, int]:
        """The embedded servers' processes: PostgreSQL's postmaster (its backends are its
        children) and nats-server. Servers given by URL are not ours to measure: none."""
        found = {}
        if self.infra.postgres is not None:
            found["postgres"] = postmaster_pid(self.infra.postgres.data_dir)
        if self.infra.nats is not None:
            nats_pid = pid_listening_on("nats-server", self.infra.nats.port)
            if nats_pid is not None:
                found["nats-server"] = nats_pid
        return found


def start_servers(
    environ: Mapping[str, str], data_dir: Path, postgres_settings: tuple[str, ...] = ()
) -> BenchSystem:
    infra = start_infrastructure(environ, data_dir, postgres_settings)
    return BenchSystem(infra=infra, namespace=f"bench{uuid.uuid4().hex[:8]}")


async def create_database(system: BenchSystem, purpose: str) -> str:
    """A fresh, migrated database on the bench's server, dropped when the bench stops."""
    name = f"{system.namespace}_{purpose}"
    admin = await asyncpg.connect(system.infra.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    system.databases.append(name)
    url = with_database(system.infra.database_url, name)
    system.roles = await prepare_database(url, passwords_from(os.environ), ALL_MIGRATIONS)
    return url


async def create_raw_events_table(database_url: str, table: str) -> None:
    """A copy of `attempt_events` (columns, defaults, indexes) for the raw baselines."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (LIKE attempt_events "
            "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"
        )
        # The log's trigger takes each position (and transaction id); the copy has no trigger.
        await connection.execute(f"CREATE SEQUENCE IF NOT EXISTS {table}_positions")
        await connection.execute(
            f"ALTER TABLE {table} ALTER COLUMN global_position "
            f"SET DEFAULT nextval('{table}_positions')"
        )
        await connection.execute(
            f"ALTER TABLE {table} ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id()"
        )
    finally:
        await connection.close()


async def prepare_tenant(database_url: str, bus: BusNames, tenant_id: str = BENCH_TENANT) -> str:
    """Create a bench tenant, define every standard the scenarios use, return an API key."""
    connection = await asyncpg.connect(database_url)
    try:
        await create_tenant(connection, tenant_id, f"Bench School {tenant_id}")
        key = (await issue_api_key(connection, tenant_id, label="bench", scope="admin")).plaintext
    finally:
        await connection.close()
    await define_standards(database_url, bus, tenant_id, (*STANDARDS, E2E_STANDARD))
    return key


async def define_standards(
    database_url: str, bus: BusNames, tenant_id: str, standard_ids: Sequence[str]
) -> None:
    """Define standards (1-4 scale, the tenant's default method) as PUT /v1/standards does."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        store = StandardsStore(pool)
        now = datetime.now(UTC)
        for standard_id in standard_ids:
            command = DefineStandard(
                tenant_id=tenant_id, standard_id=standard_id, title=standard_id,
                scale=DEFAULT_SCALE,
            )  # fmt: skip
            saved = await store.define(command, now=now)
            if not isinstance(saved, Saved):
                raise RuntimeError(f"standard {standard_id!r} refused: {saved}")  # noqa: TRY004
    finally:
        await pool.close()


def service_env(system: BenchSystem) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NATS_URL=system.infra.nats_url,
        SMTP_URL=system.infra.smtp_url,
        BUS_NAMESPACE=system.namespace,
        # The scenarios measure capacity from one key; noisy-neighbour starts an attempts
        # service of its own with the default limit.
        RATE_LIMIT_REQUESTS="0",
        # The sink is no school relay: emails go out as fast as the mailer can send them.
        SMTP_MAX_PER_SECOND="0",
        # Notify refuses to start without one (its unsubscribe links are signed with it).
        UNSUBSCRIBE_SECRET=system.infra.unsubscribe_secret,
    )
    env.setdefault("BUS_STREAM_REPLICAS", "1")  # one embedded nats-server
    return env


def start_services(system: BenchSystem) -> None:
    system.ports = {name: free_port() for name in SERVICES}
    env = service_env(system)
    for name, port in system.ports.items():
        env[f"{name.upper()}_HTTP_PORT"] = str(port)
    assert system.roles is not None, "create_database first"
    for name in SERVICES:
        system.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env={**env, "DATABASE_URL": system.roles.services[name]},
            stderr=subprocess.DEVNULL,
        )
    for name, process in system.processes.items():
        wait_until_ready(f"http://127.0.0.1:{system.ports[name]}/health/ready", process)


def start_extra_service(
    system: BenchSystem, name: str, service: str, env_changes: Mapping[str, str]
) -> int:
    """Another instance of `service` on the bench's database and bus, stopped with the rest."""
    port = free_port()
    assert system.roles is not None, "create_database first"
    env = {
        **service_env(system),
        "DATABASE_URL": system.roles.services[service],
        f"{service.upper()}_HTTP_PORT": str(port),
        **env_changes,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"], env=env, stderr=subprocess.DEVNULL
    )
    system.processes[name] = process
    system.ports[name] = port
    wait_until_ready(f"http://127.0.0.1:{port}/health/ready", process)
    return port


WARM_UP_CONNECTIONS = 4
WARM_UP_BATCHES = 4  # per connection
WARM_UP_BATCH_SIZE = 500


async def warm_up(system: BenchSystem) -> None:
    """Post batches of 500 on four connections at once, as ingest-batch does, and let them drain.

    The first large concurrent requests grow each service's heap once; memory growth is measured
    from a checkpoint after this, so it tells whether memory grows with the events processed.
    """
    post = JsonPost("127.0.0.1", system.ports["attempts"], "/v1/attempts/batch", system.api_key)
    when = assessed_at()

    async def post_batches(connection_number: int) -> None:
        connection = await KeepAliveConnection.open("127.0.0.1", system.ports["attempts"])
        try:
            for batch in range(WARM_UP_BATCHES):
                first = (connection_number * WARM_UP_BATCHES + batch) * WARM_UP_BATCH_SIZE
                items = [
                    spread_attempt("warm-up", number, WARM_UP_BATCH_SIZE, when)
                    for number in range(first, first + WARM_UP_BATCH_SIZE)
                ]
                status, body = await connection.exchange_with_body(
                    post.request(b'{"attempts":[' + b",".join(items) + b"]}")
                )
                if status != 200:
                    raise RuntimeError(f"warm-up batch answered {status}: {body[:200]!r}")
        finally:
            await connection.close()

    await asyncio.gather(*(post_batches(number) for number in range(WARM_UP_CONNECTIONS)))
    await wait_until_drained(system, limit_seconds=300)


async def wait_until_drained(system: BenchSystem, limit_seconds: float) -> float:
    """Wait until every attempt reached the projector and every change the notifier.

    Returns the seconds it took: the backlog a scenario left behind. Every few seconds it says
    on stderr what still waits (each durable's pending messages, the logs' unrelayed rows).
    """
    started = time.monotonic()
    client = await nats.connect(system.nats_url)
    said = started
    try:
        while time.monotonic() - started < limit_seconds:
            waiting = await _still_waiting(system, client)
            if not waiting:
                return time.monotonic() - started
            if time.monotonic() - said >= DRAIN_REPORT_SECONDS:
                said = time.monotonic()
                print(f"draining, {said - started:.0f}s: {waiting}", file=sys.stderr, flush=True)
            await asyncio.sleep(DRAIN_POLL_SECONDS)
    finally:
        await client.close()
    raise TimeoutError(f"the system did not drain within {limit_seconds}s")


async def _still_waiting(system: BenchSystem, client: NatsClient) -> dict[str, int]:
    """What has not drained: each projector durable (the tenant-wide one and the partitions')
    and the planner by its pending messages, and the two relayed logs by their unrelayed rows."""
    js = client.jetstream()
    bus = system.bus
    waiting: dict[str, int] = {}
    durables = [(bus.mastery_stream, PLANNER_NAME)]
    try:
        projectors = [
            info.name
            for info in await js.consumers_info(bus.attempts_stream)
            if info.name.startswith(PROJECTOR_NAME)
        ]
    except NotFoundError:
        return {"attempts stream": 1}
    durables += [(bus.attempts_stream, name) for name in projectors]
    if PROJECTOR_NAME not in projectors:
        waiting[PROJECTOR_NAME] = 1  # not bound yet
    for stream, durable in durables:
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            waiting[durable] = 1
            continue
        if info.num_pending or info.num_ack_pending:
            waiting[durable] = (info.num_pending or 0) + (info.num_ack_pending or 0)
    connection = await asyncpg.connect(system.database_url)
    try:
        backlog: int = await connection.fetchval(
            "SELECT (SELECT count(*) FROM attempt_events WHERE (tx_id, global_position) > "
            "((SELECT tx_id FROM attempt_events_relayed), "
            "(SELECT position FROM attempt_events_relayed))) + "
            "(SELECT count(*) FROM mastery_changes WHERE (tx_id, position) > "
            "((SELECT tx_id FROM mastery_changes_relayed), "
            "(SELECT position FROM mastery_changes_relayed)))"
        )
    finally:
        await connection.close()
    if backlog:
        waiting["unrelayed rows"] = backlog
    return waiting


async def server_versions(system: BenchSystem) -> dict[str, str]:
    connection = await asyncpg.connect(system.infra.database_url)
    try:
        postgres = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    client = await nats.connect(system.nats_url)
    version = client.connected_server_version
    await client.close()
    nats_server = f"{version.major}.{version.minor}.{version.patch}"
    return {"postgresql": str(postgres), "nats-server": nats_server}


async def remove_bench_data(system: BenchSystem) -> None:
    """On given servers, leave nothing behind: drop the databases and the streams."""
    client = await nats.connect(system.nats_url)
    js = client.jetstream()
    bus = system.bus
    for stream in (bus.attempts_stream, bus.mastery_stream, bus.deadletter_stream):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    await client.close()
    admin = await asyncpg.connect(system.infra.database_url)
    try:
        for name in system.databases:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def stop_system(system: BenchSystem) -> None:
    stop_services(system.processes)
    system.processes.clear()
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        asyncio.run(remove_bench_data(system))
    system.infra.stop()


async def attempts_recorded(system: BenchSystem) -> int:
    connection = await asyncpg.connect(system.database_url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM attempt_events")
    finally:
        await connection.close()
    return count
