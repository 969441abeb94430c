"""HTTP adapter: students' display names and the school's mail settings."""

from datetime import time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from litestar import Controller, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.notify.adapters import family
from services.notify.adapters.addresses import GuardianName, normalised_address
from services.notify.core.messages import TenantSettings
from services.notify.core.storms import PolicyChanges, QuietHours, StormSettings
from shared.contract.ids import SINGLE_LINE_TEXT_PATTERN
from shared.platform.auth import requires
from shared.platform.http import PathId
from shared.platform.tenant_scope import tenant_connection

PLACEHOLDERS = ("{student_id}", "{standard_id}")


class StudentIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    display_name: Annotated[GuardianName, msgspec.Meta(min_length=1)]


class StudentOut(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    display_name: str | None


LocalTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class QuietHoursIO(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Local wall times in the school's time zone, "HH:MM"; start after end spans midnight."""

    start: LocalTime
    end: LocalTime

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet_hours: start and end are the same time (use null for none)")

    def hours(self) -> QuietHours:
        return QuietHours(start=time.fromisoformat(self.start), end=time.fromisoformat(self.end))

    @classmethod
    def of(cls, quiet: QuietHours) -> "QuietHoursIO":
        return cls(start=quiet.start.strftime("%H:%M"), end=quiet.end.strftime("%H:%M"))


_DEFAULT_QUIET = QuietHoursIO(start="20:00", end="07:00")


class MailSettingsIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    time_zone: Annotated[str, msgspec.Meta(max_length=64)] = "UTC"
    portal_url_template: Annotated[
        str, msgspec.Meta(max_length=500, pattern=SINGLE_LINE_TEXT_PATTERN)
    ] = ""
    reply_to: Annotated[str, msgspec.Meta(max_length=254)] = ""
    grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 600.0
    flap_window_hours: Annotated[float, msgspec.Meta(ge=0, le=720)] = 24.0
    policy_changes: PolicyChanges = "summary"
    quiet_hours: QuietHoursIO | None = _DEFAULT_QUIET
    digest_hour: Annotated[int, msgspec.Meta(ge=0, le=23)] = 17
    digest_weekday: Annotated[int, msgspec.Meta(ge=0, le=6)] = 4  # Monday 0: Friday

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone: {self.time_zone!r} is not an IANA time zone") from None
        _check_portal(self.portal_url_template)
        if self.reply_to:
            address = normalised_address("reply_to", self.reply_to)
            msgspec.structs.force_setattr(self, "reply_to", address)


def _check_portal(template: str) -> None:
    if not template:
        return
    if not template.startswith(("https://", "http://")):
        raise ValueError("portal_url_template: must be an http(s) URL")
    rest = template
    for placeholder in PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest:
        raise ValueError(
            "portal_url_template: the only placeholders are {student_id}, {standard_id}"
        )


class MailSettingsOut(msgspec.Struct, frozen=True, kw_only=True):
    time_zone: str
    portal_url_template: str
    reply_to: str
    grace_seconds: float
    flap_window_hours: float
    policy_changes: PolicyChanges
    quiet_hours: QuietHoursIO | None
    digest_hour: int
    digest_weekday: int


class StudentsController(Controller):
    path = "/v1/students"
    tags = ["students"]  # noqa: RUF012

    @put("/{student_id:str}", opt=requires("admin"), summary="Set a student's display name")
    async def put_student(
        self,
        student_id: PathId,
        data: JSONBody[StudentIn],
        tenant: NamedDependency[str],
        state: State,
    ) -> StudentOut:
        async with tenant_connection(state.pool, tenant) as connection:
            await family.set_student_name(connection, tenant, student_id, data.display_name)
        return StudentOut(student_id=student_id, display_name=data.display_name)

    @get("/{student_id:str}", opt=requires("read"), summary="A student's display name")
    async def get_student(
        self, student_id: PathId, tenant: NamedDependency[str], state: State
    ) -> StudentOut:
        async with tenant_connection(state.pool, tenant) as connection:
            name = await family.student_name(connection, tenant, student_id)
        return StudentOut(student_id=student_id, display_name=name or None)


class MailSettingsController(Controller):
    path = "/v1/mail-settings"
    tags = ["mail settings"]  # noqa: RUF012

    @put("/", opt=requires("admin"), summary="Set the school's mail settings")
    async def put_settings(
        self, data: JSONBody[MailSettingsIn], tenant: NamedDependency[str], state: State
    ) -> MailSettingsOut:
        settings = _settings(data)
        async with tenant_connection(state.pool, tenant) as connection:
            await family.set_settings(connection, tenant, settings)
        return _view(settings)

    @get("/", opt=requires("read"), summary="The school's mail settings")
    async def get_settings(self, tenant: NamedDependency[str], state: State) -> MailSettingsOut:
        async with tenant_connection(state.pool, tenant) as connection:
            settings = await family.settings_of(connection, tenant)
        return _view(settings)


def _settings(data: MailSettingsIn) -> TenantSettings:
    quiet = data.quiet_hours
    storm = StormSettings(
        grace_seconds=data.grace_seconds,
        flap_window_hours=data.flap_window_hours,
        policy_changes=data.policy_changes,
        quiet_hours=quiet.hours() if quiet else None,
        digest_hour=data.digest_hour,
        digest_weekday=data.digest_weekday,
    )
    return TenantSettings(
        time_zone=data.time_zone,
        portal_url_template=data.portal_url_template,
        reply_to=data.reply_to,
        storm=storm,
    )


def _view(settings: TenantSettings) -> MailSettingsOut:
    storm, quiet = settings.storm, settings.storm.quiet_hours
    return MailSettingsOut(
        time_zone=settings.time_zone,
        portal_url_template=settings.portal_url_template,
        reply_to=settings.reply_to,
        grace_seconds=storm.grace_seconds,
        flap_window_hours=storm.flap_window_hours,
        policy_changes=storm.policy_changes,
        quiet_hours=QuietHoursIO.of(quiet) if quiet else None,
        digest_hour=storm.digest_hour,
        digest_weekday=storm.digest_weekday,
    )
