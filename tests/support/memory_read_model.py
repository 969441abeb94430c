"""The mastery read model in memory: the projector shell's loop over dicts, for pure tests."""

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
from services.mastery.core.projection import batch_of, project
from services.mastery.core.student_standard import StudentStandard, StudentStandardKey
from shared.contract.events.mastery import MasteryChanged
from shared.contract.events.standards import StandardDefined, TenantPolicySet

Records = dict[str, EvidenceRecord]


@dataclass
class MemoryReadModel:
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
        records: dict[StudentStandardKey, Records] = {}
        for key, attempt_id in needs.attempts:
            if attempt_id in self.evidence.get(key, {}):
                records.setdefault(key, {})[attempt_id] = self.evidence[key][attempt_id]
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
            if ref[0] in needs.tenant_standards
        }
        policies |= {ref: self.policies[ref] for ref in definitions}
        defaults = {
            tenant: self.tenant_defaults[tenant]
            for tenant in needs.tenant_defaults
            if tenant in self.tenant_defaults
        }
        return Loaded(
            asked=needs,
            states=states,
            records=records,
            policies=policies,
            tenant_defaults=defaults,
            definitions=definitions,
        )

    def write(self, plan: Plan) -> None:
        for row in (*plan.new_evidence, *plan.corrected_evidence):
            known = self.evidence.setdefault(row.key, {})
            attempt_id = row.record.evidence.attempt_id
            if row in plan.new_evidence and attempt_id in known:
                continue  # ON CONFLICT DO NOTHING
            known[attempt_id] = row.record
        for standard in plan.standards:
            ref = (standard.definition.tenant_id, standard.definition.standard_id)
            self.definitions[ref] = standard.definition
            self.policies[ref] = standard.policy
        for tenant_default in plan.tenant_defaults:
            self.tenant_defaults[tenant_default.tenant_id] = tenant_default
        for state in plan.states:
            self.states[state.key] = state
        self.changes += plan.changes
