"""`mastery dev` brings the whole system up on embedded servers; a curl-like POST then GET works,
and the guardian's email links the student's family report, which the dev mastery service opens."""

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import pytest

from devtools.embedded import free_port


def _read_until(stream: IO[str], pattern: str, within: float) -> dict[str, str]:
    found: dict[str, str] = {}
    deadline = time.monotonic() + within
    lines = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        for name, value in re.findall(r"^\s*([\w ]+?):\s+(\S+)", line):
            found[name.strip()] = value
        if re.search(pattern, line):
            return found
    raise AssertionError("dev command did not finish starting:\n" + "".join(lines))


def _call(method: str, url: str, key: str, body: object | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


@pytest.mark.e2e
def test_dev_command_runs_the_system_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "NATS_URL", "SMTP_URL"}
    }
    for service in ("ATTEMPTS", "MASTERY", "NOTIFY"):
        env[f"{service}_HTTP_PORT"] = str(free_port())
    env["MAIL_DEFAULT_GRACE_SECONDS"] = "0"  # the email at once, not after the demo's half minute
    env.pop("MASTERY_PUBLIC_URL", None)
    with subprocess.Popen(
        [sys.executable, "-m", "services.cli", "dev", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            _exercise(process.stdout, tmp_path / "mail")
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0


def _exercise(stdout: IO[str], mail: Path) -> None:
    banner = _read_until(stdout, r"^API key:", within=90)
    # The embedded nats-server has users; the banner names the server, not a password.
    assert re.fullmatch(r"nats://127\.0\.0\.1:\d+", banner["NATS"]), banner["NATS"]
    key, attempts_url, mastery_url = (
        banner["API key"],
        banner["attempts API"],
        banner["mastery API"],
    )
    guardians = {"guardians": [{"email": "ana@example.org", "language": "es-MX"}]}
    assert (
        _call("PUT", f"{banner['notify API']}/v1/students/ava/guardians", key, guardians)[0] == 200
    )
    status, _ = _call("PUT", f"{attempts_url}/v1/standards/read.1", key, {"title": "Reading"})
    assert status == 201
    status, receipt = _call(
        "POST",
        f"{attempts_url}/v1/attempts",
        key,
        {
            "attempt_id": "dev-1",
            "student_id": "ava",
            "standard_id": "read.1",
            "score": 3,
            "points_possible": 4,
            "assessed_at": "2026-10-01T08:00:00Z",
        },
    )
    assert status == 201
    assert receipt["stream_version"] == 1
    deadline = time.monotonic() + 20
    standards: list[dict[str, Any]] = []
    while not standards and time.monotonic() < deadline:
        standards = _call("GET", f"{mastery_url}/v1/students/ava/mastery", key)[1]["standards"]
        time.sleep(0.1)
    assert standards[0]["mastered"] is True

    _the_emails_report_link_opens(mail, mastery_url)


def _the_emails_report_link_opens(mail: Path, mastery_url: str) -> None:
    """The guardian's email links ava's report at the dev mastery service, in Spanish."""
    deadline = time.monotonic() + 30
    while not (sent := sorted(mail.glob("*"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sent, "no email arrived"
    message = email.message_from_bytes(sent[0].read_bytes(), policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"Ver el informe completo de ava: (\S+)", body.get_content())
    assert found is not None, body.get_content()
    assert found.group(1).startswith(f"{mastery_url}/v1/family-reports/")
    with urllib.request.urlopen(found.group(1), timeout=10) as response:
        assert response.status == 200
        assert '<html lang="es">' in response.read().decode()
