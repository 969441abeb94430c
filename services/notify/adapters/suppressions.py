"""A tenant's suppression list: addresses the mail server refused for good, and not mailed since.

The mailer adds an address when a server answers its RCPT TO with a 5xx (store.park) and marks
later emails to it `suppressed` instead of sending them (store.claim_due). An administrator lists
the addresses and lifts one once it is fixed; emails suppressed meanwhile stay unsent (they were
news of the day), and the next change is mailed again.
"""

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import Parameter

from services.notify.adapters.addresses import MAX_ADDRESS_LENGTH
from shared.platform.auth import requires
from shared.platform.http import Problem
from shared.platform.openapi import problem
from shared.platform.postgres import DbConnection
from shared.platform.tenant_scope import tenant_connection


class Suppression(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    reason: str
    change_id: str | None
    suppressed_at: datetime


async def suppressions_of(connection: DbConnection, tenant_id: str) -> list[Suppression]:
    """A tenant's suppressed addresses, newest first, with the server's reply."""
    rows = await connection.fetch(
        "SELECT address, reason, change_id, suppressed_at FROM suppressions "
        "WHERE tenant_id = $1 ORDER BY suppressed_at DESC, address",
        tenant_id,
    )
    return [
        Suppression(
            address=row["address"],
            reason=row["reason"],
            change_id=row["change_id"],
            suppressed_at=row["suppressed_at"],
        )
        for row in rows
    ]


async def lift(connection: DbConnection, tenant_id: str, address: str) -> bool:
    """Take `address` off the tenant's list; False when it was not on it."""
    lifted = await connection.fetchval(
        "DELETE FROM suppressions WHERE tenant_id = $1 AND address = lower($2) RETURNING 1",
        tenant_id,
        address,
    )
    return lifted is not None


class SuppressionOut(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    reason: str
    change_id: str | None
    suppressed_at: datetime


class SuppressionsOut(msgspec.Struct, frozen=True, kw_only=True):
    suppressions: list[SuppressionOut]


AddressParameter = Annotated[
    str,
    Parameter(
        max_length=MAX_ADDRESS_LENGTH,
        pattern=r"^[^\s/\x00-\x1f\x7f]+@[^\s/\x00-\x1f\x7f]+$",
        description="The suppressed address, in any case.",
    ),
]


class SuppressionsController(Controller):
    path = "/v1/suppressions"
    tags = ["notifications"]  # noqa: RUF012

    @get(
        "/",
        opt=requires("admin"),
        summary="Addresses no email is sent to",
        description="Each was refused for good by the mail server (a 5xx to RCPT TO), with its "
        "reply and the email it refused. Emails to them are marked suppressed, not sent.",
    )
    async def get_suppressions(self, tenant: NamedDependency[str], state: State) -> SuppressionsOut:
        async with tenant_connection(state.pool, tenant) as connection:
            listed = await suppressions_of(connection, tenant)
        return SuppressionsOut(
            suppressions=[SuppressionOut(**msgspec.structs.asdict(item)) for item in listed]
        )

    @delete(
        "/{address:str}",
        opt=requires("admin"),
        summary="Lift a suppression",
        description="The next email to the address is sent again. 404 if it is not suppressed.",
        responses={404: problem("The address is not suppressed")},
    )
    async def lift_suppression(
        self, address: AddressParameter, tenant: NamedDependency[str], state: State
    ) -> None:
        async with tenant_connection(state.pool, tenant) as connection:
            lifted = await lift(connection, tenant, address)
        if not lifted:
            raise Problem(
                404, "suppression-not-found", "Not suppressed", "That address is not suppressed."
            )
