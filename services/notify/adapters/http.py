"""HTTP adapter of the notify service: who hears about a student's progress."""

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.notify.adapters.addresses import EmailAddress, GuardianName, normalised_address
from services.notify.adapters.store import failed_notifications, guardians_of, replace_guardians
from services.notify.core.messages import Delivery, Guardian
from shared.platform.auth import requires
from shared.platform.http import PathId
from shared.platform.tenant_scope import tenant_connection

# A well-formed BCP 47 tag (RFC 5646: language, script, region, variants; no extensions).
LanguageTag = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
        r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$",
        max_length=35,
        description="A BCP 47 language tag (e.g. en, es, es-MX); emails are in Spanish for es-*, "
        "in English for the rest.",
    ),
]


class GuardianIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    email: EmailAddress
    name: GuardianName = ""
    language: LanguageTag = "en"
    # `daily_digest` and `weekly_digest` are stored and their emails held for a digest job.
    delivery: Delivery = "immediate"

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "email", normalised_address("email", self.email))


class GuardiansIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    guardians: Annotated[list[GuardianIn], msgspec.Meta(max_length=10)]


class GuardianOut(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    name: str
    language: str
    delivery: Delivery


class GuardiansOut(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    guardians: list[GuardianOut]


def _guardians_view(student_id: str, guardians: list[Guardian]) -> GuardiansOut:
    return GuardiansOut(
        student_id=student_id,
        guardians=[
            GuardianOut(
                email=item.email, name=item.name, language=item.language, delivery=item.delivery
            )
            for item in guardians
        ],
    )


class GuardiansController(Controller):
    path = "/v1/students"
    tags = ["guardians"]  # noqa: RUF012

    @put(
        "/{student_id:str}/guardians",
        opt=requires("admin"),
        summary="Replace the guardians of a student",
    )
    async def put_guardians(
        self,
        student_id: PathId,
        data: JSONBody[GuardiansIn],
        tenant: NamedDependency[str],
        state: State,
    ) -> GuardiansOut:
        unique = {
            item.email.lower(): Guardian(
                email=item.email, name=item.name, language=item.language, delivery=item.delivery
            )
            for item in data.guardians
        }
        async with tenant_connection(state.pool, tenant) as connection:
            await replace_guardians(connection, tenant, student_id, list(unique.values()))
        return _guardians_view(student_id, list(unique.values()))

    @get("/{student_id:str}/guardians", opt=requires("read"), summary="The guardians of a student")
    async def get_guardians(
        self, student_id: PathId, tenant: NamedDependency[str], state: State
    ) -> GuardiansOut:
        async with tenant_connection(state.pool, tenant) as connection:
            guardians = await guardians_of(connection, tenant, student_id)
        return _guardians_view(student_id, guardians)


class FailedNotificationOut(msgspec.Struct, frozen=True, kw_only=True):
    change_id: str
    guardian_email: str
    student_id: str
    reason: str
    failed_at: datetime


class FailedNotificationsOut(msgspec.Struct, frozen=True, kw_only=True):
    failed: list[FailedNotificationOut]


class NotificationsController(Controller):
    path = "/v1/notifications"
    tags = ["notifications"]  # noqa: RUF012

    @get(
        "/failed",
        opt=requires("read"),
        summary="Emails the mail server refused for good",
        description="Parked after a permanent (5xx) refusal of the address or the message, "
        "newest first, with the server's reply. They are not retried.",
    )
    async def get_failed(
        self, tenant: NamedDependency[str], state: State
    ) -> FailedNotificationsOut:
        async with tenant_connection(state.pool, tenant) as connection:
            parked = await failed_notifications(connection, tenant)
        return FailedNotificationsOut(
            failed=[
                FailedNotificationOut(
                    change_id=item.change_id,
                    guardian_email=item.guardian_email,
                    student_id=item.student_id,
                    reason=item.reason,
                    failed_at=item.failed_at,
                )
                for item in parked
            ]
        )
