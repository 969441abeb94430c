"""The projector shell: a batch of gradebook events in, one transaction out, then ack.

Lock the student-standards the batch touches, load what the pure projection asks for, project,
load more if it asks again, write its plan once. Whether mastery changed is decided in the core.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.mastery.adapters import policies, positions, read_model
from services.mastery.adapters.watermarks import WatermarkRaiser
from services.mastery.core.calculation import CalculationPolicy, validate_policy
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.plan import (
    Batch,
    GradebookEntry,
    Loaded,
    NeedsLoading,
    NotYetApplicable,
    Plan,
    StandardRef,
)
from services.mastery.core.projection import batch_of, project
from services.mastery.core.student_standard import StudentStandard, StudentStandardKey
from shared.contract.events.attempts import AttemptEvent, AttemptRecorded
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.contract.events.standards import (
    StandardDefined,
    TenantPolicySet,
    policy_stream_id,
    standard_stream_id,
)
from shared.platform.bus import BusNames
from shared.platform.bus_users import PROJECTOR_DURABLE
from shared.platform.consumer import Delivered, RetryLater
from shared.platform.errors import WaitingForAnother
from shared.platform.postgres import DbConnection

PROJECTOR_NAME = PROJECTOR_DURABLE
TENANT_LOCKS = 0x4D544E  # the class (first int4 key) of the projector's per-tenant locks
# The standard and policy streams whose newest version in the log is not applied yet.
_DEFINITIONS_BEHIND = """
SELECT wanted.stream_id FROM unnest($1::text[], $2::text[]) AS wanted(tenant_id, stream_id)
WHERE (SELECT max(log.stream_version) FROM attempt_log AS log
        WHERE log.stream_id = wanted.stream_id)
    > coalesce((SELECT applied.stream_version FROM applied_policy_versions AS applied
                 WHERE applied.tenant_id = wanted.tenant_id
                   AND applied.stream_id = wanted.stream_id), 0)
