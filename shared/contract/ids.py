"""Identifier rules shared by every service.

Tenant ids travel inside NATS subjects, so they are restricted to subject-safe slugs.
Other ids (students, standards, attempts) are opaque strings chosen by school platforms.
"""

import re
from typing import Annotated

import msgspec

# `(?![\s\S])` ends a pattern at the very end of the string: `$` would also match before a final
# newline ("maya\n"), and msgspec searches with Python's re; the lookahead means the same in the
# ECMAScript regexes of the OpenAPI document.
END_OF_STRING = r"(?![\s\S])"
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}" + END_OF_STRING
OPAQUE_ID_PATTERN = r"^[^\s/\x00-\x1f\x7f]{1,128}" + END_OF_STRING

TenantId = Annotated[str, msgspec.Meta(pattern=TENANT_ID_PATTERN)]
OpaqueId = Annotated[
    str,
    msgspec.Meta(
        pattern=OPAQUE_ID_PATTERN,
        description="Opaque identifier: 1-128 characters; no whitespace, slash or control code.",
    ),
]

# Free text (names, reasons, notes, titles): anything but control characters other than tab and
# newlines. PostgreSQL text cannot hold NUL at all, and control codes have no place in an email.
PLAIN_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*" + END_OF_STRING

_TENANT_RE = re.compile(TENANT_ID_PATTERN)


def is_valid_tenant_id(value: str) -> bool:
    return _TENANT_RE.fullmatch(value) is not None


def stream_id(tenant_id: str, student_id: str, standard_id: str) -> str:
    """One event stream per tenant + student + standard.

    The separator cannot appear in a tenant id or an opaque id, so the mapping is injective.
    """
    return f"{tenant_id}/{student_id}/{standard_id}"
