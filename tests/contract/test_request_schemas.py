"""Request schemas as strict as the server: what the document accepts, the service accepts, and
the other way round, for the rules a client can check before sending."""

from typing import Any

import msgspec
import pytest
from jsonschema_rs import Draft202012Validator

from shared.platform.openapi import api_routes, request_struct
from tests.unit.test_route_scopes import APPS

SCORED = {"attempt_id": "q1", "student_id": "maya", "standard_id": "math.1", "score": 3,
          "assessed_at": "2026-10-01T09:30:00Z"}  # fmt: skip


def _validator(service: str, component: str) -> Draft202012Validator:
    document = APPS[service]().openapi_schema.to_schema()
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return Draft202012Validator(schema, validate_formats=True)


def _valid(validator: Draft202012Validator, body: Any) -> bool:
    return bool(validator.is_valid(body))


@pytest.mark.parametrize("service", sorted(APPS))
def test_a_body_that_refuses_unknown_fields_says_so(service: str) -> None:
    app = APPS[service]()
    document = app.openapi_schema.to_schema()
    schemas = document["components"]["schemas"]
    checked = 0
    for route, handler in api_routes(app):
        struct = request_struct(handler)
        if struct is None or not struct.__struct_config__.forbid_unknown_fields:
            continue
        for method in handler.http_methods:
            body = document["paths"][route.path_format][method.lower()]["requestBody"]
            ref = body["content"]["application/json"]["schema"]["$ref"]
            assert schemas[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, ref
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize(
    ("body", "valid"),
    [(SCORED, True),
     ({**SCORED, "status": "scored"}, True),
     ({k: v for k, v in SCORED.items() if k != "score"}, False),  # scored needs a score
     ({**SCORED, "score": None}, False),
     ({**SCORED, "status": "missing", "score": None}, True),
     ({k: v for k, v in SCORED.items() if k != "score"} | {"status": "excused"}, True),
     ({**SCORED, "status": "missing"}, False),  # a marker carries no score
     ({**SCORED, "status": "missing", "score": None, "points_possible": 4}, False),
     ({**SCORED, "score": -1}, False),
     ({**SCORED, "score": 1_000_001}, False),
     ({**SCORED, "attempt_id": ""}, False),
     ({**SCORED, "student_id": "a/b"}, False),
     ({**SCORED, "assessed_at": "yesterday"}, False),
     ({**SCORED, "colour": "red"}, False)],
)  # fmt: skip
def test_the_attempt_schema_accepts_what_the_server_does(body: dict[str, Any], valid: bool) -> None:
    assert _valid(_validator("attempts", "AttemptIn"), body) is valid


def test_the_server_refuses_what_the_attempt_schema_does() -> None:
    from services.attempts.adapters.http import AttemptIn  # noqa: PLC0415

    for body in (
        {**SCORED, "score": -1},
        {**SCORED, "colour": "red"},
        {**SCORED, "student_id": ""},
    ):
        assert not _valid(_validator("attempts", "AttemptIn"), body)
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(body, AttemptIn, strict=False)
