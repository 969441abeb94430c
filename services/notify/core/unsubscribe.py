"""Signed one-click unsubscribe tokens (RFC 8058 links). Pure: the secret is passed in.

A token names what it unsubscribes (tenant, guardian address, purpose, version) and carries an
HMAC-SHA256 of exactly those values under the server's secret, so it needs no table to look up
and cannot be forged or turned to another address, tenant or purpose without the secret. The
address is compared in lower case, as suppressions are. Format: `<payload>.<mac>`, both base64url
without padding; the payload is the JSON array `[version, purpose, tenant, address]`.
"""

import msgspec

from shared.contract.signed_tokens import seal, unseal

VERSION = 1
PURPOSE = "unsubscribe"
MAX_TOKEN_LENGTH = 1024  # a tenant id and a 254-character address, encoded, fit well within
_payload_decoder = msgspec.json.Decoder(tuple[int, str, str, str])
_encoder = msgspec.json.Encoder()


class Unsubscribe(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    address: str  # lower case


def sign(secret: bytes, tenant_id: str, address: str, purpose: str = PURPOSE) -> str:
    """The token that unsubscribes `address` from `tenant_id`'s emails."""
    payload = _encoder.encode([VERSION, purpose, tenant_id, address.lower()])
    return seal(secret, payload)


def verify(secret: bytes, token: str, purpose: str = PURPOSE) -> Unsubscribe | None:
    """What a genuine token of `purpose` names, or None for anything else (never raises)."""
    payload = unseal(secret, token, max_length=MAX_TOKEN_LENGTH)
    if payload is None:
        return None
    try:
        version, signed_purpose, tenant_id, address = _payload_decoder.decode(payload)
    except msgspec.DecodeError:
        return None
    if version != VERSION or signed_purpose != purpose:
        return None
    return Unsubscribe(tenant_id=tenant_id, address=address)


def link(secret: bytes, base_url: str, tenant_id: str, address: str) -> str:
    """The one-click link for `address` at `tenant_id`; empty without a secret (no link)."""
    if not secret:
        return ""
    return f"{base_url.rstrip('/')}/v1/unsubscribe/{sign(secret, tenant_id, address)}"
