"""A gradebook's log as the attempts service writes it, for projection tests."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.mastery.core.plan import GradebookEntry
from shared.contract.events.attempts import AttemptRecorded, AttemptRescored, AttemptVoided
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.contract.grading import DEFAULT_SCALE, METHODS, Method

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
START = datetime(2026, 9, 1, tzinfo=UTC)
TENANT = "school"


@dataclass
class Gradebook:
    """Writes events as the attempts service would: stream versions per stream, unique ids."""

    versions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    entries: list[GradebookEntry] = field(default_factory=list)

    def _entry(self, stream: str, event: Any) -> GradebookEntry:
        self.versions[stream] += 1
        entry = GradebookEntry(
            event=event,
            event_id=f"event-{len(self.entries) + 1}",
            stream_version=self.versions[stream],
        )
        self.entries.append(entry)
        return entry

    def attempt(
        self, student: str, score: float | None, day: int, *, standard: str = "math.1",
        attempt_id: str | None = None,
    ) -> GradebookEntry:  # fmt: skip
        event = AttemptRecorded(
            tenant_id=TENANT, student_id=student, standard_id=standard,
            attempt_id=attempt_id or f"attempt-{len(self.entries) + 1}",
            status="scored" if score is not None else "missing",
            score=score, points_possible=4 if score is not None else None,
            assessed_at=START + timedelta(days=day), recorded_at=NOW,
        )  # fmt: skip
        return self._entry(f"{student}/{standard}", event)

    def void(self, attempt: AttemptRecorded) -> GradebookEntry:
        event = AttemptVoided(
            tenant_id=TENANT, student_id=attempt.student_id, standard_id=attempt.standard_id,
            attempt_id=attempt.attempt_id, reason="wrong student", voided_at=NOW,
        )  # fmt: skip
        return self._entry(f"{attempt.student_id}/{attempt.standard_id}", event)

    def rescore(self, attempt: AttemptRecorded, score: float) -> GradebookEntry:
        event = AttemptRescored(
            tenant_id=TENANT, student_id=attempt.student_id, standard_id=attempt.standard_id,
            attempt_id=attempt.attempt_id, score=score, points_possible=4, reason="regraded",
            rescored_at=NOW,
        )  # fmt: skip
        return self._entry(f"{attempt.student_id}/{attempt.standard_id}", event)

    def define(self, standard: str, method: Method | None) -> GradebookEntry:
        event = StandardDefined(
            tenant_id=TENANT, standard_id=standard, title=standard, scale=DEFAULT_SCALE,
            method=method, parameter=2 if method == "n_mastery" else None, defined_at=NOW,
        )  # fmt: skip
        return self._entry(f"//standards/{standard}", event)

    def tenant_default(self, method: Method) -> GradebookEntry:
        event = TenantPolicySet(
            tenant_id=TENANT, method=method, parameter=2 if method == "n_mastery" else None,
            allowed_methods=METHODS, set_at=NOW,
        )  # fmt: skip
        return self._entry("//policy", event)
