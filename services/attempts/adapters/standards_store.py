"""Standards and the tenant's default policy: events in the store, current state beside them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import asyncpg
import msgspec

from services.attempts.adapters.event_store import (
    NewEvent,
    append,
    in_retried_transaction,
    new_event_id,
    position_of,
)
from services.attempts.core.recording import Refuse
from services.attempts.core.standards import (
    DefineStandard,
    SetTenantPolicy,
    Unchanged,
    decide_define_standard,
    decide_set_policy,
)
from shared.contract.events.standards import (
    StandardDefined,
    TenantPolicySet,
    policy_stream_id,
    standard_stream_id,
)
from shared.platform.postgres import DbConnection
from shared.platform.rows import Columns, sql

_standard = msgspec.json.Decoder(StandardDefined)
_policy = msgspec.json.Decoder(TenantPolicySet)
_encoder = msgspec.json.Encoder()


class Saved(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Literal["created", "updated", "unchanged"]
    version: int
    position: int  # in the log, of the definition now current (unchanged: the one before)


async def load_standard(
    connection: DbConnection, tenant_id: str, standard_id: str
) -> tuple[StandardDefined, int] | None:
    row = await connection.fetchrow(
        "SELECT definition::text, version FROM standards WHERE tenant_id = $1 AND standard_id = $2",
        tenant_id,
        standard_id,
    )
    return (_standard.decode(row["definition"]), row["version"]) if row else None


async def load_standards(
    connection: DbConnection | asyncpg.Pool, tenant_id: str, standard_ids: Sequence[str] | None
) -> dict[str, StandardDefined]:
    """The tenant's standards (or just those named), by id."""

    rows = await connection.fetch(
        "SELECT definition::text FROM standards WHERE tenant_id = $1 "
        "AND ($2::text[] IS NULL OR standard_id = ANY($2::text[])) ORDER BY standard_id",
        tenant_id,
        None if standard_ids is None else list(standard_ids),
    )
    standards = [_standard.decode(row["definition"]) for row in rows]
    return {standard.standard_id: standard for standard in standards}


async def load_policy(
    connection: DbConnection | asyncpg.Pool, tenant_id: str
) -> tuple[TenantPolicySet, int] | None:
    row = await connection.fetchrow(
        "SELECT policy::text, version FROM tenant_policies WHERE tenant_id = $1", tenant_id
    )
    return (_policy.decode(row["policy"]), row["version"]) if row else None


class StandardsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def define(self, command: DefineStandard, *, now: datetime) -> Saved | Refuse:
        stream = standard_stream_id(command.tenant_id, command.standard_id)

        async def work(connection: DbConnection) -> Saved | Refuse:
            current = await load_standard(connection, command.tenant_id, command.standard_id)
            policy = await load_policy(connection, command.tenant_id)
            decision = decide_define_standard(
                command,
                current=current[0] if current else None,
                tenant_policy=policy[0] if policy else None,
                now=now,
            )
            return await self._record(connection, stream, current, decision)

        return await in_retried_transaction(self._pool, command.tenant_id, work, stream)

    async def set_policy(self, command: SetTenantPolicy, *, now: datetime) -> Saved | Refuse:
        stream = policy_stream_id(command.tenant_id)

        async def work(connection: DbConnection) -> Saved | Refuse:
            current = await load_policy(connection, command.tenant_id)
            standards = await load_standards(connection, command.tenant_id, None)
            decision = decide_set_policy(
                command,
                current=current[0] if current else None,
                standards=list(standards.values()),
                now=now,
            )
            return await self._record(connection, stream, current, decision)

        return await in_retried_transaction(self._pool, command.tenant_id, work, stream)

    async def _record(
        self,
        connection: DbConnection,
        stream: str,
        current: tuple[object, int] | None,
        decision: StandardDefined | TenantPolicySet | Unchanged | Refuse,
    ) -> Saved | Refuse:
        """Append the decided event at the next version and upsert the current-state row."""
        version = current[1] if current else 0
        if isinstance(decision, Refuse):
            return decision
        if isinstance(decision, Unchanged):
            position = await position_of(connection, stream, version)
            return Saved(outcome="unchanged", version=version, position=position)
        new = _new(stream, version + 1, decision)
        positions = await append(connection, [new])
        await _store_current(connection, decision, version + 1)
        return Saved(outcome="updated" if current else "created", version=version + 1,
                     position=positions[new.event_id])  # fmt: skip


class StandardRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `standards`: a standard's current definition."""

    tenant_id: str
    standard_id: str
    definition: Annotated[str, sql("jsonb")]
    version: int


class PolicyRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `tenant_policies`: the tenant's current default policy."""

    tenant_id: str
    policy: Annotated[str, sql("jsonb")]
    version: int


_STANDARDS = Columns(StandardRow)
_POLICIES = Columns(PolicyRow)
_UPSERT_STANDARD = (
    f"INSERT INTO standards ({_STANDARDS.listed}) VALUES ({_STANDARDS.placeholders()}) "  # noqa: S608 - names from the row Struct
    "ON CONFLICT (tenant_id, standard_id) DO UPDATE "
    "SET definition = EXCLUDED.definition, version = EXCLUDED.version"
)
_UPSERT_POLICY = (
    f"INSERT INTO tenant_policies ({_POLICIES.listed}) VALUES ({_POLICIES.placeholders()}) "  # noqa: S608 - names from the row Struct
    "ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy, version = EXCLUDED.version"
)


async def _store_current(
    connection: DbConnection, event: StandardDefined | TenantPolicySet, version: int
) -> None:
    """The current-state row beside the event, at the event's version."""
    encoded = _encoder.encode(event).decode()
    if isinstance(event, StandardDefined):
        row = StandardRow(
            tenant_id=event.tenant_id,
            standard_id=event.standard_id,
            definition=encoded,
            version=version,
        )
        await connection.execute(_UPSERT_STANDARD, *_STANDARDS.values(row))
    else:
        policy = PolicyRow(tenant_id=event.tenant_id, policy=encoded, version=version)
        await connection.execute(_UPSERT_POLICY, *_POLICIES.values(policy))


def _new(stream: str, version: int, event: StandardDefined | TenantPolicySet) -> NewEvent:
    return NewEvent(stream_id=stream, version=version, event_id=new_event_id(), event=event)
