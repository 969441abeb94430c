"""PostgreSQL adapter of what family emails need besides guardians: students' display names, the
school's mail settings, and the changes notify consumed (for previews, and later digests)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from services.notify.core.messages import TenantSettings
from services.notify.core.storms import QuietHours, StormSettings
from shared.contract.events.mastery import MasteryChanged
from shared.platform.postgres import DbConnection

_change_encoder = msgspec.json.Encoder()
_change_decoder = msgspec.json.Decoder(MasteryChanged)


async def set_student_name(
    connection: DbConnection, tenant_id: str, student_id: str, display_name: str
) -> None:
    await connection.execute(
        "INSERT INTO student_names (tenant_id, student_id, display_name) VALUES ($1, $2, $3) "
        "ON CONFLICT (tenant_id, student_id) "
        "DO UPDATE SET display_name = excluded.display_name, updated_at = now()",
        tenant_id,
        student_id,
        display_name,
    )


async def student_name(connection: DbConnection, tenant_id: str, student_id: str) -> str:
    """The student's display name, or "" when none was given."""
    name = await connection.fetchval(
        "SELECT display_name FROM student_names WHERE tenant_id = $1 AND student_id = $2",
        tenant_id,
        student_id,
    )
    return str(name) if name is not None else ""


_SETTINGS_COLUMNS = (
    "time_zone, portal_url_template, reply_to, grace_seconds, flap_window_hours, "
    "policy_changes, quiet_start, quiet_end, digest_hour, digest_weekday"
)


async def set_settings(connection: DbConnection, tenant_id: str, settings: TenantSettings) -> None:
    storm, quiet = settings.storm, settings.storm.quiet_hours
    await connection.execute(
        f"INSERT INTO mail_settings (tenant_id, {_SETTINGS_COLUMNS}) "  # noqa: S608 - constant
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (tenant_id) DO UPDATE "
        f"SET ({_SETTINGS_COLUMNS}, updated_at) = (excluded.time_zone, "
        "excluded.portal_url_template, excluded.reply_to, excluded.grace_seconds, "
        "excluded.flap_window_hours, excluded.policy_changes, excluded.quiet_start, "
        "excluded.quiet_end, excluded.digest_hour, excluded.digest_weekday, now())",
        tenant_id,
        settings.time_zone,
        settings.portal_url_template,
        settings.reply_to,
        storm.grace_seconds,
        storm.flap_window_hours,
        storm.policy_changes,
        quiet.start if quiet else None,
        quiet.end if quiet else None,
        storm.digest_hour,
        storm.digest_weekday,
    )


async def settings_of(
    connection: DbConnection, tenant_id: str, storm: StormSettings | None = None
) -> TenantSettings:
    """The tenant's mail settings, or the defaults (UTC, no link, no Reply-To, and `storm`: the
    service's defaults for the grace delay and the rest)."""
    row = await connection.fetchrow(
        f"SELECT {_SETTINGS_COLUMNS} FROM mail_settings WHERE tenant_id = $1",  # noqa: S608
        tenant_id,
    )
    if row is None:
        return TenantSettings(storm=storm or StormSettings())
    quiet = None
    if row["quiet_start"] is not None:
        quiet = QuietHours(start=row["quiet_start"], end=row["quiet_end"])
    storm = StormSettings(
        grace_seconds=row["grace_seconds"],
        flap_window_hours=row["flap_window_hours"],
        policy_changes=row["policy_changes"],
        quiet_hours=quiet,
        digest_hour=row["digest_hour"],
        digest_weekday=row["digest_weekday"],
    )
    return TenantSettings(
        time_zone=row["time_zone"],
        portal_url_template=row["portal_url_template"],
        reply_to=row["reply_to"],
        storm=storm,
    )


async def keep_change(connection: DbConnection, change: MasteryChanged) -> None:
    await keep_changes(connection, [change])


async def keep_changes(connection: DbConnection, changes: Sequence[MasteryChanged]) -> None:
    """Keep the changes notify received, in one statement; a change kept before is left as it
    was (a redelivery)."""
    if not changes:
        return
    await connection.execute(
        "INSERT INTO notified_changes "
        "(tenant_id, change_id, student_id, standard_id, changed_at, event) "
        "SELECT tenant_id, change_id, student_id, standard_id, changed_at, event::jsonb "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], "
        "$6::text[]) AS c (tenant_id, change_id, student_id, standard_id, changed_at, event) "
        "ON CONFLICT DO NOTHING",
        [change.tenant_id for change in changes],
        [change.change_id for change in changes],
        [change.student_id for change in changes],
        [change.standard_id for change in changes],
        [change.changed_at for change in changes],
        [_change_encoder.encode(change).decode() for change in changes],
    )


async def latest_change(
    connection: DbConnection, tenant_id: str, student_id: str, standard_id: str
) -> MasteryChanged | None:
    """The newest change notify received for this student and standard."""
    event = await connection.fetchval(
        "SELECT event::text FROM notified_changes "
        "WHERE tenant_id = $1 AND student_id = $2 AND standard_id = $3 "
        "ORDER BY changed_at DESC, change_id DESC LIMIT 1",
        tenant_id,
        student_id,
        standard_id,
    )
    return None if event is None else _change_decoder.decode(event)
