"""deploy/kubernetes: every manifest valid against the Kubernetes API's schemas (offline, with
kubernetes-validate), with the probes, budgets, resources and secrets a deployment needs; the
NATS StatefulSet runs the shipped configuration and its nodes form a JetStream cluster."""

import copy
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devtools.embedded import nats_server_binary
from tests.deploy.cluster import attempts_stream_on_every_node, shipped_cluster

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").rglob("*.yaml"))
# The oldest Kubernetes release still supported upstream when this was written, and the newest
# the validator knows.
VERSIONS = ["1.31.0", kubernetes_validate.latest_version()]
SERVICES = ("attempts", "mastery", "notify")


def _documents() -> list[dict[str, Any]]:
    return [
        document
        for path in MANIFESTS
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def _named(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in _documents() if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_each_manifest_is_valid(path: Path, version: str) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_refuses_what_kubernetes_would() -> None:
    deployment = copy.deepcopy(_named("Deployment", "attempts"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")  # a misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def _container(service: str) -> dict[str, Any]:
    container: dict[str, Any] = _named("Deployment", service)["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_several_probed_bounded_instances(service: str) -> None:
    deployment = _named("Deployment", service)
    assert deployment["spec"]["replicas"] >= 2
    container = _container(service)
    assert container["command"] == ["python", "-m", f"services.{service}"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = _named("PodDisruptionBudget", service)["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert _named("Service", service)["spec"]["selector"].items() <= labels.items()


# What a pod needs after SIGTERM (docs: deploy/README.md, "Several instances, and draining"):
# the slowest request a client waits for, then the workers' `WORKER_STOP_TIMEOUT` (3 s).
DRAIN_SECONDS = 3 + 10


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_keeps_serving_until_its_endpoints_are_gone(service: str) -> None:
    """A preStop sleep holds SIGTERM back until the Service no longer routes to the pod, and
    the grace period (which counts the sleep) leaves the drain its time after it."""
    pod = _named("Deployment", service)["spec"]["template"]["spec"]
    command = _container(service)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert pause >= 3
    assert pod["terminationGracePeriodSeconds"] > pause + DRAIN_SECONDS


def test_secrets_are_referenced_never_shipped() -> None:
    assert all(document["kind"] != "Secret" for document in _documents())
    for service in SERVICES:
        variables = {item["name"]: item for item in _container(service)["env"]}
        for name in ("DATABASE_URL", "NATS_URL"):
            assert "secretKeyRef" in variables[name]["valueFrom"], name
    notify = {item["name"]: item for item in _container("notify")["env"]}
    for name in ("UNSUBSCRIBE_SECRET", "SMTP_PASSWORD", "SMTP_URL"):
        assert "secretKeyRef" in notify[name]["valueFrom"], name


def test_mastery_opens_the_report_links_notify_makes() -> None:
    """One secret and one public address of the mastery service for both."""
    keys = set()
    for service in ("mastery", "notify"):
        container = _container(service)
        variables = {item["name"]: item for item in container["env"]}
        ref = variables["REPORT_LINK_SECRET"]["valueFrom"]["secretKeyRef"]
        keys.add((ref["name"], ref["key"]))
        assert {"configMapRef": {"name": "gradebook-config"}} in container["envFrom"]
    assert keys == {("gradebook-report-links", "secret")}
    shared = _named("ConfigMap", "gradebook-config")["data"]
    assert shared["MASTERY_PUBLIC_URL"].startswith("https://")
    assert float(shared["REPORT_LINK_DAYS"]) > 0


def test_a_job_applies_the_migrations_as_the_owner() -> None:
    job = next(d for d in _documents() if d["kind"] == "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mastery", "migrate"]
    assert [item["name"] for item in container["env"]] == ["MIGRATION_DATABASE_URL"]


def test_the_services_keep_three_replicas_of_each_stream() -> None:
    config = _named("ConfigMap", "gradebook-config")["data"]
    assert config["BUS_STREAM_REPLICAS"] == "3"
    for service in SERVICES:
        sources = _container(service)["envFrom"]
        assert {"configMapRef": {"name": "gradebook-config"}} in sources


def _nats_config() -> str:
    data: dict[str, str] = _named("ConfigMap", "nats-config")["data"]
    return data["nats-server.conf"]


def test_nats_runs_the_shipped_configuration() -> None:
    assert _nats_config() == (DEPLOY / "nats-server.conf").read_text()


def test_every_shipped_nats_configuration_syncs_always_and_parses(tmp_path: Path) -> None:
    embedded = tmp_path / "configmap.conf"
    embedded.write_text(_nats_config())
    passwords = {f"NATS_{user}_PASSWORD": "x" for user in ("ATTEMPTS", "MASTERY", "NOTIFY", "SIS")}
    for config in (DEPLOY / "nats-server.conf", embedded):
        text = config.read_text()
        jetstream = text[text.index("jetstream {") : text.index("}", text.index("jetstream {"))]
        assert "sync_interval: always" in jetstream
        answer = subprocess.run(
            [nats_server_binary(), "-t", "-c", str(config)],
            capture_output=True, text=True, timeout=30, check=False, env=passwords,
        )  # fmt: skip
        assert answer.returncode == 0, answer.stderr


async def test_the_nats_statefulset_forms_a_jetstream_cluster(tmp_path: Path) -> None:
    statefulset = _named("StatefulSet", "nats")["spec"]
    assert statefulset["replicas"] == 3
    assert _named("PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1
    arguments = statefulset["template"]["spec"]["containers"][0]["args"]
    service = statefulset["serviceName"]
    pods = [f"nats-{ordinal}" for ordinal in range(statefulset["replicas"])]
    nodes = {
        f"{pod}.{service}": [argument.replace("$(POD_NAME)", pod) for argument in arguments]
        for pod in pods
    }
    passwords = {f"NATS_{u}_PASSWORD": f"pw-{u}" for u in ("ATTEMPTS", "MASTERY", "NOTIFY", "SIS")}
    config = tmp_path / "nats-server.conf"
    config.write_text(_nats_config())
    with shipped_cluster(tmp_path / "nodes", nodes, config, passwords) as hosts:
        await attempts_stream_on_every_node(hosts, passwords["NATS_ATTEMPTS_PASSWORD"])
