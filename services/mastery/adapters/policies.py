"""Each standard's calculation policy, as announced on the attempts stream. PostgreSQL."""

from collections.abc import Iterable

import msgspec

from services.mastery.core.calculation import CalculationPolicy, validate_policy
from shared.contract.events.standards import StandardDefined, TenantPolicySet, effective_policy
from shared.platform.postgres import DbConnection

_policy = msgspec.json.Decoder(CalculationPolicy)
_standard = msgspec.json.Decoder(StandardDefined)
_tenant_policy = msgspec.json.Decoder(TenantPolicySet)
_encoder = msgspec.json.Encoder()

StandardRef = tuple[str, str]  # (tenant_id, standard_id)


async def policies_for(
    connection: DbConnection, standards: Iterable[StandardRef], default: CalculationPolicy
) -> dict[StandardRef, CalculationPolicy]:
    """Effective policies; a standard never announced (attempts from before standards) gets
    `default`."""
    refs = list(dict.fromkeys(standards))
    rows = await connection.fetch(
        "SELECT p.tenant_id, p.standard_id, p.policy::text FROM standard_policies p "
        "JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, standard_id) "
        "USING (tenant_id, standard_id)",
        [tenant for tenant, _ in refs],
        [standard for _, standard in refs],
    )
    found = {(row["tenant_id"], row["standard_id"]): _policy.decode(row["policy"]) for row in rows}
    return {ref: found.get(ref, default) for ref in refs}


async def tenant_default(connection: DbConnection, tenant_id: str) -> TenantPolicySet | None:
    raw = await connection.fetchval(
        "SELECT policy::text FROM tenant_default_policies WHERE tenant_id = $1", tenant_id
    )
    return _tenant_policy.decode(raw) if raw else None


async def save_standard(
    connection: DbConnection, event: StandardDefined, policy: CalculationPolicy
) -> CalculationPolicy | None:
    """Store the standard and its effective policy; returns the policy it had before, if any."""
    before = await connection.fetchval(
        "SELECT policy::text FROM standard_policies WHERE tenant_id = $1 AND standard_id = $2 "
        "FOR UPDATE",
        event.tenant_id,
        event.standard_id,
    )
    await connection.execute(
        "INSERT INTO standard_policies (tenant_id, standard_id, definition, policy) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, standard_id) DO UPDATE "
        "SET definition = EXCLUDED.definition, policy = EXCLUDED.policy",
        event.tenant_id,
        event.standard_id,
        _encoder.encode(event).decode(),
        _encoder.encode(policy).decode(),
    )
    return _policy.decode(before) if before else None


async def save_tenant_default(connection: DbConnection, event: TenantPolicySet) -> None:
    await connection.execute(
        "INSERT INTO tenant_default_policies (tenant_id, policy) VALUES ($1, $2) "
        "ON CONFLICT (tenant_id) DO UPDATE SET policy = EXCLUDED.policy",
        event.tenant_id,
        _encoder.encode(event).decode(),
    )


async def standards_following_default(
    connection: DbConnection, tenant_id: str
) -> list[StandardDefined]:
    rows = await connection.fetch(
        "SELECT definition::text FROM standard_policies "
        "WHERE tenant_id = $1 AND definition->>'method' IS NULL ORDER BY standard_id",
        tenant_id,
    )
    return [_standard.decode(row["definition"]) for row in rows]


def resolved(standard: StandardDefined, tenant_policy: TenantPolicySet | None) -> CalculationPolicy:
    return validate_policy(effective_policy(standard, tenant_policy))
