"""`mastery dev`: the whole system on one machine, on embedded servers unless URLs are given."""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from devtools.embedded import EmbeddedNats, EmbeddedPostgres, SmtpSink, free_port
from services.migrations import ALL_MIGRATIONS
from shared.platform.config import redacted
from shared.platform.roles import RoleUrls, passwords_from
from shared.platform.roles import prepare_database as prepare_roles_and_migrate
from shared.platform.tenancy import IssuedKey, create_tenant, issue_api_key

SERVICES = ("attempts", "mastery", "notify")
DEV_GRACE_SECONDS = 30
DEFAULT_PORTS = {"attempts": 8001, "mastery": 8002, "notify": 8003}
# JetStream syncs each write to disk before acknowledging it, as deploy/nats-server.conf runs it.
NATS_SYNC_INTERVAL = "always"


@dataclass
class Infrastructure:
    database_url: str
    nats_url: str
    smtp_url: str
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None
    smtp: SmtpSink | None = None
    unsubscribe_secret: str = field(default="", repr=False)
    report_link_secret: str = field(default="", repr=False)

    def service_nats_url(self, service: str) -> str:
        """The service's own NATS user on the embedded server; a given NATS_URL serves all."""
        return self.nats.service_url(service) if self.nats else self.nats_url

    def stop(self) -> None:
        for server in (self.smtp, self.nats, self.postgres):
            if server is not None:
                server.stop()


def start_infrastructure(
    environ: Mapping[str, str], data_dir: Path, postgres_settings: tuple[str, ...] = ()
) -> Infrastructure:
    """Use the servers named by DATABASE_URL / NATS_URL / SMTP_URL; embed the missing ones (an
    embedded PostgreSQL with `postgres_settings`)."""
    infra = Infrastructure(
        database_url=environ.get("DATABASE_URL", ""),
        nats_url=environ.get("NATS_URL", ""),
        smtp_url=environ.get("SMTP_URL", ""),
        unsubscribe_secret=environ.get("UNSUBSCRIBE_SECRET") or dev_secret(data_dir),
        report_link_secret=environ.get("REPORT_LINK_SECRET")
        or dev_secret(data_dir, "report_link_secret"),
    )
    if not infra.database_url:
        infra.postgres = EmbeddedPostgres(data_dir / "postgres", settings=postgres_settings).start()
        infra.database_url = infra.postgres.url
    if not infra.nats_url:
        infra.nats = EmbeddedNats(data_dir / "nats", sync_interval=NATS_SYNC_INTERVAL).start()
        infra.nats_url = infra.nats.url
    if not infra.smtp_url:
        infra.smtp = SmtpSink(mail_dir=data_dir / "mail").start()
        infra.smtp_url = infra.smtp.url
    return infra


def dev_secret(data_dir: Path, name: str = "unsubscribe_secret") -> str:
    """A signing secret for development (notify's UNSUBSCRIBE_SECRET, mastery's
    REPORT_LINK_SECRET): made once and kept in the data directory (readable by its owner only),
    so the links made earlier still work."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="ascii")
    return path.read_text(encoding="ascii").strip()


async def prepare_database(
    database_url: str, tenant_id: str, environ: Mapping[str, str]
) -> tuple[IssuedKey, RoleUrls]:
    """With the admin's URL: the roles, the migrations as the owner, then the demo tenant and
    its key (written by the owner: the services may only read keys). The roles' passwords come
    from GRADEBOOK_<ROLE>_PASSWORD when set; the embedded server trusts loopback connections."""
    roles = await prepare_roles_and_migrate(database_url, passwords_from(environ), ALL_MIGRATIONS)
    connection = await asyncpg.connect(roles.owner)
    try:
        await create_tenant(connection, tenant_id, "Demo School")
        return await issue_api_key(connection, tenant_id, label="mastery dev", scope="admin"), roles
    finally:
        await connection.close()


def service_environments(
    infra: Infrastructure, ports: Mapping[str, int], database_urls: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Each service's environment: its own database role, the shared servers."""
    env = dict(os.environ)
    env.update(NATS_URL=infra.nats_url, SMTP_URL=infra.smtp_url)
    env["UNSUBSCRIBE_SECRET"] = infra.unsubscribe_secret
    # One secret for both: mastery opens the report links notify puts in its emails.
    env["REPORT_LINK_SECRET"] = infra.report_link_secret
    env.setdefault("MASTERY_PUBLIC_URL", f"http://127.0.0.1:{ports['mastery']}")
    # A demo's emails arrive within half a minute at any hour, unless the environment says
    # otherwise (deployed, a tenant's changes wait 10 minutes and quiet hours hold them).
    env.setdefault("MAIL_DEFAULT_GRACE_SECONDS", str(DEV_GRACE_SECONDS))
    env.setdefault("MAIL_DEFAULT_QUIET_HOURS", "")
    # One nats-server keeps one replica of a stream (deployed, three nodes keep three).
    env.setdefault("BUS_STREAM_REPLICAS", "1")
    for name, port in ports.items():
        env[f"{name.upper()}_HTTP_PORT"] = str(port)
    return {name: {**env, "DATABASE_URL": database_urls[name]} for name in SERVICES}


