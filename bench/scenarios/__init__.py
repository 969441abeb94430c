"""The scenario registry, in the order a bench run measures them.

Batch ingest and read-model rebuild join here once `POST /v1/attempts/batch` and the rebuild
command exist.
"""

from bench.scenarios.append_comparison import AppendVersusEventsourcing
from bench.scenarios.base import Scenario
from bench.scenarios.end_to_end import EndToEnd
from bench.scenarios.ingest_single import IngestSingle
from bench.scenarios.projector import ProjectorThroughput

SCENARIOS: tuple[type[Scenario], ...] = (
    IngestSingle,
    EndToEnd,
    ProjectorThroughput,
    AppendVersusEventsourcing,
)


def scenario_names() -> list[str]:
    return [scenario.name for scenario in SCENARIOS]
