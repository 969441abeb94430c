"""What must hold for a school once the system has recovered, checked against the log.

(a) Every attempt the API accepted is in the log (`attempt_log`) and in the read model.
(b) The read model equals what a rebuild makes of the log: the same pure rules
    (`evidence_of_stream`, `state_of_records`) over the school's `attempt_log`, in this process,
    so the live system is not disturbed.
(c) For each student-standard, the mastery changes in the change log (`mastery_changes`) are the
    ones an in-order replay of its stream through the projection emits: none missing, none false.
(d) The SMTP sink received one email per change and guardian: the distinct Message-IDs are exactly
    those of the replay's changes times the guardians, less those notify coalesced into another
    email of the same guardian (changes of one student arriving together are one email) that was
    itself received, or netted to nothing. A copy sent again keeps its Message-ID and counts as a
    duplicate, not as news.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from services.mastery.app import DEFAULT_POLICY
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import EvidenceRecord, StreamEvent, evidence_of_stream
from services.mastery.core.plan import GradebookEntry
from services.mastery.core.projection import resolved_policy
from services.mastery.core.student_standard import (
    StudentStandard,
    StudentStandardKey,
    state_of_records,
)
from services.notify.core.messages import message_id
from shared.contract.cloudevents import CloudEvent
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import decode_gradebook_event
from shared.contract.events.mastery import MasteryChanged
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from tests.faults.load import School
from tests.faults.system import MAIL_DOMAIN
from tests.support.memory_read_model import MemoryReadModel

_change_envelope = msgspec.json.Decoder(CloudEvent[MasteryChanged])
_state = msgspec.json.Decoder(StudentStandard)
Key = tuple[str, str]  # (student, standard)


@dataclass
class Observation:
    accepted: int = 0
    stored: int = 0  # accepted attempts found in the log
    changes: int = 0  # in the change log
    emails_expected: int = 0
    received: int = 0  # copies the sink took for this school
    duplicates: int = 0  # copies beyond the first of a Message-ID
    lost: int = 0  # expected Message-IDs never received
    problems: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.problems


@dataclass
class Log:
    """A school's part of the attempts log, decoded."""

    policies: dict[str, CalculationPolicy]  # standard -> its policy, as the log defines it
    policy_entries: list[GradebookEntry]
    streams: dict[Key, list[GradebookEntry]]
    stream_events: dict[Key, list[StreamEvent]]  # the same, as the evidence rules take them
    attempt_ids: set[str]


async def observe(connection: asyncpg.Connection, mailbox: "Mailbox", school: School,
                  accepted: set[str]) -> Observation:  # fmt: skip
    log = await _read_log(connection, school.tenant_id)
    seen = Observation(accepted=len(accepted), stored=len(accepted & log.attempt_ids))
    if seen.stored < seen.accepted:
        _problem(seen, "accepted but not in the log", accepted - log.attempt_ids)
    evidence = await _read_evidence(connection, school.tenant_id)
    in_read_model = {attempt for records in evidence.values() for attempt in records}
    _problem(seen, "accepted but not in the read model", accepted - in_read_model)
    states = await _read_states(connection, school.tenant_id)
    _compare_with_rebuild(seen, log, evidence, states)
    live = await _read_changes(connection, school.tenant_id)
    replayed = _replay(log)
    seen.changes = sum(map(len, live.values()))
    _compare_changes(seen, live, replayed)
    coalesced = await _read_coalesced(connection, school.tenant_id)
    _compare_emails(seen, mailbox, school, replayed, coalesced)
    return seen


def _problem(seen: Observation, what: str, examples: Any) -> None:
    if examples:
        shown = sorted(examples, key=str)[:3]
        seen.problems.append(f"{what}: {len(examples)} (e.g. {shown})")


