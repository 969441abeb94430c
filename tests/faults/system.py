"""The whole system for fault experiments: embedded PostgreSQL, nats-server and SMTP sink, and the
three services as real processes, each of which can be killed and started again.

Everything an experiment does to the system goes through here, so the suite and
`scripts/chaos.sh` crash things the same way. The servers keep their data directories and ports
across restarts, as a real host's do.
"""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from devtools.devstack import NATS_SYNC_INTERVAL, SERVICES
from devtools.embedded import EmbeddedNats, EmbeddedPostgres, SmtpSink, free_port
from services.migrations import ALL_MIGRATIONS
from shared.platform.roles import prepare_database
from tests.support.nats_cluster import NatsCluster
from tests.support.roles import TEST_PASSWORDS

# Settings that make a recovery quick enough to wait for in a test: a mailer's lease that ran out
# with a crash, and a transient SMTP failure, are retried after seconds rather than minutes.
FAST_RECOVERY = {
    "MAILER_LEASE": "3",
    "MAILER_FIRST_RETRY": "0.5",
    "MAILER_MAX_RETRY": "4",
    "MAILER_IDLE_INTERVAL": "0.05",
    "WORKER_RESTART_MAX_DELAY": "4",
    "SMTP_MAX_PER_SECOND": "0",  # the sink has no sending limit to respect
    # Each change emailed as soon as it is planned, at any hour (schools here set no settings).
    "MAIL_DEFAULT_GRACE_SECONDS": "0",
    "MAIL_DEFAULT_QUIET_HOURS": "",
}
MAIL_DOMAIN = "mastery.invalid"  # of the default MAIL_FROM: the domain of every Message-ID


@dataclass
class ServiceProcess:
    """One service run as `python -m services.<service>`, its output appended to a log file.
    `name` tells the instances of a service apart (`attempts`, or `attempts-2` beside it)."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    service: str = ""

    def __post_init__(self) -> None:
        self.service = self.service or self.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a process: it drains, then exits by itself."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def kill(self) -> None:
        """kill -9: no graceful shutdown, no drain, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()


@dataclass
class FaultSystem:
    scratch: Path
    postgres: EmbeddedPostgres
    nats: EmbeddedNats | NatsCluster
    smtp: SmtpSink
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5))
    env: dict[str, str] = field(default_factory=dict)  # every service process's settings
    role_urls: dict[str, str] = field(default_factory=dict)  # service -> its role's database URL

    @property
    def mail_dir(self) -> Path:
        return self.scratch / "mail"

    @classmethod
    async def start(
        cls,
        scratch: Path,
        nats: EmbeddedNats | NatsCluster | None = None,
        env: Mapping[str, str] | None = None,
        *,
        instances: int = 1,
    ) -> "FaultSystem":
        """The servers and `instances` processes of each service (the second of attempts is
        `attempts-2`: `instances_of`); `nats` a server or cluster to run them on instead of a
        server of their own (started here), and `env` settings of the services'."""
        postgres = EmbeddedPostgres(scratch / "postgres")
        await asyncio.to_thread(postgres.start)
        if nats is None:
            nats = EmbeddedNats(scratch / "nats", sync_interval=NATS_SYNC_INTERVAL)
        await asyncio.to_thread(nats.start)
        smtp = SmtpSink(mail_dir=scratch / "mail").start()
        system = cls(scratch, postgres, nats, smtp)
        roles = await prepare_database(postgres.url, TEST_PASSWORDS, ALL_MIGRATIONS)
        system.env = {**system._service_env(), **(env or {})}
        system.role_urls = dict(roles.services)
        for service in SERVICES:
            for _ in range(instances):
                system.add_instance(service).start()
        try:
            await system.wait_until_ready(within=60)
        except BaseException:
            await system.stop()
            raise
        return system

    def add_instance(self, service: str) -> ServiceProcess:
        """One more process of `service` (not started): `mastery-3` beside `mastery-2`."""
        number = len(self.instances_of(service)) + 1
        name = service if number == 1 else f"{service}-{number}"
        port = free_port()
        own = {
            **self.env,
            f"{service.upper()}_HTTP_PORT": str(port),
            # Each service as its own role; each process named in pg_stat_activity.
            "DATABASE_URL": f"{self.role_urls[service]}?application_name={name}",
            "NATS_URL": self.nats.service_url(service),
        }
        process = ServiceProcess(name, port, own, self.scratch / f"{name}.log", service=service)
        self.services[name] = process
        return process

    def _service_env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.endswith(("_URL", "_HTTP_PORT", "_NAMESPACE"))
        }
        env.update(FAST_RECOVERY)
        env.update(DATABASE_URL=self.postgres.url, SMTP_URL=self.smtp.url)
        env.setdefault("UNSUBSCRIBE_SECRET", "faults-unsubscribe-secret-of-32-characters")
        return env

    async def stop(self) -> None:
        await self.http.aclose()
        for service in self.services.values():
            await asyncio.to_thread(service.stop)
        self.smtp.stop()
        await asyncio.to_thread(self.nats.stop)
        await asyncio.to_thread(self.postgres.stop)

    # Readiness

    async def ready(self, name: str) -> bool:
        try:
            response = await self.http.get(f"{self.services[name].url}/health/ready", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def wait_until_ready(self, *names: str, within: float) -> None:
        """Until each named service (all if none) answers ready; fails naming those that did not,
        and any that exited."""
        names = names or tuple(self.services)
        deadline = time.monotonic() + within
        waiting = list(names)
        while waiting:
            waiting = [name for name in waiting if not await self.ready(name)]
            exited = {name: self.services[name].exited for name in waiting}
            if any(code is not None for code in exited.values()):
                raise ServiceExited(f"exited on their own: {exited}")
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"not ready within {within}s: {waiting}")
            await asyncio.sleep(0.1)

    def instances_of(self, service: str) -> list[ServiceProcess]:
        return [process for process in self.services.values() if process.service == service]

    def exited(self) -> dict[str, int]:
        return {
            name: code
            for name, service in self.services.items()
            if (code := service.exited) is not None
        }

    async def replace_exited(self, within: float) -> list[str]:
        """Start again any service whose process ended, as an orchestrator would; returns them."""
        replaced = list(self.exited())
        for name in replaced:
            self.services[name].start()
        await self.wait_until_ready(within=within)
        return replaced

    # Faults

    async def kill_and_restart(self, name: str, *, within: float = 60) -> None:
        self.services[name].kill()
        self.services[name].start()
        await self.wait_until_ready(name, within=within)

    async def restart_postgres_immediately(self) -> None:
        await asyncio.to_thread(self.postgres.restart_immediately)

    async def kill_nats(self) -> None:
        await asyncio.to_thread(self.nats.kill)

    async def start_nats(self) -> None:
        await asyncio.to_thread(self.nats.start)

    def stop_smtp(self) -> None:
        self.smtp.stop()

    def start_smtp(self) -> None:
        """A new sink on the same port, keeping messages in the same directory."""
        self.smtp = SmtpSink(port=self.smtp.port, mail_dir=self.mail_dir).start()

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.postgres.url)


class ServiceExited(Exception):
    """A service process ended by itself."""


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
