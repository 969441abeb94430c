"""PostgreSQL adapter of what family emails need besides guardians: students' display names, the
school's mail settings, and the changes notify consumed (for previews, and later digests)."""

from __future__ import annotations

import msgspec

from services.notify.core.messages import TenantSettings
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


async def set_settings(connection: DbConnection, tenant_id: str, settings: TenantSettings) -> None:
    await connection.execute(
        "INSERT INTO mail_settings (tenant_id, time_zone, portal_url_template, reply_to) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET "
        "time_zone = excluded.time_zone, portal_url_template = excluded.portal_url_template, "
        "reply_to = excluded.reply_to, updated_at = now()",
        tenant_id,
        settings.time_zone,
        settings.portal_url_template,
        settings.reply_to,
    )


async def settings_of(connection: DbConnection, tenant_id: str) -> TenantSettings:
    """The tenant's mail settings, or the defaults (UTC, no link, no Reply-To)."""
    row = await connection.fetchrow(
        "SELECT time_zone, portal_url_template, reply_to FROM mail_settings WHERE tenant_id = $1",
        tenant_id,
    )
    if row is None:
        return TenantSettings()
    return TenantSettings(
        time_zone=row["time_zone"],
        portal_url_template=row["portal_url_template"],
        reply_to=row["reply_to"],
    )


async def keep_change(connection: DbConnection, change: MasteryChanged) -> None:
    await connection.execute(
        "INSERT INTO notified_changes "
        "(tenant_id, change_id, student_id, standard_id, changed_at, event) "
        "VALUES ($1, $2, $3, $4, $5, $6::text::jsonb) ON CONFLICT DO NOTHING",
        change.tenant_id,
        change.change_id,
        change.student_id,
        change.standard_id,
        change.changed_at,
        _change_encoder.encode(change).decode(),
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
