"""Each standard's calculation policy, as announced on the attempts stream. PostgreSQL."""

from collections.abc import Iterable

import msgspec

from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.plan import StandardRef
from shared.contract.events.gradebook import decode_gradebook_event
from shared.contract.events.standards import (
    StandardDefined,
    TenantPolicySet,
    policy_stream_id,
    standard_stream_id,
)
from shared.platform.postgres import DbConnection

_policy = msgspec.json.Decoder(CalculationPolicy)
_standard = msgspec.json.Decoder(StandardDefined)
_encoder = msgspec.json.Encoder()


async def stored_policies(
    connection: DbConnection, standards: Iterable[StandardRef]
) -> dict[StandardRef, CalculationPolicy]:
    """The effective policies stored for these standards (a standard never announced is absent)."""
    return (await stored_standards(connection, standards))[1]


async def stored_standards(
    connection: DbConnection, standards: Iterable[StandardRef]
) -> tuple[dict[StandardRef, StandardDefined], dict[StandardRef, CalculationPolicy]]:
    """The stored definitions of these standards, with their effective policies."""
    refs = list(dict.fromkeys(standards))
    rows = await connection.fetch(
        "SELECT p.tenant_id, p.standard_id, p.definition::text, p.policy::text "
        "FROM standard_policies p "
        "JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, standard_id) "
        "USING (tenant_id, standard_id)",
        [tenant for tenant, _ in refs],
        [standard for _, standard in refs],
    )
    definitions = {
        (r["tenant_id"], r["standard_id"]): _standard.decode(r["definition"]) for r in rows
    }
    stored = {(r["tenant_id"], r["standard_id"]): _policy.decode(r["policy"]) for r in rows}
    return definitions, stored


async def newest_in_log(
    connection: DbConnection, standards: Iterable[StandardRef], tenants: Iterable[str]
) -> tuple[dict[StandardRef, StandardDefined], dict[str, TenantPolicySet]]:
    """The newest definition of each standard and the newest policy of each tenant in the
    attempts log (its read contract): the bus only says that they changed."""
    refs, tenant_ids = list(standards), list(tenants)
    streams = [standard_stream_id(*ref) for ref in refs] + [policy_stream_id(t) for t in tenant_ids]
    rows = await connection.fetch(
        "SELECT DISTINCT ON (stream_id) stream_id, data::text FROM attempt_log "
        "WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version DESC",
        streams,
    )
    newest = {row["stream_id"]: decode_gradebook_event(row["data"]) for row in rows}
    defined = {ref: newest.get(standard_stream_id(*ref)) for ref in refs}
    policies = {tenant: newest.get(policy_stream_id(tenant)) for tenant in tenant_ids}
    return (
        {ref: event for ref, event in defined.items() if isinstance(event, StandardDefined)},
        {tenant: event for tenant, event in policies.items() if isinstance(event, TenantPolicySet)},
    )


async def standards_of_tenants(
    connection: DbConnection, tenants: Iterable[str]
) -> tuple[dict[StandardRef, StandardDefined], dict[StandardRef, CalculationPolicy]]:
    """Every stored standard definition of these tenants, with its stored effective policy."""
    rows = await connection.fetch(
        "SELECT tenant_id, standard_id, definition::text, policy::text FROM standard_policies "
        "WHERE tenant_id = ANY($1) ORDER BY tenant_id, standard_id",
        list(tenants),
    )
    definitions = {
        (r["tenant_id"], r["standard_id"]): _standard.decode(r["definition"]) for r in rows
    }
    stored = {(r["tenant_id"], r["standard_id"]): _policy.decode(r["policy"]) for r in rows}
    return definitions, stored


async def save_standard(
    connection: DbConnection, event: StandardDefined, policy: CalculationPolicy
) -> None:
    await connection.execute(
        "INSERT INTO standard_policies (tenant_id, standard_id, definition, policy) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, standard_id) DO UPDATE "
        "SET definition = EXCLUDED.definition, policy = EXCLUDED.policy",
        event.tenant_id,
        event.standard_id,
        _encoder.encode(event).decode(),
        _encoder.encode(policy).decode(),
    )


async def save_tenant_default(connection: DbConnection, event: TenantPolicySet) -> None:
    await connection.execute(
        "INSERT INTO tenant_default_policies (tenant_id, policy) VALUES ($1, $2) "
        "ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy",
        event.tenant_id,
        _encoder.encode(event).decode(),
    )
