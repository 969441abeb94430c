"""Guardian addresses and names, as they may enter the notify service.

An address is checked by `email-validator` (RFC 5322/6531 syntax, no DNS lookup: a school's
mail server may not be reachable from here, and a request must not wait on DNS) and kept in its
normalised form (domain lower-cased and in Unicode), so one guardian is stored once. Refused on
top of what the library refuses: RFC 2047 encoded words (`=?utf-8?q?...?=`), which are legal
characters in a local part but which some mail programs decode into a display name or header.
"""

from typing import Annotated

import msgspec
from email_validator import EmailNotValidError, validate_email

from shared.contract.ids import END_OF_STRING, SINGLE_LINE_TEXT_PATTERN

MAX_ADDRESS_LENGTH = 254  # RFC 5321's limit on a forward path, less the angle brackets
# The shape only (for the OpenAPI document and a cheap first refusal); the library decides.
_ADDRESS_PART = r"[^@\s<>,;\x00-\x1f\x7f]+"

EmailAddress = Annotated[
    str,
    msgspec.Meta(
        pattern=rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}{END_OF_STRING}",
        max_length=MAX_ADDRESS_LENGTH,
        description="An email address (addr-spec only: no display name, quoting or IP "
        "literal); stored normalised.",
    ),
]
GuardianName = Annotated[
    str,
    msgspec.Meta(
        max_length=200,
        pattern=SINGLE_LINE_TEXT_PATTERN,
        description="One line: no line break or control character.",
    ),
]


def normalised_address(field: str, value: str) -> str:
    """The address in normal form; ValueError naming `field` when it is not a plain address."""
    try:
        checked = validate_email(
            value,
            check_deliverability=False,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as error:
        raise ValueError(f"{field}: {error}") from error
    if "=?" in checked.local_part:
        raise ValueError(f"{field}: encoded words (=?...?=) are not allowed in an address")
    return str(checked.normalized)
