"""docs/openapi/<service>.json is what each service serves at /schema/openapi.json, so the
linters in scripts/check.sh lint the documents clients get."""

import pytest

from devtools.openapi import APPS, DOCS, render


@pytest.mark.parametrize("service", sorted(APPS))
def test_the_checked_in_document_is_the_served_one(service: str) -> None:
    assert (DOCS / f"{service}.json").read_bytes() == render(service), (
        "regenerate: python -m devtools.openapi"
    )


@pytest.mark.parametrize("service", sorted(APPS))
def test_the_document_names_a_contact_a_licence_and_each_tag(service: str) -> None:
    document = APPS[service]().openapi_schema.to_schema()
    assert document["info"]["contact"]["name"]
    assert document["info"]["license"]["identifier"] == "Apache-2.0"
    declared = {tag["name"] for tag in document["tags"]}
    used = {
        tag for item in document["paths"].values() for op in item.values() for tag in op["tags"]
    }
    assert used == declared
    assert all(op["description"] for item in document["paths"].values() for op in item.values())
