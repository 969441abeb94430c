"""Bring a shadow read model up to what the projector applied while the shadow was being built.

The shadow is a replay of one snapshot of the log; the projector goes on applying to the live
tables meanwhile. Each proficiency row says which stream version it reflects (`last_version`), so
a student-standard whose live row reflects another version than its shadow row (or has none in
the shadow) is folded again from the log, up to the version the live row reflects: the shadow then
stands where the projector stands, and the projector, once the shadow is swapped in, goes on from
there and emits what it would have emitted. A standard whose effective policy in the log changed
since the shadow's snapshot has all its students folded again. Streams the live read model has
never seen keep the replay.
"""

from collections.abc import Iterable
from datetime import datetime

import asyncpg
import msgspec

from services.mastery.adapters import policies, positions, read_model
from services.mastery.adapters.read_model import (
    EVIDENCE,
    KEYS,
    PROFICIENCIES,
    evidence_row,
    proficiency_row,
)
from services.mastery.adapters.replay import (
    LogPolicies,
    Stream,
    fold_stream,
    log_policies,
)
from services.mastery.adapters.shadow import LIVE, SHADOW
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.plan import GradebookEntry
from services.mastery.core.student_standard import StudentStandardKey
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.platform.postgres import DbConnection
from shared.platform.rows import Columns

# The statements, built once from constants and the row Structs (no input reaches them).
_DIFFERING = (
    "SELECT l.tenant_id, l.student_id, l.standard_id, l.last_version "  # noqa: S608
    f"FROM {LIVE.proficiencies} l LEFT JOIN {SHADOW.proficiencies} s "
    "USING (tenant_id, student_id, standard_id) "
    "WHERE s.last_version IS DISTINCT FROM l.last_version"
)


class StandardRow(msgspec.Struct, frozen=True):
    tenant_id: str
    standard_id: str


STANDARDS = Columns(StandardRow)
_ON_STANDARDS = (
    "SELECT s.tenant_id, s.student_id, s.standard_id, "  # noqa: S608
    "coalesce(l.last_version, s.last_version) AS last_version "
    f"FROM {SHADOW.proficiencies} s LEFT JOIN {LIVE.proficiencies} l "
    "USING (tenant_id, student_id, standard_id) "
    f"JOIN {STANDARDS.recordset('$1', 'c')} USING (tenant_id, standard_id)"
)
_FORGET = [
    f"DELETE FROM {table} t USING {KEYS.recordset('$1', 'k')} "  # noqa: S608
    "WHERE (t.tenant_id, t.student_id, t.standard_id) = (k.tenant_id, k.student_id, k.standard_id)"
    for table in (SHADOW.evidence, SHADOW.proficiencies)
]
_LOCK_ATTEMPTS = 20  # deadlocks survived while pausing the projector


class CaughtUp(msgspec.Struct, frozen=True):
    policies: LogPolicies  # the log's, as the shadow now reflects them
    streams: int  # folded again


async def catch_up(
    connection: DbConnection,
    since: LogPolicies,
    default: CalculationPolicy,
    now: datetime,
    *,
    policies_too: bool = True,
) -> CaughtUp:
    """Fold again what changed since the shadow reflected `since`; returns the policies now.

    Without `policies_too` the log's policies are not read again (a scan of its policy events:
    the pass made while the projector runs leaves them to the pass made while it is paused)."""
    current = await log_policies(connection) if policies_too else since
    targets = {_key(row): row["last_version"] for row in await connection.fetch(_DIFFERING)}
    changed = [
        StandardRow(*ref)
        for ref in current.resolved.keys() | since.resolved.keys()
        if current.resolved.get(ref) != since.resolved.get(ref)
    ]
    if changed:
        rows = await connection.fetch(_ON_STANDARDS, STANDARDS.document(changed))
        targets.update((_key(row), row["last_version"]) for row in rows)
    if targets:
        await _fold_again(connection, targets, current, default, now)
    return CaughtUp(current, len(targets))


async def pause_projector(connection: DbConnection) -> None:
    """Hold the read model in EXCLUSIVE mode until the transaction ends: the projector's writes
    (and its locking reads) wait, plain reads go on. A batch in flight finishes first; should it
    deadlock with us, it retries its batch, and so do we our lock."""
    for _ in range(_LOCK_ATTEMPTS):
        try:
            async with connection.transaction():
                await connection.execute(
                    f"LOCK TABLE {LIVE.proficiencies}, {LIVE.evidence}, standard_policies, "
                    "tenant_default_policies IN EXCLUSIVE MODE"
                )
        except asyncpg.DeadlockDetectedError:
            continue
        return
    raise RuntimeError(f"could not pause the projector in {_LOCK_ATTEMPTS} tries (deadlocks)")


async def store_policies(connection: DbConnection, found: LogPolicies) -> None:
    """Replace the stored policies by the log's (small tables: rewritten in place, under the
    projector's pause, so readers keep the old rows until the swap commits)."""
    await connection.execute("DELETE FROM standard_policies")
    await connection.execute("DELETE FROM tenant_default_policies")
    for tenant_policy in found.tenants.values():
        await policies.save_tenant_default(connection, tenant_policy)
    for ref, standard in found.standards.items():
        await policies.save_standard(connection, standard, found.resolved[ref])
    # Standard and tenant-policy streams count as applied too, for the read model's watermark.
    applied = [(tenant, stream, version) for (tenant, stream), version in found.versions.items()]
    await positions.mark_policies_applied(connection, applied)


async def _fold_again(
    connection: DbConnection,
    targets: dict[StudentStandardKey, int],
    found: LogPolicies,
    default: CalculationPolicy,
    now: datetime,
) -> None:
    """Replace the shadow rows of `targets` by a fold of each stream up to its version."""
    logged = await read_model.load_log(connection, [(k, 0, v) for k, v in targets.items()])
    evidence: list[tuple[object, ...]] = []
    proficiencies: list[tuple[object, ...]] = []
    for entries in logged.values():
        folded = fold_stream(_stream(entries), found.resolved, default)
        if folded is not None:
            records, state = folded
            evidence += [EVIDENCE.record(evidence_row(state.key, r)) for r in records.values()]
            proficiencies.append(PROFICIENCIES.record(proficiency_row(state, now)))
    for statement in _FORGET:
        await connection.execute(statement, KEYS.document(targets))
    await connection.copy_records_to_table(
        SHADOW.evidence, records=evidence, columns=EVIDENCE.names
    )
    await connection.copy_records_to_table(
        SHADOW.proficiencies, records=proficiencies, columns=PROFICIENCIES.names
    )


def _stream(entries: Iterable[GradebookEntry]) -> Stream:
    """A student stream's logged entries as the replay folds them (its events are attempts)."""
    return [
        (entry.stream_version, entry.event_id, entry.event)
        for entry in entries
        if not isinstance(entry.event, StandardDefined | TenantPolicySet)
    ]


def _key(row: asyncpg.Record) -> StudentStandardKey:
    return StudentStandardKey(
        tenant_id=row["tenant_id"], student_id=row["student_id"], standard_id=row["standard_id"]
    )