def start_services(
    infra: Infrastructure, ports: Mapping[str, int], database_urls: Mapping[str, str]
) -> dict[str, subprocess.Popen[bytes]]:
    envs = service_environments(infra, ports, database_urls)
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env={**envs[name], "NATS_URL": infra.service_nats_url(name)},
        )
        for name in SERVICES
    }
    for name, process in processes.items():
        wait_until_ready(f"http://127.0.0.1:{ports[name]}/health/ready", process)
    return processes


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the service exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} not ready within {timeout}s")


def stop_services(processes: Mapping[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes.values():
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def pick_ports(environ: Mapping[str, str]) -> dict[str, int]:
    ports = {}
    for name in SERVICES:
        configured = environ.get(f"{name.upper()}_HTTP_PORT")
        ports[name] = int(configured) if configured else DEFAULT_PORTS[name]
    if any(not _port_free(port) for port in ports.values()):
        ports = {name: free_port() for name in SERVICES}
    return ports


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def run_dev(environ: Mapping[str, str], data_dir: Path, tenant_id: str) -> int:
    infra = start_infrastructure(environ, data_dir)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        key, roles = asyncio.run(prepare_database(infra.database_url, tenant_id, environ))
        ports = pick_ports(environ)
        processes = start_services(infra, ports, roles.services)
        print(banner(infra, ports, key, data_dir), flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        print("a service exited; stopping everything", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    else:
        return 1
    finally:
        stop_services(processes)
        infra.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def banner(infra: Infrastructure, ports: Mapping[str, int], key: IssuedKey, data_dir: Path) -> str:
    """What `mastery dev` prints once everything runs. The server URLs lose their credentials
    (DATABASE_URL and SMTP_URL may carry passwords); the demo tenant's API key is the point."""
    lines = [
        "Mastery is running. Ctrl-C stops everything.",
        f"  attempts API: http://127.0.0.1:{ports['attempts']}  (OpenAPI: /schema)",
        f"  mastery API:  http://127.0.0.1:{ports['mastery']}",
        f"  notify API:   http://127.0.0.1:{ports['notify']}",
        f"  PostgreSQL:   {redacted(infra.database_url)} (services as gradebook_<service>)",
        # Without credentials: each service has its own user, and the admin's is for tools.
        f"  NATS:         {infra.nats.address if infra.nats else redacted(infra.nats_url)}"
        + (f"  (monitoring: {infra.nats.monitor_url})" if infra.nats else ""),
        f"  SMTP:         {redacted(infra.smtp_url)}"
        + (f"  (messages kept in {data_dir / 'mail'})" if infra.smtp else ""),
        f"  family reports: mastery report link --tenant {key.tenant_id} --student <id>, with "
        f"MASTERY_PUBLIC_URL=http://127.0.0.1:{ports['mastery']} and REPORT_LINK_SECRET "
        f"(in {data_dir / 'report_link_secret'} unless given)",
        f"Tenant: {key.tenant_id}",
        f"API key: {key.plaintext}",
    ]
    return "\n".join(lines)
