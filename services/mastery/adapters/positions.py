"""How far the read model has got: in the attempt log (per tenant) and in its own change log.

The rules, and why they hold, are in docs/architecture.md ("Reading your writes"). In short:
an event of the attempt log is applied when its student-standard's state reflects its version
(a standard's or tenant policy's stream: `applied_policy_versions`); the watermark W of a tenant
is a position such that every event of the tenant's log at or below it is applied, and never
more: it passes an event only once the event's `position_horizon` shows that no transaction that
took a smaller position can still commit.
"""

from collections.abc import Iterable, Sequence

from services.mastery.core.read_positions import LoggedEvent, Progress, progress_of
from shared.platform.postgres import DbConnection

# How many events past the stored watermark one look walks; more are left to the next look.
WALK_LIMIT = 1_000
CHANGE_LOG_LOCKS = 0x4D4348  # the class (first int4 key) of the change-log advisory locks

# Whether a log row `l` is applied. A student stream is applied up to its state's version; a
# stream with no state yet holds nothing applied but corrective work (which is not evidence and
# makes no state), and a walk in position order meets its stream's earlier events first.
_APPLIED = """CASE WHEN l.student_stream THEN coalesce(
    (SELECT (p.state ->> 'last_version')::bigint FROM proficiencies p
      WHERE p.tenant_id = l.tenant_id AND p.student_id = split_part(l.stream_id, '/', 2)
        AND p.standard_id = split_part(l.stream_id, '/', 3)),
    CASE WHEN l.event_type LIKE 'corrective\\_work\\_recorded.%' THEN l.stream_version ELSE 0 END
  ) >= l.stream_version
ELSE coalesce(
    (SELECT a.stream_version FROM applied_policy_versions a
      WHERE a.tenant_id = l.tenant_id AND a.stream_id = l.stream_id), 0
  ) >= l.stream_version
END"""
# One snapshot answers both which events are visible and which transactions have finished.
_WALK = f"""
SELECT l.position,
       l.position_horizon IS NULL
         OR l.position_horizon <= pg_snapshot_xmin(pg_current_snapshot()) AS settled,
       {_APPLIED} AS applied
  FROM attempt_log l
 WHERE l.tenant_id = $1 AND l.position > $2
 ORDER BY l.position
 LIMIT $3
"""  # noqa: S608 - no input in it
_STORED = "SELECT log_position FROM read_model_positions WHERE tenant_id = $1"
_RAISE = """
INSERT INTO read_model_positions (tenant_id, log_position, updated_at)
SELECT tenant_id, log_position, now() FROM unnest($1::text[], $2::bigint[])
    AS raised (tenant_id, log_position)
ON CONFLICT (tenant_id) DO UPDATE
   SET log_position = greatest(read_model_positions.log_position, EXCLUDED.log_position),
       updated_at = EXCLUDED.updated_at
"""
_MARK_POLICIES = """
INSERT INTO applied_policy_versions (tenant_id, stream_id, stream_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
ON CONFLICT (tenant_id, stream_id) DO UPDATE
   SET stream_version = greatest(applied_policy_versions.stream_version,
                                 EXCLUDED.stream_version)
"""


async def look(connection: DbConnection, tenant_id: str, wanted: int | None) -> Progress:
    """How far the read model has got for `tenant_id`, as one snapshot shows it."""
    stored = await connection.fetchval(_STORED, tenant_id) or 0
    rows = await connection.fetch(_WALK, tenant_id, stored, WALK_LIMIT)
    return progress_of(stored, [LoggedEvent(*row) for row in rows], wanted)


async def raise_watermarks(connection: DbConnection, tenant_ids: Iterable[str]) -> None:
    """In the projector's transaction, after its plan is written: move each tenant's W as far as
    the log and the read model (this batch's writes included) allow, never back."""
    tenants = sorted(set(tenant_ids))
    found = [await look(connection, tenant, None) for tenant in tenants]
    await connection.execute(_RAISE, tenants, [progress.watermark for progress in found])


async def mark_policies_applied(
    connection: DbConnection, applied: Sequence[tuple[str, str, int]]
) -> None:
    """(tenant, stream, version) of standard and tenant-policy events this batch applied."""
    if applied:
        tenants, streams, versions = (list(column) for column in zip(*applied, strict=True))
        await connection.execute(_MARK_POLICIES, tenants, streams, versions)


async def lock_change_logs(connection: DbConnection, tenant_ids: Iterable[str]) -> None:
    """Hold the tenants' change logs until the transaction ends, before taking change positions.

    With positions taken under this lock, a tenant's changes commit in position order, so its
    newest committed change position has every smaller one of the tenant committed before it
    (what the resync's `changes_position` promises). Two batches in flight wait for each other
    only here, at the end of their work, and take these in one order.
    """
    for tenant in sorted(set(tenant_ids)):
        await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))",
                                 CHANGE_LOG_LOCKS, tenant)  # fmt: skip


async def newest_change(connection: DbConnection, tenant_id: str) -> int:
    """The tenant's newest committed change-log position (0: none)."""
    found = await connection.fetchval(
        "SELECT max(position) FROM mastery_changes WHERE tenant_id = $1", tenant_id
    )
    return int(found or 0)
