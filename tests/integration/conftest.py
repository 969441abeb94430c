from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devtools.embedded import EmbeddedNats
from shared.platform.bus import BusNames
from tests.support.servers import Servers


@pytest.fixture
async def auth_nats(servers: Servers, bus: BusNames, tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A nats-server with the services' users, admitting this test's namespace: the session's
    embedded one, or one of its own when the tests were given a server without our users."""
    if servers.embedded_nats is not None:
        yield servers.embedded_nats
        return
    own = EmbeddedNats(tmp_path / "nats").start()
    try:
        own.admit_namespace(bus.namespace)
        yield own
    finally:
        own.stop()
