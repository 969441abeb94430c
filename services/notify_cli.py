"""`mastery notify preview`: the email a guardian would receive for a student's latest change on
a standard, rendered as the composer renders it, from the changes notify received (its own table:
notify reads nothing of mastery's). Text to stdout, HTML to `--html-out`. Sends nothing.

`DATABASE_URL`: the notify role; without `--tenant`, the change is looked up in every tenant's
rows and must belong to one.
"""

import argparse
import sys
from pathlib import Path

import asyncpg

from services.notify.adapters import family, store
from services.notify.adapters.rendering import Renderer
from services.notify.core.messages import Email, Guardian, email_facts
from shared.contract.events.mastery import MasteryChanged
from shared.platform.tenant_scope import ALL_TENANTS, TENANT_SETTING


def add_notify_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    notify = commands.add_parser("notify", help="family emails").add_subparsers(
        dest="action", required=True
    )
    preview = notify.add_parser(
        "preview",
        help="render the email for a student's latest change on a standard (sends nothing)",
        description="As the student's first guardian would receive it (or a guardian without "
        "a name when there is none); --language overrides the guardian's language.",
    )
    preview.add_argument("--student", required=True)
    preview.add_argument("--standard", required=True)
    preview.add_argument("--language", help="a BCP 47 tag; default: the guardian's")
    preview.add_argument("--tenant", help="default: the one tenant with that change")
    preview.add_argument("--html-out", type=Path, help="write the HTML part to this file")
    preview.add_argument("--database-url")


async def notify_command(url: str, args: argparse.Namespace) -> None:
    tenant = args.tenant or ALL_TENANTS
    connection = await asyncpg.connect(url, server_settings={TENANT_SETTING: tenant})
    try:
        change = await _latest(connection, args.tenant, args.student, args.standard)
        email = await render_preview(connection, change, args.language)
    finally:
        await connection.close()
    if args.html_out:
        args.html_out.write_text(email.html, encoding="utf-8")
    sys.stdout.write(f"Subject: {email.subject}\nContent-Language: {email.language}\n\n")
    sys.stdout.write(email.body)


async def _latest(
    connection: "asyncpg.Connection[asyncpg.Record]",
    tenant: str | None,
    student: str,
    standard: str,
) -> MasteryChanged:
    tenants = [tenant] if tenant else await _tenants_with(connection, student, standard)
    if len(tenants) > 1:
        raise SystemExit(
            f"mastery notify preview: several tenants have it; pick --tenant {tenants}"
        )
    change = (
        await family.latest_change(connection, tenants[0], student, standard) if tenants else None
    )
    if change is None:
        raise SystemExit(f"mastery notify preview: no change of {student!r} on {standard!r}")
    return change


async def _tenants_with(
    connection: "asyncpg.Connection[asyncpg.Record]", student: str, standard: str
) -> list[str]:
    rows = await connection.fetch(
        "SELECT DISTINCT tenant_id FROM notified_changes WHERE student_id = $1 "
        "AND standard_id = $2 ORDER BY tenant_id",
        student,
        standard,
    )
    return [row["tenant_id"] for row in rows]


async def render_preview(
    connection: "asyncpg.Connection[asyncpg.Record]", change: MasteryChanged, language: str | None
) -> Email:
    guardians = await store.guardians_of(connection, change.tenant_id, change.student_id)
    guardian = guardians[0] if guardians else Guardian(email="guardian@example.invalid")
    if language:
        guardian = Guardian(email=guardian.email, name=guardian.name, language=language)
    name = await family.student_name(connection, change.tenant_id, change.student_id)
    settings = await family.settings_of(connection, change.tenant_id)
    facts = email_facts(change, guardian, name, settings)
    return Renderer().render(facts, guardian.email, settings.reply_to)
