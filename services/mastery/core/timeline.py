"""What was true at a time, from the log alone: the evidence then known under the policy then in
force. Pure.

The log is folded in its own order (`position`), keeping only the events recorded at or before
the time asked about: `recorded_at`, not `assessed_at`, so a correction recorded later does not
apply yet. A standard's policy is resolved exactly as the live projection resolves it
(`resolved_policy`): its newest definition so far, under the tenant's newest default so far; a
standard not yet defined gets the projector's default. So the answer as of now is the live read
model's.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime

import msgspec

from services.mastery.core.calculation import CalculationPolicy, Proficiency, calculate
from services.mastery.core.evidence import EvidenceRecord, live, with_event
from services.mastery.core.plan import StandardRef
from services.mastery.core.projection import resolved_policy
from services.mastery.core.student_standard import StudentStandardKey
from shared.contract.events.attempts import LatestAttemptEvent
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.contract.events.standards import StandardDefined, TenantPolicySet


class LoggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the attempts log: the event, where it sits and when it was recorded."""

    position: int
    stream_version: int
    event_id: str
    recorded_at: datetime
    event: LatestGradebookEvent


class PolicyChange(msgspec.Struct, frozen=True, kw_only=True):
    before: CalculationPolicy
    after: CalculationPolicy


class StandingThen(msgspec.Struct, frozen=True, kw_only=True):
    """One student-standard as it stood: its evidence records and the policy in force."""

    key: StudentStandardKey
    policy: CalculationPolicy
    records: dict[str, EvidenceRecord]


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a history: an event of the stream, or a change of the policy in force (then
    `policy_change` says from what to what), with the proficiency after it."""

    key: StudentStandardKey
    logged: LoggedEvent
    policy: CalculationPolicy
    policy_change: PolicyChange | None
    proficiency: Proficiency


def key_of(event: LatestAttemptEvent) -> StudentStandardKey:
    return StudentStandardKey(
        tenant_id=event.tenant_id, student_id=event.student_id, standard_id=event.standard_id
    )


def recorded_by(log: Iterable[LoggedEvent], at: datetime | None) -> Iterator[LoggedEvent]:
    """The events recorded at or before `at` (every event when None), in log order."""
    ordered = sorted(log, key=lambda logged: logged.position)
    return iter(ordered) if at is None else (e for e in ordered if e.recorded_at <= at)


class Policies:
    """The policies in force as the log is folded: newest definitions and tenant defaults."""

    def __init__(self, default: CalculationPolicy) -> None:
        self._default = default
        self._standards: dict[StandardRef, StandardDefined] = {}
        self._tenants: dict[str, TenantPolicySet] = {}

    def apply(self, event: StandardDefined | TenantPolicySet) -> None:
        if isinstance(event, StandardDefined):
            self._standards[(event.tenant_id, event.standard_id)] = event
        else:
            self._tenants[event.tenant_id] = event

    def of(self, ref: StandardRef) -> CalculationPolicy:
        standard = self._standards.get(ref)
        if standard is None:  # attempts from before the standard existed: as the projector does
            return self._default
        return resolved_policy(standard, self._tenants.get(ref[0]))


def standings_as_of(
    log: Iterable[LoggedEvent], at: datetime | None, default: CalculationPolicy
) -> list[StandingThen]:
    """Every student-standard with an attempt on record at `at`, under the policy then in force,
    ordered by key (as the read model lists them)."""
    policies = Policies(default)
    records: dict[StudentStandardKey, dict[str, EvidenceRecord]] = {}
    for logged in recorded_by(log, at):
        event = logged.event
        if isinstance(event, StandardDefined | TenantPolicySet):
            policies.apply(event)
            continue
        key = key_of(event)
        found = records.get(key, {})
        records[key] = with_event(found, logged.stream_version, logged.event_id, event)
    # Only an attempt adds a record: a stream of corrective work alone has no standing yet.
    ordered = sorted(
        (key for key, found in records.items() if found),
        key=lambda k: (k.tenant_id, k.student_id, k.standard_id),
    )
    return [
        StandingThen(
            key=key, policy=policies.of((key.tenant_id, key.standard_id)), records=records[key]
        )
        for key in ordered
    ]


def history_of(
    log: Iterable[LoggedEvent],
    key: StudentStandardKey,
    at: datetime | None,
    default: CalculationPolicy,
) -> list[Step]:
    """Each event of one student-standard stream with the proficiency after it under the policy
    then in force, and each later change of that policy as a step of its own, in log order.
    Policy changes before the stream's first event are where it starts, not steps."""
    policies, ref = Policies(default), (key.tenant_id, key.standard_id)
    records: dict[str, EvidenceRecord] = {}
    steps: list[Step] = []
    for logged in recorded_by(log, at):
        event = logged.event
        if isinstance(event, StandardDefined | TenantPolicySet):
            before = policies.of(ref)
            policies.apply(event)
            after = policies.of(ref)
            if steps and after != before:
                change = PolicyChange(before=before, after=after)
                steps.append(_step(key, logged, after, change, records))
        elif key_of(event) == key:
            records = with_event(records, logged.stream_version, logged.event_id, event)
            steps.append(_step(key, logged, policies.of(ref), None, records))
    return steps


def _step(
    key: StudentStandardKey,
    logged: LoggedEvent,
    policy: CalculationPolicy,
    change: PolicyChange | None,
    records: dict[str, EvidenceRecord],
) -> Step:
    return Step(
        key=key,
        logged=logged,
        policy=policy,
        policy_change=change,
        proficiency=calculate(live(records), policy),
    )
