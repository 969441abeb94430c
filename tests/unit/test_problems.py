"""The attempts core refuses in domain terms; one adapter table makes each refusal a problem."""

import typing
from pathlib import Path

import msgspec
import pytest

import services.attempts.core
from services.attempts.adapters.problems import PROBLEM_KINDS, kind_of, problem_body, problem_for
from services.attempts.core.recording import Refuse
from services.attempts.core.refusals import (
    Conflict,
    ConflictReason,
    InvalidField,
    MethodNotAllowed,
    Missing,
    NotFound,
    Rule,
    RuleRefused,
    UndefinedStandard,
)


def _every_refusal() -> list[Refuse]:
    """One refusal of each kind: each type, and each rule, conflict and missing thing."""
    return [
        InvalidField(field="score", message="a scored attempt needs a score"),
        UndefinedStandard(standard_id="math.9"),
        MethodNotAllowed(method="mode", allowed=("latest", "highest")),
        *(
            RuleRefused(rule=rule, detail="refused", student_id="maya", standard_id="math.1")
            for rule in typing.get_args(Rule)
        ),
        *(Conflict(reason=reason, detail="conflict") for reason in typing.get_args(ConflictReason)),
        *(NotFound(missing=missing, id="x1") for missing in typing.get_args(Missing)),
    ]


def test_the_examples_cover_every_refusal_type() -> None:
    assert {type(refusal) for refusal in _every_refusal()} == set(typing.get_args(Refuse))


def test_the_table_maps_every_refusal_kind_and_nothing_else() -> None:
    kinds = [kind_of(refusal) for refusal in _every_refusal()]
    assert len(set(kinds)) == len(kinds)  # no two kinds share an entry by accident
    assert set(kinds) == set(PROBLEM_KINDS)


@pytest.mark.parametrize("refusal", _every_refusal(), ids=kind_of)
def test_every_refusal_renders_as_a_client_error_problem(refusal: Refuse) -> None:
    body = problem_body(refusal)
    assert 400 <= body.status < 500
    assert body.type.startswith("/problems/")
    assert body.title
    assert body.detail
    assert "{" not in body.detail + (body.remedy or "")  # every template was filled
    assert (body.rule is not None) == isinstance(refusal, RuleRefused)
    assert (body.remedy is not None) == isinstance(refusal, RuleRefused)
    assert (body.errors is not None) == (body.status == 422)
    raised = problem_for(refusal)
    assert (raised.status_code, raised.title, raised.detail) == (
        body.status,
        body.title,
        body.detail,
    )


def test_a_rule_refusal_names_the_rule_and_the_remedy() -> None:
    refusal = RuleRefused(
        rule="corrective_work_required", detail="d", student_id="maya", standard_id="math.1"
    )
    assert msgspec.to_builtins(problem_body(refusal)) == {
        "type": "/problems/corrective-work-required",
        "title": "Corrective work comes first",
        "status": 409,
        "detail": "d",
        "rule": "corrective_work_required",
        "remedy": "POST /v1/students/maya/standards/math.1/corrective-work, "
        "then post the reassessment again",
    }


def test_a_field_refusal_names_the_field_and_ends_with_its_remedy() -> None:
    body = msgspec.to_builtins(problem_body(UndefinedStandard(standard_id="math.9")))
    message = "unknown standard 'math.9': define it first with PUT /v1/standards/math.9"
    assert body == {
        "type": "/problems/validation-error",
        "title": "The request is not valid",
        "status": 422,
        "detail": f"standard_id: {message}",
        "errors": [{"field": "standard_id", "message": message}],
    }


def test_the_core_names_no_endpoint_or_status() -> None:
    for path in Path(next(iter(services.attempts.core.__path__))).glob("*.py"):
        source = path.read_text()
        assert "/v1/" not in source, path
        assert "slug" not in source, path
    for refusal in typing.get_args(Refuse):
        assert not {"status", "slug", "title", "remedy"} & set(refusal.__struct_fields__)
