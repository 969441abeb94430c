"""How far the read model has got: in the attempt log (per tenant) and in its own change log.

The rules, and why they hold, are in docs/architecture.md ("Reading your writes") and
`core/read_positions.py`. An event of the attempt log is applied when its student-standard's
state reflects its version (a standard's or tenant policy's stream: `applied_policy_versions`).
"""

from collections.abc import Iterable, Sequence

import asyncpg

from services.mastery.core.read_positions import (
    LoggedEvent,
    Look,
    Pending,
    Progress,
    progress_of,
)
from shared.platform.postgres import DbConnection

# How many events past the stored watermark one look walks; more are left to the next look.
WALK_LIMIT = 1_000
# A look walks this many events first, and walks on (four times as many each step, up to the
# limit) only past a stretch that is all applied: the first event not applied ends what a look
# can use (`progress_of`), and while the projector works through a backlog it comes early.
FIRST_STEP = 64
CHANGE_LOG_LOCKS = 0x4D4348  # the class (first int4 key) of the change-log advisory locks

# Whether a log row `l` is applied. A student stream is applied up to its state's version; a
# stream with no state yet holds nothing applied but corrective work (which is not evidence and
# makes no state), and a walk in position order meets its stream's earlier events first. The
# version is read from its column (0: the state names none), not from the state's document,
# which would be read out of TOAST and parsed for every event walked.
_APPLIED = """CASE WHEN l.student_stream THEN coalesce(
    (SELECT nullif(p.last_version, 0) FROM proficiencies p
      WHERE p.tenant_id = l.tenant_id AND p.student_id = split_part(l.stream_id, '/', 2)
        AND p.standard_id = split_part(l.stream_id, '/', 3)),
    CASE WHEN l.event_type LIKE 'corrective\\_work\\_recorded.%' THEN l.stream_version ELSE 0 END
  ) >= l.stream_version
ELSE coalesce(
    (SELECT a.stream_version FROM applied_policy_versions a
      WHERE a.tenant_id = l.tenant_id AND a.stream_id = l.stream_id), 0
  ) >= l.stream_version
END"""
# The events after each tenant's position `after`, at most `steps` of each, one index range scan
# each.
_WALK = f"""
SELECT t.tenant_id, w.position, w.applied
  FROM unnest($1::text[], $2::bigint[], $3::int[]) AS t (tenant_id, after, steps)
 CROSS JOIN LATERAL (
    SELECT l.position, {_APPLIED} AS applied
      FROM attempt_log l
     WHERE l.tenant_id = t.tenant_id AND l.position > t.after
     ORDER BY l.position
     LIMIT t.steps) AS w
 ORDER BY t.tenant_id, w.position
"""  # noqa: S608 - no input in it
# Transaction ids as 64-bit numbers. The next id to be assigned is not the snapshot's xmax (that
# is the newest finished id + 1); `age()` in a transaction without an id measures from it, and
# its 32 bits are put in the epoch of xmax, which it is at most 2^31 ahead of. The statement
# runs without a transaction id of its own (reads, or the projector after its commit), and reads
# the next id after its snapshot is taken.
_XMAX = "pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
_NEXT_XID = f"""{_XMAX} + ((((3 + age('3'::xid)::bigint) % 4294967296 + 4294967296) % 4294967296
    - {_XMAX} % 4294967296 + 4294967296) % 4294967296)"""
_LOOK = f"""
SELECT t.tenant_id,
       pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS oldest_running,
       {_NEXT_XID} AS next_xid,
       coalesce((SELECT max(l.position) FROM attempt_log l WHERE l.tenant_id = t.tenant_id), 0)
           AS newest,
       coalesce(r.log_position, 0) AS log_position, r.pending_position, r.pending_horizon
  FROM unnest($1::text[]) AS t (tenant_id)
  LEFT JOIN read_model_positions r ON r.tenant_id = t.tenant_id
"""  # noqa: S608 - no input in it
_STORE = """
INSERT INTO read_model_positions
    (tenant_id, log_position, pending_position, pending_horizon, updated_at)
SELECT *, now() FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
ON CONFLICT (tenant_id) DO UPDATE
   SET log_position = greatest(read_model_positions.log_position, EXCLUDED.log_position),
       pending_position = EXCLUDED.pending_position,
       pending_horizon = EXCLUDED.pending_horizon,
       updated_at = EXCLUDED.updated_at
"""
_LOCK_CHANGE_LOGS = (
    "SELECT count(pg_advisory_xact_lock($1, h)) FROM ("
    "SELECT DISTINCT hashtext(tenant_id) AS h FROM unnest($2::text[]) AS tenant_id ORDER BY h"
    ") AS ordered"
)
_MARK_POLICIES = """
INSERT INTO applied_policy_versions (tenant_id, stream_id, stream_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[])
ON CONFLICT (tenant_id, stream_id) DO UPDATE
   SET stream_version = greatest(applied_policy_versions.stream_version,
                                 EXCLUDED.stream_version)
"""


