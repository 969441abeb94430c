"""Fuzz each service's OpenAPI document with schemathesis: no input may cause a 5xx.

The services run as they are deployed (`python -m services.<name>` processes on real PostgreSQL,
NATS and an SMTP sink); schemathesis derives requests from each `/schema/openapi.json`, valid
and invalid, with a real tenant key. Every answer must be below 500, and every error a
problem+json document.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from devtools.devstack import stop_services, wait_until_ready
from devtools.embedded import SmtpSink, free_port
from shared.platform.tenancy import create_tenant, issue_api_key
from tests.support.servers import Servers

SERVICES = ("attempts", "mastery", "notify")
EXAMPLES_PER_OPERATION = 100
# Characters a path parameter must never smuggle into an id, a log line or a header: C0 and C1
# controls, ESC, bidi overrides, zero-width and no-break spaces, Unicode line separators.
SNEAKY = [
    "\n",
    "\r",
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\xa0",
    "\u200b",
    "\u202e",
    "\u2028",
    "\ufeff",
]
sneaky_text = st.tuples(st.text(max_size=8), st.sampled_from(SNEAKY), st.text(max_size=8)).map(
    "".join
)


@pytest.fixture(scope="module")
async def fuzz_database(servers: Servers, template_database: str) -> AsyncIterator[str]:
    name = f"mastery_fuzz_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield servers.database_url.rsplit("/", 1)[0] + f"/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def fuzz_auth(fuzz_database: str) -> dict[str, str]:
    connection = await asyncpg.connect(fuzz_database)
    try:
        await create_tenant(connection, "fuzz", "Fuzz School")
        key = await issue_api_key(connection, "fuzz", "schemathesis", scope="admin")
    finally:
        await connection.close()
    return {"Authorization": f"Bearer {key.plaintext}"}


@pytest.fixture(scope="module")
def service_urls(fuzz_database: str, servers: Servers) -> Iterator[dict[str, str]]:
    sink = SmtpSink().start()
    ports = {name: free_port() for name in SERVICES}
    env = dict(os.environ)
    env.update(
        DATABASE_URL=fuzz_database,
        NATS_URL=servers.nats_url,
        SMTP_URL=sink.url,
        BUS_NAMESPACE=f"f{uuid.uuid4().hex[:10]}",
        # The fuzzer sends as fast as it can with one key; the limit has tests of its own.
        RATE_LIMIT_REQUESTS="0",
        UNSUBSCRIBE_SECRET="fuzz-unsubscribe-secret-of-32-characters",
        **{f"{name.upper()}_HTTP_PORT": str(port) for name, port in ports.items()},
    )
    processes = {
        name: subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env)
        for name in SERVICES
    }
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, process in processes.items():
            wait_until_ready(f"{urls[name]}/health/ready", process)
        yield urls
    finally:
        stop_services(processes)
        sink.stop()


FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _with_sneaky_path_parameter(drawn: tuple[Any, str]) -> Any:
    """A valid request with its first path parameter (if it has one) holding a control, format
    or separator character."""
    case, text = drawn
    if case.path_parameters:
        first = next(iter(case.path_parameters))
        case.path_parameters[first] = text
    return case


def _fuzz_operation(
    operation: Any,
    base_url: str,
    auth: dict[str, str],
    statuses: list[int],
    sneaky_statuses: list[int],
) -> None:
    valid = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    valid_and_invalid = (
        valid
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        | st.tuples(valid, sneaky_text).map(_with_sneaky_path_parameter)
    )

    @FUZZ
    @given(case=valid_and_invalid)
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, headers=auth, timeout=10)
        statuses.append(response.status_code)
        assert response.status_code < 500, (operation.label, response.text)
        values = (case.path_parameters or {}).values()
        if any(char in str(value) for value in values for char in SNEAKY):
            sneaky_statuses.append(response.status_code)
            # Text holding `/`, `?` or `#` cuts the path: what is left may name another route or
            # a valid id (`0?\n` is `/v1/standards/0`), so any non-5xx answer is right there.
            cuts_the_path = any(char in str(value) for value in values for char in "/?#")
            if not cuts_the_path:
                assert response.status_code in (400, 404, 422), (
                    operation.label,
                    case.path_parameters,
                )
        if response.status_code >= 400:
            [content_type] = response.headers["content-type"]
            assert content_type.startswith("application/problem+json"), (
                operation.label,
                content_type,
            )

    check()


@pytest.mark.parametrize("service", SERVICES)
def test_no_generated_request_gets_a_5xx(
    service: str, service_urls: dict[str, str], fuzz_auth: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{service_urls[service]}/schema/openapi.json")
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results  # the schema is valid
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 3  # the service's routes and its health checks
    statuses: list[int] = []
    sneaky_statuses: list[int] = []
    for operation in operations:
        _fuzz_operation(operation, service_urls[service], fuzz_auth, statuses, sneaky_statuses)
    # The fuzz reached the handlers with valid requests and the validation with invalid ones.
    assert any(status < 300 for status in statuses)
    assert any(status == 422 for status in statuses)
    # Path parameters holding control, format or separator characters reached the service.
    assert len(sneaky_statuses) >= 20, sneaky_statuses


# Enough examples per operation for every check to meet each documented status, few enough that
# the three services take about a minute together.
CLI_EXAMPLES = 25


@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_with_all_checks_reports_no_failure(
    service: str, service_urls: dict[str, str], fuzz_auth: dict[str, str], tmp_path: Path
) -> None:
    """The run a vendor would make: `st run --checks all` on the served document, with a key.

    Beyond no 5xx, every status, content type, header and body must be the one the document
    says, unknown fields and bad methods must be refused, and a refused request must not have
    changed anything it should not.
    """
    command = [
        str(Path(sys.executable).with_name("st")), "run",
        f"{service_urls[service]}/schema/openapi.json",
        "--checks", "all",
        "--header", f"Authorization:{fuzz_auth['Authorization']}",
        "--max-examples", str(CLI_EXAMPLES),
        "--seed", "19",
        "--workers", "1",
        "--request-timeout", "10",
        "--generation-database", "none",
        "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
