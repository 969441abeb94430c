"""Signed, expiring links to a student's family report, which the mastery service opens and any
service may make (notify's emails). Pure: the secret and the time are passed in.

A token names what it opens (tenant, student, the family's language, when it expires) and carries
an HMAC-SHA256 of exactly those values under the server's secret, so it needs no table and
cannot be turned to another student, tenant, language or expiry without the secret. Format:
`<payload>.<mac>`, both base64url without padding; the payload is the JSON array
`[version, purpose, tenant, student, language, expires]` (`expires` in whole seconds since the
epoch). The purpose keeps a token of another kind signed under the same secret from opening it.
"""

import re
from datetime import UTC, datetime, timedelta

import msgspec

from shared.contract.ids import is_valid_opaque_id, is_valid_tenant_id
from shared.contract.signed_tokens import seal, unseal

VERSION = 1
PURPOSE = "family-report"
MAX_TOKEN_LENGTH = 1024  # a tenant id, a 128-character student id and a language, encoded
# A BCP 47 tag as families give it (en, es-MX, zh-Hant-TW); the page reads its primary language.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
_payload_decoder = msgspec.json.Decoder(tuple[int, str, str, str, str, int])
_encoder = msgspec.json.Encoder()


class ReportLink(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    student_id: str
    language: str
    expires_at: datetime


class Expired(msgspec.Struct, frozen=True, kw_only=True):
    """A genuine link past its time: what it named, so the refusal speaks the family's language."""

    link: ReportLink


def report_link(
    tenant_id: str, student_id: str, language: str, now: datetime, lifetime: timedelta
) -> ReportLink:
    """The link to mint, checked: ids as every service takes them, a language tag, whole seconds."""
    if not is_valid_tenant_id(tenant_id):
        raise ValueError(f"not a tenant id: {tenant_id!r}")
    if not is_valid_opaque_id(student_id):
        raise ValueError(f"not a student id: {student_id!r}")
    if LANGUAGE_TAG.fullmatch(language) is None:
        raise ValueError(f"not a language tag (BCP 47, e.g. en, es-MX): {language!r}")
    if lifetime <= timedelta(0):
        raise ValueError("a link's lifetime must be positive")
    expires = (now + lifetime).astimezone(UTC).replace(microsecond=0)
    return ReportLink(
        tenant_id=tenant_id, student_id=student_id, language=language, expires_at=expires
    )


def sign(secret: bytes, link: ReportLink) -> str:
    expires = int(link.expires_at.timestamp())
    payload = _encoder.encode(
        [VERSION, PURPOSE, link.tenant_id, link.student_id, link.language, expires]
    )
    return seal(secret, payload)


def verify(secret: bytes, token: str, now: datetime) -> ReportLink | Expired | None:
    """What a genuine, unexpired token names; `Expired` for a genuine one past its time; None for
    anything else (never raises)."""
    payload = unseal(secret, token, max_length=MAX_TOKEN_LENGTH)
    if payload is None:
        return None
    try:
        version, purpose, tenant_id, student_id, language, expires = _payload_decoder.decode(
            payload
        )
    except msgspec.DecodeError:
        return None
    if version != VERSION or purpose != PURPOSE:
        return None
    link = ReportLink(
        tenant_id=tenant_id,
        student_id=student_id,
        language=language,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )
    return Expired(link=link) if now >= link.expires_at else link


def url(secret: bytes, base_url: str, link: ReportLink) -> str:
    """The report's address; empty without a secret (no link)."""
    if not secret:
        return ""
    return f"{base_url.rstrip('/')}/v1/family-reports/{sign(secret, link)}"