async def look(connection: DbConnection, tenant_id: str, wanted: int | None) -> Progress:
    """How far the read model has got for `tenant_id` (writes nothing)."""
    return (await looks(connection, {tenant_id: wanted}))[tenant_id]


async def looks(connection: DbConnection, wanted: dict[str, int | None]) -> dict[str, Progress]:
    """How far the read model has got for each tenant, and whether the position wanted of each
    is reached, in two statements (more only past a long stretch all applied). Run it outside
    any transaction that has written: the next transaction id must be read after the
    snapshot."""
    tenants = sorted(wanted)
    rows = await connection.fetch(_LOOK, tenants)
    events = await _walk(connection, {row["tenant_id"]: row["log_position"] for row in rows})
    return {row["tenant_id"]: progress_of(_seen(row, events), wanted[row["tenant_id"]])
            for row in rows}  # fmt: skip


async def _walk(connection: DbConnection, after: dict[str, int]) -> dict[str, list[LoggedEvent]]:
    """Each tenant's events after its position, up to its first event not applied or
    `WALK_LIMIT` events, in steps (`FIRST_STEP`): usually one statement."""
    events: dict[str, list[LoggedEvent]] = {tenant: [] for tenant in after}
    walking, step = dict(after), FIRST_STEP
    while walking:
        tenants = sorted(walking)
        steps = [min(step, WALK_LIMIT - len(events[tenant])) for tenant in tenants]
        found: dict[str, list[LoggedEvent]] = {tenant: [] for tenant in tenants}
        for tenant, position, applied in await connection.fetch(
            _WALK, tenants, [walking[tenant] for tenant in tenants], steps
        ):
            found[tenant].append(LoggedEvent(position, applied))
        walking = {}
        for tenant, wanted_steps in zip(tenants, steps, strict=True):
            events[tenant] += found[tenant]
            stretch = found[tenant]
            all_applied = len(stretch) == wanted_steps and all(e.applied for e in stretch)
            if all_applied and len(events[tenant]) < WALK_LIMIT:
                walking[tenant] = stretch[-1].position
        step *= 4
    return events


def _seen(row: asyncpg.Record, events: dict[str, list[LoggedEvent]]) -> Look:
    pending = None
    if row["pending_position"] is not None:
        pending = Pending(position=row["pending_position"], horizon=row["pending_horizon"])
    return Look(
        watermark=row["log_position"],
        pending=pending,
        oldest_running=row["oldest_running"],
        next_xid=row["next_xid"],
        newest=row["newest"],
        events=events[row["tenant_id"]],
        walk_limit=WALK_LIMIT,
    )


async def raise_watermarks(connection: DbConnection, tenant_ids: Iterable[str]) -> None:
    """After a projector batch commits: store how far each tenant's read model got, and a new
    claim for a later look to prove. W never moves back; any claim stored is true."""
    found = await looks(connection, dict.fromkeys(tenant_ids))
    tenants = sorted(found)  # rows locked in one order
    await connection.execute(
        _STORE,
        tenants,
        [found[tenant].watermark for tenant in tenants],
        [found[tenant].pending.position for tenant in tenants],
        [found[tenant].pending.horizon for tenant in tenants],
    )


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
    tenants = sorted(set(tenant_ids))
    if tenants:
        await connection.execute(_LOCK_CHANGE_LOGS, CHANGE_LOG_LOCKS, tenants)


async def newest_change(connection: DbConnection, tenant_id: str) -> int:
    """The tenant's newest committed change-log position (0: none)."""
    found = await connection.fetchval(
        "SELECT max(position) FROM mastery_changes WHERE tenant_id = $1", tenant_id
    )
    return int(found or 0)