async def _read_log(connection: asyncpg.Connection, tenant_id: str) -> Log:
    rows = await connection.fetch(
        "SELECT stream_version, event_id::text AS event_id, data::text AS data FROM attempt_log "
        "WHERE tenant_id = $1 ORDER BY position",
        tenant_id,
    )
    log = Log({}, [], defaultdict(list), defaultdict(list), set())
    tenant_policy: TenantPolicySet | None = None
    standards: dict[str, StandardDefined] = {}
    for row in rows:
        event = decode_gradebook_event(row["data"])
        entry = GradebookEntry(
            event=event, event_id=row["event_id"], stream_version=row["stream_version"]
        )
        if isinstance(event, StandardDefined | TenantPolicySet):
            log.policy_entries.append(entry)
            if isinstance(event, StandardDefined):
                standards[event.standard_id] = event
            else:
                tenant_policy = event
            continue
        key = (event.student_id, event.standard_id)
        log.streams[key].append(entry)
        log.stream_events[key].append((entry.stream_version, entry.event_id, event))
        if isinstance(event, AttemptRecorded):
            log.attempt_ids.add(event.attempt_id)
    for standard_id, standard in standards.items():
        log.policies[standard_id] = resolved_policy(standard, tenant_policy)
    return log


async def _read_evidence(
    connection: asyncpg.Connection, tenant_id: str
) -> dict[Key, dict[str, tuple[Any, ...]]]:
    rows = await connection.fetch(
        "SELECT student_id, standard_id, attempt_id, event_id, assessed_at, recorded_seq, "
        "status, score, points_possible, voided, corrected_version "
        "FROM mastery_evidence WHERE tenant_id = $1",
        tenant_id,
    )
    evidence: dict[Key, dict[str, tuple[Any, ...]]] = defaultdict(dict)
    for row in rows:
        evidence[(row["student_id"], row["standard_id"])][row["attempt_id"]] = tuple(row)[3:]
    return evidence


def _evidence_columns(record: EvidenceRecord) -> tuple[Any, ...]:
    item = record.evidence
    return (record.event_id, item.assessed_at, item.recorded_seq, item.status, item.score,
            item.points_possible, record.voided, record.corrected_version)  # fmt: skip


async def _read_states(connection: asyncpg.Connection, tenant_id: str) -> dict[Key, Any]:
    rows = await connection.fetch(
        "SELECT student_id, standard_id, state::text AS state FROM proficiencies "
        "WHERE tenant_id = $1",
        tenant_id,
    )
    return {(row["student_id"], row["standard_id"]): _state.decode(row["state"]) for row in rows}


def _compare_with_rebuild(
    seen: Observation,
    log: Log,
    evidence: dict[Key, dict[str, tuple[Any, ...]]],
    states: dict[Key, StudentStandard],
) -> None:
    wrong_states, wrong_evidence = [], []
    for key, stream in log.stream_events.items():
        records = evidence_of_stream(stream)
        if not records:
            continue
        tenant = stream[0][2].tenant_id
        policy = log.policies.get(key[1], DEFAULT_POLICY)
        state_key = StudentStandardKey(tenant_id=tenant, student_id=key[0], standard_id=key[1])
        rebuilt = state_of_records(state_key, records.values(), policy=policy)
        if states.get(key) != rebuilt:
            wrong_states.append((key, _standing(states.get(key)), _standing(rebuilt)))
        expected = {attempt: _evidence_columns(record) for attempt, record in records.items()}
        if evidence.get(key, {}) != expected:
            wrong_evidence.append(key)
    extra = set(states) - set(log.streams)
    _problem(seen, "read-model states that differ from a rebuild (live, rebuilt)", wrong_states)
    _problem(seen, "read-model evidence that differs from a rebuild", wrong_evidence)
    _problem(seen, "read-model states with no stream in the log", extra)


def _standing(state: StudentStandard | None) -> object:
    if state is None:
        return None
    return (state.standing.score, state.standing.level, state.evidence_count, state.last_version)


async def _read_changes(
    connection: asyncpg.Connection, tenant_id: str
) -> dict[Key, list[MasteryChanged]]:
    rows = await connection.fetch(
        "SELECT payload FROM mastery_changes WHERE tenant_id = $1 ORDER BY position", tenant_id
    )
    changes: dict[Key, list[MasteryChanged]] = defaultdict(list)
    for row in rows:
        change = _change_envelope.decode(row["payload"]).data
        changes[(change.student_id, change.standard_id)].append(change)
    return changes


