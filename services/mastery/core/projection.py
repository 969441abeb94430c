"""The mastery projection: a batch of any gradebook event in, one plan of writes out. Pure.

`project(batch, loaded)` answers what else it needs loaded (`NeedsLoading`), that the read model
does not match the log (`NotYetApplicable`), or a `Plan`: the evidence to write, the states to
save, the policies to store and the `MasteryChanged` events, all decided here. The shell's loop is
short: lock, load, project, load more if asked, write the plan once, ack.

The bus is a doorbell: an event on it says which stream has news, never what the news is. Each
student-standard stream is applied from the attempts log, strictly in stream-version order, from
the version its state reflects up to the newest the batch rang for; a standard's or a tenant's
policy is its newest definition in the log. So redelivery order, lost messages and a crash mid-
batch never change what is applied or emitted, and an event that is not in the log never is.
"""

from collections.abc import Sequence
from datetime import datetime

import msgspec

from services.mastery.core.calculation import CalculationPolicy, validate_policy
from services.mastery.core.evidence import corrected, evidence_of_stream, live, record_of_attempt
from services.mastery.core.plan import (
    AttemptRef,
    Batch,
    EvidenceRow,
    GradebookEntry,
    Loaded,
    NeedsLoading,
    NotYetApplicable,
    Plan,
    Projected,
    StandardPolicy,
    StandardRef,
)
from services.mastery.core.student_standard import (
    ChangeCause,
    NeedsHistory,
    StudentStandard,
    StudentStandardKey,
    change_between,
    empty_state,
    fold_attempt,
    newest_evidence,
    state_of_records,
)
from shared.contract.events.attempts import (
    AttemptEvent,
    AttemptRecorded,
    AttemptRescored,
    AttemptVoided,
)
from shared.contract.events.mastery import MasteryChanged
from shared.contract.events.standards import StandardDefined, TenantPolicySet, effective_policy

_CORRECTIONS = (AttemptVoided, AttemptRescored)


def project(
    batch: Batch,
    loaded: Loaded,
    *,
    default_policy: CalculationPolicy,
    now: datetime,
) -> Projected:
    """Project a batch in stream order onto what was loaded for the keys it touches."""
    missing = batch.needs - loaded.asked
    if missing:
        return missing
    fold = _Fold(loaded, validate_policy(default_policy), now)
    for entry in batch.entries:
        fold.apply(entry)
    return fold.outcome()


def key_of(event: AttemptEvent) -> StudentStandardKey:
    return StudentStandardKey(
        tenant_id=event.tenant_id, student_id=event.student_id, standard_id=event.standard_id
    )


def batch_of(entries: Sequence[GradebookEntry]) -> Batch:
    return Batch(tuple(entries), needs_of(entries))


def needs_of(batch: Sequence[GradebookEntry]) -> NeedsLoading:
    """What any batch needs before its fold starts; the fold may ask for more."""
    rung: dict[StudentStandardKey, int] = {}
    histories, refs, latest, tenants, tenants_standards = set(), set(), set(), set(), set()
    for entry in batch:
        event = entry.event
        if isinstance(event, AttemptEvent):
            key = key_of(event)
            rung[key] = max(rung.get(key, 0), entry.stream_version)
            refs.add((event.tenant_id, event.standard_id))
            if isinstance(event, _CORRECTIONS):
                histories.add(key)  # a correction recalculates from the whole evidence
        elif isinstance(event, StandardDefined):
            ref = (event.tenant_id, event.standard_id)
            refs.add(ref)
            latest.add(ref)
            tenants.add(event.tenant_id)
        elif isinstance(event, TenantPolicySet):
            tenants.add(event.tenant_id)
            tenants_standards.add(event.tenant_id)
    return NeedsLoading(
        states=frozenset(rung),
        log=frozenset(rung.items()),
        histories=frozenset(histories),
        policies=frozenset(refs),
        latest_standards=frozenset(latest),
        tenant_policies=frozenset(tenants),
        tenant_standards=frozenset(tenants_standards),
    )


def resolved_policy(
    standard: StandardDefined, tenant_policy: TenantPolicySet | None
) -> CalculationPolicy:
    """A standard's effective policy: its own method, else the tenant default, else `latest`;
    letters likewise, else the default level bands."""
    return validate_policy(effective_policy(standard, tenant_policy))


