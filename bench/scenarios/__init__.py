"""The scenario registry, in the order a bench run measures them."""

from bench.scenarios.append_comparison import AppendVersusEventsourcing
from bench.scenarios.base import Scenario
from bench.scenarios.end_to_end import EndToEnd
from bench.scenarios.idle import Idle
from bench.scenarios.ingest_batch import IngestBatch
from bench.scenarios.ingest_single import IngestSingle
from bench.scenarios.noisy_neighbour import NoisyNeighbour
from bench.scenarios.projector import ProjectorThroughput
from bench.scenarios.projector_scaleout import ProjectorScaleOut
from bench.scenarios.rebuild import Rebuild

SCENARIOS: tuple[type[Scenario], ...] = (
    Idle,
    IngestSingle,
    IngestBatch,
    EndToEnd,
    ProjectorThroughput,
    ProjectorScaleOut,
    AppendVersusEventsourcing,
    Rebuild,
    NoisyNeighbour,
)


def scenario_names() -> list[str]:
    return [scenario.name for scenario in SCENARIOS]
