"""What goes into the mastery projection and what comes out of it. Pure.

In: the batch (`GradebookEntry`) and what the shell `Loaded` for it. Out: `NeedsLoading` (load this
too, then project again), `NotYetApplicable` (try the batch later) or the `Plan` of its writes.
"""

import msgspec

from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.student_standard import StudentStandard, StudentStandardKey
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.contract.events.mastery import MasteryChanged
from shared.contract.events.standards import StandardDefined, TenantPolicySet

StandardRef = tuple[str, str]  # (tenant_id, standard_id)
AttemptRef = tuple[StudentStandardKey, str]  # (student-standard, attempt_id)
LogRange = tuple[StudentStandardKey, int]  # a stream, read after its state's version up to this


class GradebookEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An event as the projection sees it: upcast, with its id and its version in its stream."""

    event: LatestGradebookEvent
    event_id: str
    stream_version: int


class NeedsLoading(msgspec.Struct, frozen=True, kw_only=True):
    """What the shell loads before the batch can be projected (each set: what to look up)."""

    states: frozenset[StudentStandardKey] = frozenset()
    # The attempts log: each stream's events after the version its stored state reflects (all of
    # them for a state that does not know it), up to the version given.
    log: frozenset[LogRange] = frozenset()
    histories: frozenset[StudentStandardKey] = frozenset()  # every evidence record of these
    policies: frozenset[StandardRef] = frozenset()  # stored effective policies
    latest_standards: frozenset[StandardRef] = frozenset()  # newest definition in the log
    tenant_policies: frozenset[str] = frozenset()  # newest tenant policy in the log
    tenant_standards: frozenset[str] = frozenset()  # every stored definition (and policy)
    standard_students: frozenset[StandardRef] = frozenset()  # every state and history on it

    def __or__(self, other: "NeedsLoading") -> "NeedsLoading":
        return NeedsLoading(**{name: getattr(self, name) | getattr(other, name) for name in _NEEDS})

    def __sub__(self, other: "NeedsLoading") -> "NeedsLoading":
        return NeedsLoading(**{name: getattr(self, name) - getattr(other, name) for name in _NEEDS})

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in _NEEDS)


_NEEDS = NeedsLoading.__struct_fields__


class Loaded(msgspec.Struct, frozen=True, kw_only=True):
    """What was looked up (`asked`, found or not) and what was found."""

    asked: NeedsLoading = NeedsLoading()
    states: dict[StudentStandardKey, StudentStandard] = {}
    log: dict[StudentStandardKey, tuple[GradebookEntry, ...]] = {}
    records: dict[StudentStandardKey, dict[str, EvidenceRecord]] = {}
    policies: dict[StandardRef, CalculationPolicy] = {}
    latest_standards: dict[StandardRef, StandardDefined] = {}
    tenant_policies: dict[str, TenantPolicySet] = {}
    # The stored definitions of the standards in `policies` and of `tenant_standards`' tenants.
    definitions: dict[StandardRef, StandardDefined] = {}

    def merged(self, more: "Loaded") -> "Loaded":
        records = dict(self.records)
        for key, found in more.records.items():
            records[key] = {**records.get(key, {}), **found}
        return Loaded(
            asked=self.asked | more.asked,
            states={**self.states, **more.states},
            log={**self.log, **more.log},
            records=records,
            policies={**self.policies, **more.policies},
            latest_standards={**self.latest_standards, **more.latest_standards},
            tenant_policies={**self.tenant_policies, **more.tenant_policies},
            definitions={**self.definitions, **more.definitions},
        )

    def complete(self, key: StudentStandardKey) -> bool:
        """Whether every evidence record of `key` is loaded (histories asked, or its standard's)."""
        asked = self.asked
        return key in asked.histories or (key.tenant_id, key.standard_id) in asked.standard_students


class EvidenceRow(msgspec.Struct, frozen=True, kw_only=True):
    key: StudentStandardKey
    record: EvidenceRecord


class StandardPolicy(msgspec.Struct, frozen=True, kw_only=True):
    definition: StandardDefined
    policy: CalculationPolicy


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one batch writes, in one transaction."""

    evidence: tuple[EvidenceRow, ...] = ()  # evidence records as they now stand (upserted)
    states: tuple[StudentStandard, ...] = ()
    standards: tuple[StandardPolicy, ...] = ()
    tenant_defaults: tuple[TenantPolicySet, ...] = ()
    changes: tuple[MasteryChanged, ...] = ()


class NotYetApplicable(msgspec.Struct, frozen=True):
    """The log holds a correction of an attempt with no evidence record: the read model does not
    match the log (a rebuild repairs it); the batch is tried again, then parked."""

    reason: str


Projected = Plan | NeedsLoading | NotYetApplicable


class Batch(msgspec.Struct, frozen=True):
    """A batch's entries in stream order with what any projection of them needs loaded first
    (`projection.batch_of` works it out once; the shell also locks by it)."""

    entries: tuple[GradebookEntry, ...]
    needs: "NeedsLoading"
