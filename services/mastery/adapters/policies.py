"""Each standard's calculation policy, as announced on the attempts stream. PostgreSQL."""

from collections.abc import Iterable

import msgspec

from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.plan import StandardRef
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.platform.postgres import DbConnection

_policy = msgspec.json.Decoder(CalculationPolicy)
_standard = msgspec.json.Decoder(StandardDefined)
_tenant_policy = msgspec.json.Decoder(TenantPolicySet)
_encoder = msgspec.json.Encoder()


async def stored_policies(
    connection: DbConnection, standards: Iterable[StandardRef]
) -> dict[StandardRef, CalculationPolicy]:
    """The effective policies stored for these standards (a standard never announced is absent)."""
    refs = list(dict.fromkeys(standards))
    rows = await connection.fetch(
        "SELECT p.tenant_id, p.standard_id, p.policy::text FROM standard_policies p "
        "JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, standard_id) "
        "USING (tenant_id, standard_id)",
        [tenant for tenant, _ in refs],
        [standard for _, standard in refs],
    )
    return {(row["tenant_id"], row["standard_id"]): _policy.decode(row["policy"]) for row in rows}


async def policies_for(
    connection: DbConnection, standards: Iterable[StandardRef], default: CalculationPolicy
) -> dict[StandardRef, CalculationPolicy]:
    """Effective policies, `default` for a standard never announced (attempts from before
    standards existed)."""
    refs = list(dict.fromkeys(standards))
    stored = await stored_policies(connection, refs)
    return {ref: stored.get(ref, default) for ref in refs}


async def tenant_defaults(
    connection: DbConnection, tenants: Iterable[str]
) -> dict[str, TenantPolicySet]:
    rows = await connection.fetch(
        "SELECT tenant_id, policy::text FROM tenant_default_policies WHERE tenant_id = ANY($1)",
        list(tenants),
    )
    return {row["tenant_id"]: _tenant_policy.decode(row["policy"]) for row in rows}


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
