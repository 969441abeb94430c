"""`mastery report link`: a signed, expiring link to a student's family report, for an email or a
letter home. Reads REPORT_LINK_SECRET, REPORT_LINK_DAYS and MASTERY_PUBLIC_URL (or
MASTERY_HTTP_HOST and MASTERY_HTTP_PORT) as the mastery service does; needs no database.
"""

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from services.mastery.config import MIN_SECRET_LENGTH, MasteryConfig, ReportLinkSettings
from shared.platform import report_links
from shared.platform.config import load_config


def add_report_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    report = commands.add_parser("report", help="family reports").add_subparsers(
        dest="action", required=True
    )
    link = report.add_parser(
        "link",
        help="print a signed link to a student's family report",
        description="The link opens the report in --language (English and Spanish are complete; "
        "any other reads English) until it expires (REPORT_LINK_DAYS, or --days).",
    )
    link.add_argument("--tenant", required=True)
    link.add_argument("--student", required=True)
    link.add_argument("--language", default="en", help="a BCP 47 tag (default: en)")
    link.add_argument("--days", type=float, help="default: REPORT_LINK_DAYS (30)")


def settings_from(environ: Mapping[str, str]) -> ReportLinkSettings:
    return load_config(MasteryConfig, {"DATABASE_URL": "", **environ}).report_links()


def report_command(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> int:
    settings = settings_from(environ)
    if len(settings.report_link_secret) < MIN_SECRET_LENGTH:
        print(
            f"mastery report link: REPORT_LINK_SECRET must be set, at least {MIN_SECRET_LENGTH} "
            "characters, and the same as the mastery service's",
            file=sys.stderr,
        )
        return 2
    lifetime = (
        settings.lifetime()
        if args.days is None
        else ReportLinkSettings(report_link_days=args.days).lifetime()
    )
    try:
        link = report_links.report_link(
            args.tenant, args.student, args.language, datetime.now(UTC), lifetime
        )
    except ValueError as refused:
        print(f"mastery report link: {refused}", file=sys.stderr)
        return 2
    secret = settings.report_link_secret.encode()
    print(report_links.url(secret, settings.mastery_public_url, link))
    print(f"expires {link.expires_at.isoformat()}", file=sys.stderr)
    return 0