"""
_LOCK_TENANTS = (
    "SELECT count(CASE WHEN wide THEN pg_advisory_xact_lock($1, h) "
    "ELSE pg_advisory_xact_lock_shared($1, h) END) FROM ("
    "SELECT hashtext(tenant) AS h, bool_or(wide) AS wide "
    "FROM unnest($2::text[], $3::bool[]) AS t(tenant, wide) GROUP BY 1 ORDER BY 1) AS ordered"
)
# A batch needs its base data, then at most histories and a standard's students: more rounds
# than this would mean the projection keeps asking for what it was given.
_MAX_ROUNDS = 6


class MasteryProjector:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        default_policy: CalculationPolicy,
        *,
        partitioned: bool = False,
        watermarks: WatermarkRaiser | None = None,
    ) -> None:
        """`partitioned`: it applies a partition's attempts, which wait for the standards and
        policies the tenant-wide durable applies (that durable keeps the stream's own order).
        `watermarks`: raises the read model's watermarks for the tenants of committed batches
        (without one, each batch raises its own after it commits)."""
        self._pool = pool
        self._bus = bus
        self._default = validate_policy(default_policy)
        self._partitioned = partitioned
        self._watermarks = watermarks

    @staticmethod
    def runs_alone(batch: Sequence[Delivered[LatestGradebookEvent]]) -> bool:
        """Batches of new attempts only may be applied beside each other (each locks its keys);
        corrections and policy changes wait for those before them and hold back those after."""
        return not all(isinstance(item.envelope.data, AttemptRecorded) for item in batch)

    async def handle_gradebook_events(
        self, delivered: Sequence[Delivered[LatestGradebookEvent]]
    ) -> None:
        batch = batch_of([entry_of(item) for item in delivered])
        now = datetime.now(UTC)
        async with self._pool.acquire() as connection, connection.transaction():
            await lock_tenants(connection, batch.entries)
            if self._partitioned:
                await wait_for_definitions(connection, batch.entries)
            await read_model.lock_student_standards(connection, list(batch.needs.states))
            plan = await self._plan(connection, batch, now)
            for standard in plan.standards:
                await policies.save_standard(connection, standard.definition, standard.policy)
            for tenant_default in plan.tenant_defaults:
                await policies.save_tenant_default(connection, tenant_default)
            await positions.mark_policies_applied(connection, _policy_versions(batch.entries))
            await positions.lock_change_logs(connection, (c.tenant_id for c in plan.changes))
            await read_model.write_plan(connection, plan, now, self._bus, _traces(delivered))
        tenants = {entry.event.tenant_id for entry in batch.entries}
        if self._watermarks is not None:
            self._watermarks.note(tenants)
            return
        # After the commit, on a connection with no transaction id of its own: a look reads the
        # next transaction id after its snapshot (docs/architecture.md, "Reading your writes").
        async with self._pool.acquire() as connection:
            await positions.raise_watermarks(connection, tenants)

    async def _plan(self, connection: DbConnection, batch: Batch, now: datetime) -> Plan:
        loaded = Loaded()
        for _ in range(_MAX_ROUNDS):
            outcome = project(batch, loaded, default_policy=self._default, now=now)
            if isinstance(outcome, Plan):
                return outcome
            if isinstance(outcome, NotYetApplicable):
                raise RetryLater(outcome.reason)
            more = outcome - loaded.asked
            if not more:
                raise RuntimeError(f"the projection asked again for what it was given: {outcome}")
            loaded = loaded.merged(await load(connection, more))
        raise RuntimeError(f"the projection was still asking after {_MAX_ROUNDS} rounds")


def _traces(delivered: Sequence[Delivered[LatestGradebookEvent]]) -> dict[str, str]:
    """The trace context each delivered event carried, by event id: a change caused by one
    carries it on."""
    return {
        item.envelope.id: item.envelope.trace_parent
        for item in delivered
        if item.envelope.trace_parent is not None
    }


async def lock_tenants(connection: DbConnection, entries: Sequence[GradebookEntry]) -> None:
    """Attempt batches of a tenant run beside each other (in their partitions); a standard or
    policy batch runs alone within its tenants, until its transaction ends.

    A policy or standard recomputes the tenant's student-standards it finds. An attempt batch
    that read the old policy and creates a new student-standard after that look would keep the
    old policy's result for good; nor may a recompute read states an attempt batch is changing.
    So an attempt batch holds its tenants' lock shared and a tenant-wide batch exclusive, always
    taken before the student-standard locks, tenants in one order.
    """
    exclusive: dict[str, bool] = {}
    for entry in entries:
        event = entry.event
        wide = isinstance(event, StandardDefined | TenantPolicySet)
        exclusive[event.tenant_id] = exclusive.get(event.tenant_id, False) or wide
    tenants = sorted(exclusive)
    await connection.execute(
        _LOCK_TENANTS, TENANT_LOCKS, tenants, [exclusive[tenant] for tenant in tenants]
    )


async def wait_for_definitions(connection: DbConnection, entries: Sequence[GradebookEntry]) -> None:
    """An attempt batch waits until the standards and tenant policies its attempts fall under are
    applied as far as the log holds them: they travel on the tenant-wide durable, so a partition
    may see an attempt before the standard it was recorded against is applied. Under the tenant's
    shared lock, so no definition is being applied meanwhile."""
    streams = {
        (event.tenant_id, stream)
        for event in (entry.event for entry in entries)
        if isinstance(event, AttemptEvent)
        for stream in (
            standard_stream_id(event.tenant_id, event.standard_id),
            policy_stream_id(event.tenant_id),
        )
    }
    if not streams:
        return
    tenants, stream_ids = zip(*sorted(streams), strict=True)
    behind = await connection.fetch(_DEFINITIONS_BEHIND, list(tenants), list(stream_ids))
    if behind:
        waiting = ", ".join(row["stream_id"] for row in behind)
        raise WaitingForAnother(f"waiting for the tenant-wide projector to apply {waiting}")


def _policy_versions(entries: Sequence[GradebookEntry]) -> list[tuple[str, str, int]]:
    """The standard and tenant-policy stream versions a batch applies: each is applied as its
    newest definition in the log, which is at least the version delivered."""
    applied = []
    for entry in entries:
        event = entry.event
        if isinstance(event, StandardDefined):
            stream = standard_stream_id(event.tenant_id, event.standard_id)
        elif isinstance(event, TenantPolicySet):
            stream = policy_stream_id(event.tenant_id)
        else:
            continue
        applied.append((event.tenant_id, stream, entry.stream_version))
    return applied


def entry_of(delivered: Delivered[LatestGradebookEvent]) -> GradebookEntry:
    envelope = delivered.envelope
    return GradebookEntry(
        event=envelope.data, event_id=envelope.id, stream_version=envelope.streamversion or 0
    )


async def load(connection: DbConnection, needs: NeedsLoading) -> Loaded:
    """Everything `needs` names, in a handful of set-based queries."""
    wanted = needs.states | {key for key, _ in needs.log}
    states = await read_model.load_states(connection, wanted) if wanted else {}
    # A stream is read after the version its stored state reflects (all of it when unknown).
    ranges = [(key, _reflected(states.get(key)), up_to) for key, up_to in needs.log]
    logged = await read_model.load_log(connection, ranges) if ranges else {}
    found: list[tuple[StudentStandardKey, EvidenceRecord]] = []
    if needs.histories:
        found += await read_model.load_records(connection, needs.histories)
    every_key: set[StudentStandardKey] = set(needs.histories)
    for tenant_id, standard_id in sorted(needs.standard_students):
        on_standard, records = await read_model.load_standard(connection, tenant_id, standard_id)
        states.update((state.key, state) for state in on_standard)
        every_key.update(state.key for state in on_standard)
        found += records
    definitions: dict[StandardRef, StandardDefined] = {}
    stored: dict[StandardRef, CalculationPolicy] = {}
    if needs.policies:
        definitions, stored = await policies.stored_standards(connection, needs.policies)
    if needs.tenant_standards:
        of_tenants, policies_of_tenants = await policies.standards_of_tenants(
            connection, needs.tenant_standards
        )
        definitions = {**of_tenants, **definitions}
        stored = {**policies_of_tenants, **stored}
    latest: dict[StandardRef, StandardDefined] = {}
    tenant_policies: dict[str, TenantPolicySet] = {}
    if needs.latest_standards or needs.tenant_policies:
        latest, tenant_policies = await policies.newest_in_log(
            connection, needs.latest_standards, needs.tenant_policies
        )
    by_key: dict[StudentStandardKey, dict[str, EvidenceRecord]] = {key: {} for key in every_key}
    for key, record in found:
        by_key.setdefault(key, {})[record.evidence.attempt_id] = record
    return Loaded(
        asked=needs,
        states=states,
        log=logged,
        records=by_key,
        policies=stored,
        latest_standards=latest,
        tenant_policies=tenant_policies,
        definitions=definitions,
    )


def _reflected(state: StudentStandard | None) -> int:
    return state.last_version or 0 if state is not None else 0
