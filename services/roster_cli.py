"""`mastery roster import FILE.zip --tenant T`: a OneRoster 1.2 CSV bulk zip imported as
`POST /v1/rosters/oneroster` imports it (all or nothing; every bad line listed).

`DATABASE_URL`: the mastery role (or the owner).
"""

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import msgspec

from services.mastery.adapters.roster_import import import_zip
from shared.platform.tenant_scope import TENANT_SETTING


def add_roster_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    roster = commands.add_parser("roster", help="class rosters").add_subparsers(
        dest="action", required=True
    )
    importing = roster.add_parser(
        "import",
        help="import a OneRoster 1.2 rostering CSV bulk zip (all or nothing)",
        description="Bulk or delta per file, as its manifest.csv says. Prints what changed as "
        "JSON; with bad lines, prints each (file:line field: why) and exits 1.",
    )
    importing.add_argument("file", type=Path)
    importing.add_argument("--tenant", required=True)
    importing.add_argument("--database-url")


async def roster_command(url: str, args: argparse.Namespace) -> int:
    data = args.file.read_bytes()
    connection = await asyncpg.connect(url, server_settings={TENANT_SETTING: args.tenant})
    try:
        result = await import_zip(connection, args.tenant, data, datetime.now(UTC))
    finally:
        await connection.close()
    if isinstance(result, list):
        for error in result:
            field = f" {error.field}" if error.field else ""
            print(f"{error.file}:{error.line}{field}: {error.message}", file=sys.stderr)
        print(f"{len(result)} problem(s); nothing was imported", file=sys.stderr)
        return 1
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(result)).decode() + "\n")
    return 0
