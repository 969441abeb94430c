"""Each problem type the code can answer has a page at its `type` URI (`/problems/<slug>`).

The slugs are read from the source: the second argument of `Problem(...)` and `ProblemKind(...)`
and each `slug=` given to `problem_response`; the catch-all handler's slugs are status phrases.
"""

import ast
from http import HTTPStatus
from pathlib import Path

import pytest

from shared.platform.problem_types import PROBLEM_TYPES, problem_page

ROOT = Path(__file__).resolve().parents[2]
CONSTRUCTORS = {"Problem", "ProblemKind"}


def _name(call: ast.Call) -> str:
    return getattr(call.func, "id", getattr(call.func, "attr", ""))


def _slugs_in(tree: ast.AST) -> set[str]:
    slugs: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        arguments = list(node.args)
        if _name(node) in CONSTRUCTORS and len(arguments) >= 2:
            first_two = arguments[1]
            if isinstance(first_two, ast.Starred):  # ProblemKind(422, *_INVALID)
                continue
            if isinstance(first_two, ast.Constant) and isinstance(first_two.value, str):
                slugs.add(first_two.value)
        for keyword in node.keywords:
            if keyword.arg == "slug" and isinstance(keyword.value, ast.Constant):
                slugs.add(str(keyword.value.value))
    return slugs


def slugs_in_code() -> set[str]:
    slugs: set[str] = set()
    for package in ("services", "shared"):
        for path in (ROOT / package).rglob("*.py"):
            slugs |= _slugs_in(ast.parse(path.read_text(), str(path)))
    return slugs


def test_the_source_walk_finds_the_slugs() -> None:
    found = slugs_in_code()
    assert {"unsupported-media-type", "reassessment-limit-reached", "rate-limited"} <= found
    assert len(found) >= 20


@pytest.mark.parametrize("slug", sorted(slugs_in_code()))
def test_every_slug_in_the_code_has_a_page(slug: str) -> None:
    assert slug in PROBLEM_TYPES


@pytest.mark.parametrize("status", [404, 405, 413, 401, 400, 429])
def test_the_catch_all_slugs_have_a_page(status: int) -> None:
    phrase = HTTPStatus(status).phrase
    assert problem_page(phrase.lower().replace(" ", "-")) is not None


def test_an_unknown_slug_has_none() -> None:
    assert problem_page("no-such-type") is None
