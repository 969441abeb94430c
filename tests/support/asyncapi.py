"""The checked-in AsyncAPI document, and validators of message headers and payloads against it."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def load_document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return loaded


@dataclass(frozen=True)
class MessageSchema:
    """One message of the document: its name (the CloudEvents type), content type and schemas."""

    key: str
    name: str
    content_type: str
    headers: jsonschema_rs.Validator
    payload: jsonschema_rs.Validator

    def problems(self, headers: dict[str, str], payload: Any) -> list[str]:
        return [f"header {error.message}" for error in self.headers.iter_errors(headers)] + [
            f"payload at {list(error.instance_path)}: {error.message}"
            for error in self.payload.iter_errors(payload)
        ]


def _validator(reference: dict[str, Any], components: dict[str, Any]) -> jsonschema_rs.Validator:
    # AsyncAPI's default schema format is a superset of JSON Schema draft 7; the references
    # (`#/components/schemas/...`) resolve within a root that carries the components.
    # Formats (`date-time`) are checked too, not only annotated.
    return jsonschema_rs.Draft7Validator(
        {**reference, "components": components}, validate_formats=True
    )


def message_schemas(document: dict[str, Any]) -> dict[str, MessageSchema]:
    """The document's messages by name (`org.mastery.mastery_changed.v1`, ...)."""
    components = document["components"]
    found = {}
    for key, message in components["messages"].items():
        found[message["name"]] = MessageSchema(
            key=key,
            name=message["name"],
            content_type=message.get("contentType", document["defaultContentType"]),
            headers=_validator(message["headers"], components),
            payload=_validator(message["payload"], components),
        )
    return found
