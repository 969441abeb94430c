"""The mastery read model in memory: the projector shell's loop over dicts, for pure tests.

`log` is the attempts log (every event in the order it was recorded), as the `attempt_log` view
gives it to the PostgreSQL loader.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.plan import (
    GradebookEntry,
    Loaded,
    NeedsLoading,
    NotYetApplicable,
    Plan,
    StandardRef,
)
from services.mastery.core.projection import batch_of, key_of, project
from services.mastery.core.student_standard import StudentStandard, StudentStandardKey
from shared.contract.events.attempts import AttemptEvent
from shared.contract.events.mastery import MasteryChanged
from shared.contract.events.standards import StandardDefined, TenantPolicySet

Records = dict[str, EvidenceRecord]


@dataclass
class MemoryReadModel:
    log: list[GradebookEntry] = field(default_factory=list)
    states: dict[StudentStandardKey, StudentStandard] = field(default_factory=dict)
    evidence: dict[StudentStandardKey, Records] = field(default_factory=dict)
    policies: dict[StandardRef, CalculationPolicy] = field(default_factory=dict)
    definitions: dict[StandardRef, StandardDefined] = field(default_factory=dict)
    tenant_defaults: dict[str, TenantPolicySet] = field(default_factory=dict)
    changes: list[MasteryChanged] = field(default_factory=list)
    loads: list[int] = field(default_factory=list)  # per batch: how many times it loaded

    def handle(
        self, batch: Sequence[GradebookEntry], *, default_policy: CalculationPolicy, now: datetime
    ) -> Plan | NotYetApplicable:
        loaded, whole = Loaded(), batch_of(batch)
        for loads in range(7):
            outcome = project(whole, loaded, default_policy=default_policy, now=now)
            if isinstance(outcome, NeedsLoading):
                more = outcome - loaded.asked
                assert more, f"asked again for what was loaded: {outcome}"
                loaded = loaded.merged(self.load(more))
                continue
            self.loads.append(loads)
            if isinstance(outcome, Plan):
                self.write(outcome)
            return outcome
        raise AssertionError("the projection kept asking")

    def load(self, needs: NeedsLoading) -> Loaded:
        states = {key: self.states[key] for key in needs.states if key in self.states}
        logged: dict[StudentStandardKey, tuple[GradebookEntry, ...]] = {}
        for key, up_to in needs.log:
            stored = self.states.get(key)
            after = stored.last_version or 0 if stored is not None else 0
            found = [
                entry
                for entry in self.log
                if isinstance(entry.event, AttemptEvent)
                and key_of(entry.event) == key
                and after < entry.stream_version <= up_to
            ]
            if found:
                logged[key] = tuple(sorted(found, key=lambda entry: entry.stream_version))
        records: dict[StudentStandardKey, Records] = {}
        for key in needs.histories:
            records[key] = dict(self.evidence.get(key, {}))
        for ref in needs.standard_students:
            for key in {*self.states, *self.evidence}:
                if (key.tenant_id, key.standard_id) == ref:
                    records[key] = dict(self.evidence.get(key, {}))
                    if key in self.states:
                        states[key] = self.states[key]
        policies = {ref: self.policies[ref] for ref in needs.policies if ref in self.policies}
        definitions = {
            ref: standard
            for ref, standard in self.definitions.items()
            if ref[0] in needs.tenant_standards or ref in needs.policies
        }
        policies |= {ref: self.policies[ref] for ref in definitions}
        latest: dict[StandardRef, StandardDefined] = {}
        newest_policies: dict[str, TenantPolicySet] = {}
        for entry in self.log:  # in recorded order: the last one seen is the newest
            event = entry.event
            ref = (event.tenant_id, getattr(event, "standard_id", ""))
            if isinstance(event, StandardDefined) and ref in needs.latest_standards:
                latest[ref] = event
            elif isinstance(event, TenantPolicySet) and event.tenant_id in needs.tenant_policies:
                newest_policies[event.tenant_id] = event
        return Loaded(
            asked=needs,
            states=states,
            log=logged,
            records=records,
            policies=policies,
            latest_standards=latest,
            tenant_policies=newest_policies,
            definitions=definitions,
        )

    def write(self, plan: Plan) -> None:
        for row in plan.evidence:
            self.evidence.setdefault(row.key, {})[row.record.evidence.attempt_id] = row.record
        for standard in plan.standards:
            ref = (standard.definition.tenant_id, standard.definition.standard_id)
            self.definitions[ref] = standard.definition
            self.policies[ref] = standard.policy
        for tenant_default in plan.tenant_defaults:
            self.tenant_defaults[tenant_default.tenant_id] = tenant_default
        for state in plan.states:
            self.states[state.key] = state
        self.changes += plan.changes
