"""The system on a three-node JetStream cluster with every stream and consumer at three replicas:
under a load of attempts, the node leading the attempts stream is killed (SIGKILL) and started
again, then the node the projector is connected to. Nothing accepted may be lost or duplicated:
every attempt in the log and the read model, the read model equal to a rebuild, the changes those
of an in-order replay, each emailed once; and the restarted nodes' copies of the streams catch up
with the others'.

About a minute: the servers and services start, ten seconds of load, then the recovery.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from tests.faults.experiments import Fault, run_experiment
from tests.faults.load import LoadPlan
from tests.faults.system import FaultSystem, log_tail
from tests.support.nats_cluster import ClusterNode, NatsCluster, node_serving, stream_sequences
from tests.support.polling import eventually

pytestmark = pytest.mark.faults

ATTEMPTS, STUDENTS, RATE = 150, 6, 15.0  # ten seconds of load
DOWN = 3.0  # seconds the killed node stays away


class KillNodes(Fault):
    """Two rounds: the node leading the attempts stream, then the node the projector is
    connected to (its client must move to another node), each killed and started again."""

    name, title = "nats-node-kill", "kill -9 a cluster node and restart it (x2)"

    def __init__(self, cluster: NatsCluster) -> None:
        self.cluster = cluster
        self.killed: list[str] = []

    async def inject(self, system: FaultSystem) -> None:
        await asyncio.sleep(0.5)
        await self._kill_and_restart(
            await asyncio.to_thread(self.cluster.stream_leader, "ATTEMPTS")
        )
        await asyncio.sleep(1.5)
        serving = await asyncio.to_thread(node_serving, self.cluster, "mastery-projector")
        await self._kill_and_restart(serving or self.cluster.nodes[0])

    async def _kill_and_restart(self, node: ClusterNode) -> None:
        self.killed.append(node.name)
        await asyncio.to_thread(node.kill)
        await asyncio.sleep(DOWN)
        await asyncio.to_thread(node.start)


@pytest.fixture
async def cluster_system(tmp_path: Path) -> AsyncIterator[tuple[FaultSystem, NatsCluster]]:
    cluster = NatsCluster.create(tmp_path / "nats")
    system = await FaultSystem.start(
        tmp_path, nats=cluster, env={"BUS_STREAM_REPLICAS": "3", "BUS_CONSUMER_REPLICAS": "3"}
    )
    try:
        yield system, cluster
    finally:
        await system.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(cluster.stop)


async def test_a_node_killed_under_load_loses_and_duplicates_nothing(
    cluster_system: tuple[FaultSystem, NatsCluster],
) -> None:
    system, cluster = cluster_system
    fault = KillNodes(cluster)
    plan = LoadPlan(attempts=ATTEMPTS, students=STUDENTS, rate=RATE, max_seconds=30)
    outcome = await run_experiment(system, fault, plan, recover_within=60)
    logs = "\n".join(f"--- {n}\n{log_tail(s.log_path, 15)}" for n, s in system.services.items())
    assert len(fault.killed) == 2
    assert outcome.recovered, f"{outcome.problems}\n{outcome.seen}\n{logs}"
    assert not outcome.problems, f"{outcome.problems}\n{logs}"
    assert outcome.seen.accepted > ATTEMPTS * 0.9, outcome.load
    assert outcome.seen.changes > 0
    assert outcome.seen.duplicates == 0, outcome.seen
    for stream in ("ATTEMPTS", "MASTERY"):
        # The same last sequence on every node: the restarted one caught up.
        await eventually(
            partial(asyncio.to_thread, stream_sequences, cluster, stream),
            lambda sequences: len(set(sequences)) == 1 and sequences[0] > 0,
            within=30,
        )
