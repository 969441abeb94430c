"""Signed tokens in links that need no table: `<payload>.<mac>`, both base64url without padding,
the MAC an HMAC-SHA256 of the payload bytes under the server's secret.

The format of every link a family receives (unsubscribe, family report), so every service that
makes or opens one shares it. What a payload holds is each link's own; this module only seals
bytes and opens them again, checking the MAC in constant time before anything is parsed.
"""

import base64
import binascii
import hashlib
import hmac


def seal(secret: bytes, payload: bytes) -> str:
    """The token carrying `payload` under `secret`."""
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def unseal(secret: bytes, token: str, *, max_length: int) -> bytes | None:
    """The payload of a genuine token, or None for anything else (never raises): no secret, too
    long, an empty payload, not two base64url parts, or a MAC that does not match."""
    if not secret or len(token) > max_length:
        return None
    encoded, _, mac = token.partition(".")
    try:
        payload, presented = _unb64(encoded), _unb64(mac)
    except (ValueError, binascii.Error):
        return None
    # Constant time, and before the payload is parsed: nothing unsigned is ever decoded.
    if not hmac.compare_digest(presented, _mac(secret, payload)):
        return None
    return payload


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()
