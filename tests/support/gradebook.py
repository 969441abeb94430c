"""A gradebook's log as the attempts service writes it, for projection tests."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from services.mastery.core.plan import GradebookEntry
from shared.contract.cloudevents import CloudEvent, cloudevent_type
from shared.contract.events.attempts import AttemptRecorded, AttemptRescored, AttemptVoided
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.contract.events.standards import (
    ReassessmentPolicy,
    StandardDefined,
    TenantPolicySet,
    policy_stream_id,
    standard_stream_id,
)
from shared.contract.grading import DEFAULT_SCALE, METHODS, LetterGrade, Method
from shared.contract.ids import stream_id
from shared.platform.delivery import Delivered
from shared.platform.postgres import DbConnection

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
START = datetime(2026, 9, 1, tzinfo=UTC)
TENANT = "school"
_EVENT_IDS = uuid.UUID("0b9e8a34-5d0a-4f57-9f7e-7f1b1f1b2c3d")
_ANY_NUMBER_OF_REASSESSMENTS = ReassessmentPolicy()


@dataclass
class Gradebook:
    """Writes events as the attempts service would: stream versions per stream, unique ids."""

    versions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    entries: list[GradebookEntry] = field(default_factory=list)

    def _entry(self, stream: str, event: Any) -> GradebookEntry:
        self.versions[stream] += 1
        entry = GradebookEntry(
            event=event,
            event_id=str(uuid.uuid5(_EVENT_IDS, str(len(self.entries) + 1))),
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

    def define(
        self, standard: str, method: Method | None, *, title: str | None = None,
        case_guid: str | None = None, letters: tuple[LetterGrade, ...] | None = None,
        reassessment: ReassessmentPolicy = _ANY_NUMBER_OF_REASSESSMENTS,
    ) -> GradebookEntry:  # fmt: skip
        event = StandardDefined(
            tenant_id=TENANT, standard_id=standard, title=title or standard,
            case_guid=case_guid, scale=DEFAULT_SCALE, method=method,
            parameter=2 if method == "n_mastery" else None, defined_at=NOW, letters=letters,
            reassessment=reassessment,
        )  # fmt: skip
        return self._entry(f"//standards/{standard}", event)

    def tenant_default(
        self, method: Method, letters: tuple[LetterGrade, ...] | None = None
    ) -> GradebookEntry:
        event = TenantPolicySet(
            tenant_id=TENANT, method=method, parameter=2 if method == "n_mastery" else None,
            allowed_methods=METHODS, set_at=NOW, letters=letters,
        )  # fmt: skip
        return self._entry("//policy", event)


def log_stream_id(entry: GradebookEntry) -> str:
    """The stream an entry belongs to, as the attempts service names it."""
    event = entry.event
    if isinstance(event, StandardDefined):
        return standard_stream_id(event.tenant_id, event.standard_id)
    if isinstance(event, TenantPolicySet):
        return policy_stream_id(event.tenant_id)
    return stream_id(event.tenant_id, event.student_id, event.standard_id)


async def write_log(connection: DbConnection, entries: Sequence[GradebookEntry]) -> None:
    """Append entries to the attempts service's event store, as its recorder would."""
    encoder = msgspec.json.Encoder()
    for entry in entries:
        await connection.execute(
            "INSERT INTO attempt_events (tenant_id, stream_id, stream_version, event_id, "
            "event_type, data, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            entry.event.tenant_id,
            log_stream_id(entry),
            entry.stream_version,
            uuid.UUID(entry.event_id),
            str(type(entry.event).__struct_config__.tag),
            encoder.encode(entry.event).decode(),
            NOW,
        )


async def log_envelopes(pool: asyncpg.Pool, envelopes: Sequence[CloudEvent[Any]]) -> None:
    """Record what these envelopes announce in the event store, so the projector finds it."""
    entries = [
        GradebookEntry(
            event=envelope.data, event_id=envelope.id, stream_version=envelope.streamversion or 0
        )
        for envelope in envelopes
    ]
    async with pool.acquire() as connection:
        await write_log(connection, entries)


def delivered(entries: Sequence[GradebookEntry]) -> list[Delivered[LatestGradebookEvent]]:
    """The entries as a consumer hands them to the projector, numbered in order."""
    return [
        Delivered(
            CloudEvent[LatestGradebookEvent](
                id=entry.event_id,
                source="/test",
                type=cloudevent_type(entry.event),
                subject=f"{TENANT}/test",
                time=NOW,
                tenantid=TENANT,
                streamversion=entry.stream_version,
                data=entry.event,
            ),
            number,
        )
        for number, entry in enumerate(entries, start=1)
    ]