def _replay(log: Log) -> dict[Key, list[MasteryChanged]]:
    """Each stream through the projection alone, one event at a time in version order, after
    the school's standards: what an in-order delivery emits."""
    now = datetime.now(UTC)
    changes: dict[Key, list[MasteryChanged]] = {}
    for key, stream in log.streams.items():
        model = MemoryReadModel(log=[*log.policy_entries, *stream])
        for entry in [*log.policy_entries, *stream]:
            model.handle([entry], default_policy=DEFAULT_POLICY, now=now)
        changes[key] = model.changes
    return changes


def _news(change: MasteryChanged) -> tuple[Any, ...]:
    """A change without the moment it was made."""
    return (change.change_id, change.previous_level, change.previous_mastered, change.level,
            change.mastered, change.score, change.reason, change.caused_by_event_id)  # fmt: skip


def _compare_changes(
    seen: Observation, live: dict[Key, list[MasteryChanged]], replayed: dict[Key, list[Any]]
) -> None:
    differing = []
    for key in set(live) | set(replayed):
        got = [_news(change) for change in live.get(key, [])]
        want = [_news(change) for change in replayed.get(key, [])]
        if got != want:
            differing.append((key, f"{len(got)} emitted", f"{len(want)} replayed"))
    _problem(seen, "student-standards whose changes differ from an in-order replay", differing)


async def _read_coalesced(connection: asyncpg.Connection, tenant_id: str) -> dict[str, str | None]:
    """Message-ID of each (change, guardian) notify folded into another email -> that email's
    Message-ID (None: netted to nothing, a change undone before it was sent)."""
    rows = await connection.fetch(
        "SELECT change_id, guardian_email, last_error FROM notifications "
        "WHERE tenant_id = $1 AND status = 'coalesced'",
        tenant_id,
    )
    folded: dict[str, str | None] = {}
    for row in rows:
        into = (row["last_error"] or "").removeprefix("coalesced into ")
        anchor = None if into == "nothing to say" else into
        key = message_id(tenant_id, row["change_id"], row["guardian_email"], MAIL_DOMAIN)
        folded[key] = anchor and message_id(tenant_id, anchor, row["guardian_email"], MAIL_DOMAIN)
    return folded


def _compare_emails(
    seen: Observation,
    mailbox: "Mailbox",
    school: School,
    replayed: dict[Key, list[Any]],
    coalesced: dict[str, str | None],
) -> None:
    every = {
        message_id(school.tenant_id, change.change_id, school.guardians[key[0]], MAIL_DOMAIN)
        for key, changes in replayed.items()
        for change in changes
    }
    received = mailbox.message_ids(f"@{school.tenant_id}.example.org")
    copies = Counter(received)
    # A change folded into another email is told by that email, which must have arrived.
    folded_into_nothing_received = {
        key for key, into in coalesced.items() if into is not None and into not in copies
    }
    _problem(seen, "coalesced into an email never received", folded_into_nothing_received)
    expected = every - coalesced.keys()
    seen.emails_expected, seen.received = len(expected), len(received)
    seen.duplicates = len(received) - len(copies)
    seen.lost = len(expected - copies.keys())
    _problem(seen, "emails expected and not received", expected - copies.keys())
    _problem(seen, "emails received that no change explains", copies.keys() - expected)


class Mailbox:
    """The sink's messages as files (every sink started on the port writes to one directory),
    read once each."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._read: dict[Path, tuple[str, str]] = {}  # file -> (To, Message-ID)
        self._parser = BytesHeaderParser()

    def message_ids(self, to_suffix: str) -> list[str]:
        if self._directory.exists():
            for path in self._directory.glob("*.eml"):
                if path not in self._read:
                    with path.open("rb") as handle:
                        headers = self._parser.parse(handle)
                    if headers["Message-ID"] is not None:  # else still being written
                        self._read[path] = (str(headers["To"]), str(headers["Message-ID"]))
        return [mid for to, mid in self._read.values() if to.endswith(to_suffix)]