class _Fold:
    """The batch's working view: the loaded data as the log's events change it, in order."""

    def __init__(self, loaded: Loaded, default_policy: CalculationPolicy, now: datetime) -> None:
        self._loaded, self._default, self._now = loaded, default_policy, now
        self._states = dict(loaded.states)
        self._records = {key: dict(found) for key, found in loaded.records.items()}
        self._policies = dict(loaded.policies)
        self._tenant_policies = dict(loaded.tenant_policies)
        self._definitions = dict(loaded.definitions)
        self._evidence: dict[AttemptRef, EvidenceRow] = {}
        self._touched: dict[StudentStandardKey, None] = {}
        self._caught_up: set[StudentStandardKey] = set()
        self._standards: dict[StandardRef, StandardPolicy] = {}
        self._tenants: dict[str, TenantPolicySet] = {}
        self._changes: list[MasteryChanged] = []
        self._histories: set[StudentStandardKey] = set()
        self._students: set[StandardRef] = set()
        self._not_yet: list[str] = []

    def outcome(self) -> Projected:
        if self._histories or self._students:
            return NeedsLoading(
                histories=frozenset(self._histories), standard_students=frozenset(self._students)
            )
        if self._not_yet:
            return NotYetApplicable("; ".join(self._not_yet))
        return Plan(
            evidence=tuple(self._evidence.values()),
            states=tuple(self._states[key] for key in self._touched),
            standards=tuple(self._standards.values()),
            tenant_defaults=tuple(self._tenants.values()),
            changes=tuple(self._changes),
        )

    def apply(self, entry: GradebookEntry) -> None:
        """A doorbell: catch its stream up from the log, or apply the newest policy logged."""
        event = entry.event
        if isinstance(event, AttemptEvent):
            self._catch_up(key_of(event))
        elif isinstance(event, StandardDefined):
            latest = self._loaded.latest_standards.get((event.tenant_id, event.standard_id))
            if latest is not None:
                self._define(latest, entry.event_id)
        elif isinstance(event, TenantPolicySet):
            newest = self._loaded.tenant_policies.get(event.tenant_id)
            if newest is not None:
                self._set_tenant_default(newest, entry.event_id)

    def _catch_up(self, key: StudentStandardKey) -> None:
        """Apply the stream's logged events after the version its state reflects, in order."""
        if key in self._caught_up:
            return
        self._caught_up.add(key)
        logged = self._loaded.log.get(key, ())
        state = self._states.get(key)
        if state is not None and state.last_version is None:
            self._resynchronise(key, logged)
            return
        for entry in logged:
            if key in self._histories:
                return  # folded again once its history is loaded
            if entry.stream_version <= self._version(key):
                continue
            event = entry.event
            if isinstance(event, AttemptRecorded):
                self._record(key, event, entry)
            elif isinstance(event, _CORRECTIONS):
                self._correct(key, event, entry)
            else:  # corrective work opens reassessments on the write side; it is not evidence
                self._advance(key, entry.stream_version)

    def _version(self, key: StudentStandardKey) -> int:
        state = self._states.get(key)
        return state.last_version or 0 if state is not None else 0

    def _record(
        self, key: StudentStandardKey, event: AttemptRecorded, entry: GradebookEntry
    ) -> None:
        records = self._records.setdefault(key, {})
        record = record_of_attempt(event, entry.stream_version, entry.event_id)
        records[event.attempt_id] = record
        self._evidence[(key, event.attempt_id)] = EvidenceRow(key=key, record=record)
        cause = ChangeCause(
            event_id=entry.event_id,
            attempt_id=event.attempt_id,
            assessed_at=event.assessed_at,
            reason="evidence",
        )
        policy = self._policy(key)
        if self._loaded.complete(key):
            self._recalculate(key, policy, cause)
            return
        state = self._states.get(key) or empty_state(key, policy)
        folded = fold_attempt(state, record.evidence, policy)
        if isinstance(folded, NeedsHistory):
            self._histories.add(key)
            return
        self._settle(key, folded, cause)

    def _correct(
        self, key: StudentStandardKey, event: AttemptVoided | AttemptRescored, entry: GradebookEntry
    ) -> None:
        if not self._loaded.complete(key):
            self._histories.add(key)
            return
        record = self._records.get(key, {}).get(event.attempt_id)
        if record is None:
            self._not_yet.append(f"{event.attempt_id!r} corrected, but it has no evidence record")
            return
        after = corrected(record, event, entry.stream_version)
        if after is None:
            self._advance(key, entry.stream_version)
            return
        self._records[key][event.attempt_id] = after
        self._evidence[(key, event.attempt_id)] = EvidenceRow(key=key, record=after)
        at = event.voided_at if isinstance(event, AttemptVoided) else event.rescored_at
        cause = ChangeCause(
            event_id=entry.event_id,
            attempt_id=event.attempt_id,
            assessed_at=at,
            reason="correction",
        )
        self._recalculate(key, self._policy(key), cause)

    def _advance(self, key: StudentStandardKey, version: int) -> None:
        """An event that changes no evidence: the state reflects it all the same."""
        state = self._states.get(key)
        if state is not None and (state.last_version or 0) < version:
            self._states[key] = msgspec.structs.replace(state, last_version=version)
            self._touched[key] = None

    def _resynchronise(self, key: StudentStandardKey, logged: Sequence[GradebookEntry]) -> None:
        """A state stored before states kept their version: recalculate it from its whole stream
        (the loader read it all), writing every evidence record as the log has it."""
        if not logged:
            return
        records = evidence_of_stream(
            (entry.stream_version, entry.event_id, entry.event)
            for entry in logged
            if isinstance(entry.event, AttemptEvent)
        )
        self._records[key] = records
        for record in records.values():
            self._evidence[(key, record.evidence.attempt_id)] = EvidenceRow(key=key, record=record)
        last = logged[-1]
        cause = ChangeCause(
            event_id=last.event_id,
            attempt_id=getattr(last.event, "attempt_id", ""),
            assessed_at=self._now,
            reason="evidence",
        )
        state = state_of_records(key, records.values(), policy=self._policy(key))
        self._settle(key, msgspec.structs.replace(state, last_version=last.stream_version), cause)

    def _define(self, standard: StandardDefined, event_id: str) -> None:
        """Store the standard's policy; if it changed, recalculate everyone on the standard."""
        ref = (standard.tenant_id, standard.standard_id)
        policy = resolved_policy(standard, self._tenant_policies.get(standard.tenant_id))
        before = self._policies.get(ref)
        self._definitions[ref] = standard
        self._policies[ref] = policy
        self._standards[ref] = StandardPolicy(definition=standard, policy=policy)
        if before == policy:
            return
        if ref not in self._loaded.asked.standard_students:
            self._students.add(ref)
            return
        for key in [key for key in self._records if (key.tenant_id, key.standard_id) == ref]:
            newest = newest_evidence(live(self._records[key]))
            cause = ChangeCause(
                event_id=event_id,
                attempt_id=newest.attempt_id if newest else "",
                assessed_at=newest.assessed_at if newest else self._now,
                reason="policy",
            )
            self._recalculate(key, policy, cause)

    def _set_tenant_default(self, event: TenantPolicySet, event_id: str) -> None:
        self._tenant_policies[event.tenant_id] = event
        self._tenants[event.tenant_id] = event
        following = [
            standard
            for (tenant, _), standard in sorted(self._definitions.items())
            # Those that take the tenant's method or its letters.
            if tenant == event.tenant_id and (standard.method is None or standard.letters is None)
        ]
        for standard in following:
            self._define(standard, event_id)

    def _policy(self, key: StudentStandardKey) -> CalculationPolicy:
        # A standard never announced (attempts from before standards existed) gets the default.
        return self._policies.get((key.tenant_id, key.standard_id), self._default)

    def _recalculate(
        self, key: StudentStandardKey, policy: CalculationPolicy, cause: ChangeCause
    ) -> None:
        if not self._loaded.complete(key):
            self._histories.add(key)
            return
        state = state_of_records(key, self._records.get(key, {}).values(), policy=policy)
        reflected = max(state.last_version or 0, self._version(key))
        self._settle(key, msgspec.structs.replace(state, last_version=reflected), cause)

    def _settle(self, key: StudentStandardKey, state: StudentStandard, cause: ChangeCause) -> None:
        standard = self._definitions.get((key.tenant_id, key.standard_id))
        change = change_between(self._states.get(key), state, cause, self._now, standard)
        self._states[key] = state
        self._touched[key] = None
        if change is not None:
            self._changes.append(change)
