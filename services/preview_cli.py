"""`mastery preview`: what a proposed policy would do to a standard's students, as a table.

The same read-only preview as `POST /v1/standards/{id}/policy-preview`, straight from the
database (`DATABASE_URL`: the mastery role, whose row-level security this sets to the tenant).
"""

import argparse
import sys
from typing import Any

import asyncpg
import msgspec

from services.mastery.adapters.preview import (
    PolicyOut,
    PreviewOut,
    UnknownStandard,
    preview_standard,
)
from services.mastery.core.preview import ProposalRefused
from shared.contract.grading import METHODS
from shared.contract.policy_fields import FieldRefused, PolicyFieldsIn
from shared.platform.tenant_scope import TENANT_SETTING


def add_preview_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    preview = commands.add_parser(
        "preview",
        help="what a proposed policy would do to a standard's students (changes nothing)",
        description="Fields left out take their defaults, as PUT /v1/standards/{id} gives them.",
    )
    preview.add_argument("--tenant", required=True)
    preview.add_argument("--standard", required=True)
    preview.add_argument("--method", choices=METHODS, help="default: the tenant's")
    preview.add_argument("--param", type=float, help="the method's parameter")
    preview.add_argument("--mastery-threshold", type=float)
    preview.add_argument("--floor-percent", type=float)
    preview.add_argument("--json", action="store_true", help="print the API's JSON answer")
    preview.add_argument("--database-url")


async def preview_command(url: str, args: argparse.Namespace) -> None:
    try:
        fields = msgspec.convert(_fields(args), PolicyFieldsIn)
    except msgspec.ValidationError as error:
        raise SystemExit(f"mastery preview: {error}") from None
    connection = await asyncpg.connect(url, server_settings={TENANT_SETTING: args.tenant})
    try:
        result = await preview_standard(connection, args.tenant, args.standard, fields)
    except UnknownStandard:
        raise SystemExit(f"mastery preview: no standard {args.standard!r}") from None
    except (FieldRefused, ProposalRefused) as refused:
        raise SystemExit(f"mastery preview: {refused}") from None
    finally:
        await connection.close()
    if args.json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        print("\n".join(table(result)))


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "method": args.method,
        "parameter": args.param,
        "mastery_threshold": args.mastery_threshold,
        "floor_percent": args.floor_percent,
    }
    return {name: value for name, value in given.items() if value is not None}


def table(result: PreviewOut) -> list[str]:
    now, then = result.current_policy, result.proposed_policy
    lines = [
        f"standard {result.standard_id}: {_policy(now)} -> {_policy(then)}",
        f"{'STUDENT':<24}{'NOW':>8} {'LEVEL':<14}{'PROPOSED':>8} {'LEVEL':<14}MASTERY",
    ]
    for row in result.students:
        a, b = row.current, row.proposed
        lines.append(
            f"{row.student_id:<24}{_score(a.score):>8} {a.level_label or '-':<14}"
            f"{_score(b.score):>8} {b.level_label or '-':<14}{row.effect.replace('_', ' ')}"
        )
    c = result.counts
    lines.append(
        f"{c.students} students: {c.gain} would gain mastery, {c.lose} lose it, {c.keep} keep "
        f"it, {c.not_mastered} not mastered either way; {c.level_changes} change level"
    )
    return lines


def _policy(policy: PolicyOut) -> str:
    parameter = f" {policy.parameter:g}" if policy.parameter is not None else ""
    return f"{policy.method}{parameter} (mastery at {policy.mastery_threshold:g})"


def _score(score: float | None) -> str:
    return "-" if score is None else f"{score:g}"
