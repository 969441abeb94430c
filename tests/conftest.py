import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest
from nats.js.errors import NotFoundError

from devtools.embedded import SmtpSink
from services.migrations import ALL_MIGRATIONS
from shared.platform.bus import BusNames
from shared.platform.roles import prepare_database
from tests.support.roles import TEST_PASSWORDS
from tests.support.servers import Servers, test_servers

TEMPLATE_DATABASE = "mastery_test_template"

# The test servers are single nats-servers, which refuse streams of more than one replica; the
# service processes tests start inherit this (the configs tests build say so themselves).
os.environ.setdefault("BUS_STREAM_REPLICAS", "1")


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    with test_servers() as found:
        yield found


@pytest.fixture(scope="session")
async def template_database(servers: Servers) -> str:
    """A migrated database that each test's own database is cloned from."""
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE_DATABASE}"')
    finally:
        await admin.close()
    # Roles are the cluster's, created once; the grants on the database travel with each clone.
    template_url = _with_database(servers.database_url, TEMPLATE_DATABASE)
    await prepare_database(template_url, TEST_PASSWORDS, ALL_MIGRATIONS)
    return TEMPLATE_DATABASE


@pytest.fixture
async def database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, dropped afterwards: its admin URL, for the test's
    own setup and inspection (services connect as their roles: `tests/support/roles.py`)."""
    name = f"mastery_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield _with_database(servers.database_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    assert created is not None
    yield created
    await created.close()


@pytest.fixture
async def bus(servers: Servers) -> AsyncIterator[BusNames]:
    """Streams and subjects of this test alone; deleted afterwards."""
    names = BusNames(f"t{uuid.uuid4().hex[:10]}")
    await servers.admit_namespace(names.namespace)
    yield names
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    for stream in (names.attempts_stream, names.mastery_stream, names.deadletter_stream):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    await client.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()
