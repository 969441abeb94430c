"""deploy/compose.yaml: valid for `docker-compose config`, with what a deployment needs, and
its NATS nodes, run here with their own arguments, form a JetStream cluster that keeps the
services' streams on three nodes."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.cluster import attempts_stream_on_every_node, shipped_cluster

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("attempts", "mastery", "notify")
NATS_PASSWORDS = {
    f"NATS_{user.upper()}_PASSWORD": f"pw-{user}"
    for user in ("attempts", "mastery", "notify", "sis")
}


def _compose(*arguments: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: run scripts/setup.sh (Debian's package)")
    return subprocess.run(
        [binary, "--env-file", str(DEPLOY / "env.example"), "-f", str(DEPLOY / "compose.yaml"),
         *arguments],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The file as docker-compose reads it: anchors merged, variables from env.example."""
    answer = _compose("config")
    assert answer.returncode == 0, answer.stderr
    config: dict[str, Any] = yaml.safe_load(answer.stdout)
    return config


def test_docker_compose_finds_the_file_valid(resolved: dict[str, Any]) -> None:
    assert _compose("config", "--quiet").returncode == 0


def test_docker_compose_refuses_a_file_that_is_not(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    text = (DEPLOY / "compose.yaml").read_text()
    broken.write_text(
        text.replace("    restart: unless-stopped\n", "    restart: [sometimes]\n", 1)
    )
    binary = shutil.which("docker-compose")
    assert binary is not None
    answer = subprocess.run(
        [binary, "--env-file", str(DEPLOY / "env.example"), "-f", str(broken), "config", "-q"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert answer.returncode != 0


def test_two_instances_of_each_service_from_one_image(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    images = set()
    for name in SERVICES:
        instances = [services[f"{name}-{n}"] for n in (1, 2)]
        for instance in instances:
            assert instance["command"] == ["python", "-m", f"services.{name}"]
            assert instance["environment"]["BUS_STREAM_REPLICAS"] == "3"
            assert (
                instance["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
            )
            images.add(instance["image"])
    assert len(images) == 1


def test_migrations_run_once_before_the_services(resolved: dict[str, Any]) -> None:
    migrate = resolved["services"]["migrate"]
    assert migrate["restart"] == "no"
    assert "mastery migrate" in " ".join(migrate["command"])
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_postgres_and_an_smtp_relay_placeholder(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    for name in ("notify-1", "notify-2"):
        assert services[name]["environment"]["SMTP_URL"] == "smtp://smtp:1025"
    assert "smtp" in services


def test_mastery_opens_the_report_links_notify_makes(resolved: dict[str, Any]) -> None:
    """One secret, lifetime and public address of the mastery service for both."""
    names = ("REPORT_LINK_SECRET", "REPORT_LINK_DAYS", "MASTERY_PUBLIC_URL")
    seen = {
        tuple(resolved["services"][f"{service}-{n}"]["environment"][name] for name in names)
        for service in ("mastery", "notify")
        for n in (1, 2)
    }
    assert len(seen) == 1
    ((secret, days, url),) = seen
    assert len(secret) >= 32
    assert float(days) > 0
    assert url.startswith("http")


def _mount(volume: str | dict[str, str]) -> tuple[str, str]:
    """(target, source) of a volume in either of compose's syntaxes."""
    if isinstance(volume, dict):
        return volume["target"], volume["source"]
    source, target, *_ = volume.split(":")
    return target, source


def _nats_nodes(resolved: dict[str, Any]) -> dict[str, list[str]]:
    nodes = {
        name: service for name, service in resolved["services"].items() if name.startswith("nats-")
    }
    for service in nodes.values():
        mounts = dict(_mount(volume) for volume in service["volumes"])
        assert Path(mounts["/etc/nats/nats-server.conf"]) == DEPLOY / "nats-server.conf"
        assert "/data" in mounts  # the configuration's store_dir lives on a volume
        assert "nats" in service["networks"]["default"]["aliases"]
    return {name: service["command"] for name, service in nodes.items()}


async def test_the_nats_nodes_form_a_jetstream_cluster_that_keeps_three_replicas(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    nodes = _nats_nodes(resolved)
    assert len(nodes) == 3
    with shipped_cluster(tmp_path, nodes, DEPLOY / "nats-server.conf", NATS_PASSWORDS) as hosts:
        await attempts_stream_on_every_node(hosts, NATS_PASSWORDS["NATS_ATTEMPTS_PASSWORD"])
