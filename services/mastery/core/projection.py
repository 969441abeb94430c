"""The mastery projection: a batch of any gradebook event in, one plan of writes out. Pure.

`project(batch, loaded)` answers what else it needs loaded (`NeedsLoading`), that a correction came
before its attempt (`NotYetApplicable`), or a `Plan`: the evidence to insert and correct, the states
to save, the policies to store and the `MasteryChanged` events, all decided here. The shell's loop
is short: lock, load, project, load more if asked, write the plan once, ack.
"""

from collections.abc import Sequence
from datetime import datetime

from services.mastery.core.calculation import CalculationPolicy, validate_policy
from services.mastery.core.evidence import corrected, live, record_of_attempt
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
    surely_new,
)
from shared.contract.events.attempts import AttemptRecorded, AttemptRescored, AttemptVoided
from shared.contract.events.mastery import MasteryChanged
from shared.contract.events.standards import StandardDefined, TenantPolicySet, effective_policy


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
    unsure = attempts_to_look_up(batch.entries, loaded) - loaded.asked
    if unsure:
        return unsure
    fold = _Fold(loaded, validate_policy(default_policy), now)
    for entry in batch.entries:
        fold.apply(entry)
    return fold.outcome()


def key_of(event: AttemptRecorded | AttemptVoided | AttemptRescored) -> StudentStandardKey:
    return StudentStandardKey(
        tenant_id=event.tenant_id, student_id=event.student_id, standard_id=event.standard_id
    )


def batch_of(entries: Sequence[GradebookEntry]) -> Batch:
    return Batch(tuple(entries), needs_of(entries))


def needs_of(batch: Sequence[GradebookEntry]) -> NeedsLoading:
    """What any batch needs before its fold starts; the fold may ask for more."""
    states, histories, refs = set(), set(), set()
    tenants, tenants_standards = set(), set()
    for entry in batch:
        event = entry.event
        if isinstance(event, AttemptRecorded | AttemptVoided | AttemptRescored):
            key = key_of(event)
            states.add(key)
            refs.add((event.tenant_id, event.standard_id))
            if not isinstance(event, AttemptRecorded):
                histories.add(key)  # a correction recalculates from the whole evidence
        elif isinstance(event, StandardDefined):
            refs.add((event.tenant_id, event.standard_id))
            tenants.add(event.tenant_id)
        elif isinstance(event, TenantPolicySet):
            tenants.add(event.tenant_id)
            tenants_standards.add(event.tenant_id)
    return NeedsLoading(
        states=frozenset(states),
        histories=frozenset(histories),
        policies=frozenset(refs),
        tenant_defaults=frozenset(tenants),
        tenant_standards=frozenset(tenants_standards),
    )


def attempts_to_look_up(batch: Sequence[GradebookEntry], loaded: Loaded) -> NeedsLoading:
    """The attempts whose state cannot tell that they are new (a redelivery, or a state stored
    before it kept its stream version): their evidence records are looked up. In order, none."""
    unsure = set()
    for entry in batch:
        event = entry.event
        if isinstance(event, AttemptRecorded):
            key = key_of(event)
            if not loaded.complete(key) and not surely_new(
                loaded.states.get(key), entry.stream_version
            ):
                unsure.add((key, event.attempt_id))
    return NeedsLoading(attempts=frozenset(unsure))


def resolved_policy(
    standard: StandardDefined, tenant_policy: TenantPolicySet | None
) -> CalculationPolicy:
    """A standard's effective policy: its own method, else the tenant default, else `latest`."""
    return validate_policy(effective_policy(standard, tenant_policy))


class _Fold:
    """The batch's working view: the loaded data as the batch's events change it, in order."""

    def __init__(self, loaded: Loaded, default_policy: CalculationPolicy, now: datetime) -> None:
        self._loaded, self._default, self._now = loaded, default_policy, now
        self._states = dict(loaded.states)
        self._records = {key: dict(found) for key, found in loaded.records.items()}
        self._policies = dict(loaded.policies)
        self._tenant_defaults = dict(loaded.tenant_defaults)
        self._definitions = dict(loaded.definitions)
        self._new: dict[AttemptRef, EvidenceRow] = {}
        self._corrected: dict[AttemptRef, EvidenceRow] = {}
        self._touched: dict[StudentStandardKey, None] = {}
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
            new_evidence=tuple(self._new.values()),
            corrected_evidence=tuple(self._corrected.values()),
            states=tuple(self._states[key] for key in self._touched),
            standards=tuple(self._standards.values()),
            tenant_defaults=tuple(self._tenants.values()),
            changes=tuple(self._changes),
        )

    def apply(self, entry: GradebookEntry) -> None:
        event = entry.event
        if isinstance(event, AttemptRecorded):
            self._record(event, entry)
        elif isinstance(event, AttemptVoided | AttemptRescored):
            self._correct(event, entry)
        elif isinstance(event, StandardDefined):
            self._define(event, entry.event_id)
        elif isinstance(event, TenantPolicySet):
            self._set_tenant_default(event, entry.event_id)
        # Corrective work opens reassessments on the write side; it is not evidence.

    def _record(self, event: AttemptRecorded, entry: GradebookEntry) -> None:
        key = key_of(event)
        records = self._records.setdefault(key, {})
        if event.attempt_id in records or key in self._histories:
            return  # a redelivery, or a key that is folded again once its history is loaded
        record = record_of_attempt(event, entry.stream_version, entry.event_id)
        records[event.attempt_id] = record
        self._new[(key, event.attempt_id)] = EvidenceRow(key=key, record=record)
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

    def _correct(self, event: AttemptVoided | AttemptRescored, entry: GradebookEntry) -> None:
        key = key_of(event)
        record = self._records.get(key, {}).get(event.attempt_id)
        if record is None:
            self._not_yet.append(f"{event.attempt_id!r} corrected before its evidence")
            return
        after = corrected(record, event, entry.stream_version)
        if after is None:
            return  # a newer correction of this attempt was applied already
        self._records[key][event.attempt_id] = after
        ref = (key, event.attempt_id)
        rows = self._new if ref in self._new else self._corrected
        rows[ref] = EvidenceRow(key=key, record=after)
        at = event.voided_at if isinstance(event, AttemptVoided) else event.rescored_at
        cause = ChangeCause(
            event_id=entry.event_id,
            attempt_id=event.attempt_id,
            assessed_at=at,
            reason="correction",
        )
        self._recalculate(key, self._policy(key), cause)

    def _define(self, standard: StandardDefined, event_id: str) -> None:
        """Store the standard's policy; if it changed, recalculate everyone on the standard."""
        ref = (standard.tenant_id, standard.standard_id)
        policy = resolved_policy(standard, self._tenant_defaults.get(standard.tenant_id))
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
        self._tenant_defaults[event.tenant_id] = event
        self._tenants[event.tenant_id] = event
        following = [
            standard
            for (tenant, _), standard in sorted(self._definitions.items())
            if tenant == event.tenant_id and standard.method is None
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
        records = self._records.get(key, {}).values()
        self._settle(key, state_of_records(key, records, policy=policy), cause)

    def _settle(self, key: StudentStandardKey, state: StudentStandard, cause: ChangeCause) -> None:
        change = change_between(self._states.get(key), state, cause, self._now)
        self._states[key] = state
        self._touched[key] = None
        if change is not None:
            self._changes.append(change)
