from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.system import FaultSystem


@pytest.fixture(scope="session")
async def fault_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultSystem]:
    """One system for every experiment (each has a school of its own): servers of its own, which
    the experiments crash and restart, never the session's shared ones."""
    scratch: Path = tmp_path_factory.mktemp("faults")
    system = await FaultSystem.start(scratch)
    yield system
    await system.stop()
