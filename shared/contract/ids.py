"""Identifier rules shared by every service: the one definition of what an id may hold.

Tenant ids travel inside NATS subjects, so they are restricted to subject-safe slugs.
Other ids (students, standards, attempts, corrective work) are opaque strings chosen by school
platforms; a guardian is identified by an email address (services/notify/adapters/addresses.py).
"""

import re
from typing import Annotated

import msgspec

# `(?![\s\S])` ends a pattern at the very end of the string: `$` would also match before a final
# newline ("maya\n"), and msgspec searches with Python's re; the lookahead means the same in the
# ECMAScript regexes of the OpenAPI document.
END_OF_STRING = r"(?![\s\S])"

# Every character of the Basic Multilingual Plane in the Unicode categories Cc (controls, C1
# included: U+0085 ends a line in some viewers), Cf (format: bidi overrides that reorder what a
# reader sees, zero-width characters that make two ids look alike), Zs, Zl and Zp (separators).
# Written as ranges, not built from `unicodedata`, so the pattern in the OpenAPI document does not
# change with the Python version. Cf characters outside the BMP (tag characters, musical and
# hieroglyph formatting) stay allowed: none breaks a line or reorders text, and an ECMAScript
# pattern without the `u` flag cannot name them.
CONTROL_AND_SEPARATOR_CHARACTERS = (
    r"\x00-\x20\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff\ufff9-\ufffb"
)
OPAQUE_ID_MAX_LENGTH = 128
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}" + END_OF_STRING
# `/` separates the parts of a stream id (see `stream_id`).
OPAQUE_ID_PATTERN = (
    rf"^[^/{CONTROL_AND_SEPARATOR_CHARACTERS}]{{1,{OPAQUE_ID_MAX_LENGTH}}}" + END_OF_STRING
)
OPAQUE_ID_DESCRIPTION = (
    f"Opaque identifier: 1-{OPAQUE_ID_MAX_LENGTH} characters; no slash, whitespace, control, "
    "format (bidi, zero-width) or separator character."
)

TenantId = Annotated[str, msgspec.Meta(pattern=TENANT_ID_PATTERN)]
OpaqueId = Annotated[
    str, msgspec.Meta(pattern=OPAQUE_ID_PATTERN, description=OPAQUE_ID_DESCRIPTION)
]

# Free text (notes, reasons, titles): anything but control characters other than tab and
# newlines. PostgreSQL text cannot hold NUL at all, and control codes have no place in an email.
PLAIN_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*" + END_OF_STRING
# One line of text (a person's name, shown in an email): no line break of any kind (CR, LF, VT,
# FF, NEL, U+2028, U+2029) and no control character, tab included. Format characters stay: a
# zero-width joiner belongs in names written in Persian or Devanagari.
SINGLE_LINE_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*" + END_OF_STRING

_TENANT_RE = re.compile(TENANT_ID_PATTERN)
_OPAQUE_RE = re.compile(OPAQUE_ID_PATTERN)


def is_valid_tenant_id(value: str) -> bool:
    return _TENANT_RE.fullmatch(value) is not None


def is_valid_opaque_id(value: str) -> bool:
    return _OPAQUE_RE.fullmatch(value) is not None


def stream_id(tenant_id: str, student_id: str, standard_id: str) -> str:
    """One event stream per tenant + student + standard.

    The separator cannot appear in a tenant id or an opaque id, so the mapping is injective.
    """
    return f"{tenant_id}/{student_id}/{standard_id}"
