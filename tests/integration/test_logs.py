"""Log lines a client cannot forge, and URLs printed without their credentials."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from devtools.devstack import Infrastructure, banner, stop_services, wait_until_ready
from devtools.embedded import free_port
from shared.platform.bus import BusNames
from shared.platform.tenancy import IssuedKey
from tests.support.servers import Servers
from tests.support.tenants import new_tenant

FORGED = '{"level":"critical","event":"forged"}'
# What a client sends: a newline, then a whole fake log record, percent-encoded in the path.
FORGING_PATH = (
    "/v1/students/maya%0A%7B%22level%22%3A%22critical%22%2C%22event%22%3A%22forged%22%7D"
    "%1B%5B2J/mastery"
)


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"postgres:{password}@{parts.hostname}:{parts.port}"))


async def test_a_newline_in_a_path_is_escaped_inside_one_json_log_line(
    database_url: str, servers: Servers, bus: BusNames, pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    port = free_port()
    env = dict(os.environ) | {
        # The embedded server trusts local connections: the password is never checked, only
        # carried, as a deployment's would be.
        "DATABASE_URL": _with_password(database_url, "s3cret-pw"),
        "NATS_URL": servers.nats_url,
        "BUS_NAMESPACE": bus.namespace,
        "MASTERY_HTTP_PORT": str(port),
    }
    answer, output = _one_request_to_a_service_process(env, port, FORGING_PATH, auth)
    assert answer.status_code in (400, 422), answer.text
    lines = output.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one whole JSON object
    [request] = [record for record in records if "maya" in json.dumps(record)]
    assert request["path"] == "/v1/students/maya\n" + FORGED + "\x1b[2J/mastery"
    assert request["status"] == answer.status_code
    [line] = [line for line in lines if "maya" in line]
    assert 'maya\\n{\\"level\\"' in line
    assert "\\u001b[2J" in line
    assert not any(record.get("event") == "forged" for record in records)
    assert "s3cret-pw" not in output


async def test_a_request_id_comes_back_and_names_the_request_and_its_tenant_in_the_log(
    database_url: str, servers: Servers, bus: BusNames, pool: asyncpg.Pool
) -> None:
    tenant, auth = await new_tenant(pool)
    port = free_port()
    env = dict(os.environ) | {
        "DATABASE_URL": database_url,
        "NATS_URL": servers.nats_url,
        "BUS_NAMESPACE": bus.namespace,
        "MASTERY_HTTP_PORT": str(port),
    }
    headers = auth | {"X-Request-ID": "lms-sync-7f3a"}
    answer, output = _one_request_to_a_service_process(
        env, port, "/v1/students/maya/mastery", headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-ID"] == "lms-sync-7f3a"
    records = [json.loads(line) for line in output.splitlines()]
    [access] = [r for r in records if r.get("request_id") == "lms-sync-7f3a"]
    assert access["logger"] == "mastery.access"
    assert (access["tenant"], access["path"], access["status"]) == (tenant, answer.url.path, 200)
    assert auth["Authorization"].split()[1] not in output


def _one_request_to_a_service_process(
    env: dict[str, str], port: int, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, str]:
    """Run `python -m services.mastery` as deployed, send one GET, stop it: the answer and all
    the process wrote to stderr."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.mastery"], env=env, stderr=stderr
        )
        try:
            wait_until_ready(f"http://127.0.0.1:{port}/health/ready", process)
            answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers)
        finally:
            stop_services({"mastery": process})
        stderr.seek(0)
        return answer, stderr.read().decode()


def test_the_dev_banner_shows_no_password() -> None:
    infra = Infrastructure(
        database_url="postgresql://app:db-pw-1@db.internal:5432/mastery",
        nats_url="nats://nats-token-2@nats.internal:4222",
        smtp_url="smtps://mailer:smtp-pw-3@smtp.internal:465",
    )
    key = IssuedKey(
        key_id="k1", tenant_id="demo", scope="admin", label="mastery dev", plaintext="mk_demo_key"
    )
    text = banner(infra, {"attempts": 1, "mastery": 2, "notify": 3}, key, Path("var/dev"))
    for secret in ("db-pw-1", "nats-token-2", "smtp-pw-3", "app:", "mailer:"):
        assert secret not in text
    assert "postgresql://***@db.internal:5432/mastery" in text
    assert "smtps://***@smtp.internal:465" in text
    assert "API key: mk_demo_key" in text  # the one secret the banner is for
