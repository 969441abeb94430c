"""The one token format behind every link families receive: sealed bytes come back only under the
same secret, untouched, within the length limit; anything else is None, never an exception."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contract.signed_tokens import seal, unseal

SECRET = b"s" * 32


@given(st.binary(min_size=1, max_size=300))
def test_a_sealed_payload_opens_to_the_same_bytes(payload: bytes) -> None:
    assert unseal(SECRET, seal(SECRET, payload), max_length=1024) == payload


def test_an_empty_payload_never_opens() -> None:
    assert unseal(SECRET, seal(SECRET, b""), max_length=1024) is None


def test_another_secret_opens_nothing() -> None:
    assert unseal(b"t" * 32, seal(SECRET, b"[1]"), max_length=1024) is None


def test_no_secret_opens_nothing_even_a_token_sealed_without_one() -> None:
    assert unseal(b"", seal(b"", b"[1]"), max_length=1024) is None


def test_a_changed_payload_fails_its_mac() -> None:
    token = seal(SECRET, b'["a"]')
    _, mac = token.split(".")
    forged = base64.urlsafe_b64encode(b'["b"]').rstrip(b"=").decode()
    assert unseal(SECRET, f"{forged}.{mac}", max_length=1024) is None


def test_a_token_over_the_limit_is_refused_before_anything_is_decoded() -> None:
    token = seal(SECRET, b"x" * 100)
    assert unseal(SECRET, token, max_length=len(token)) == b"x" * 100
    assert unseal(SECRET, token, max_length=len(token) - 1) is None


@pytest.mark.parametrize(
    "token", ["", ".", "abc", "abc.", ".abc", "a=b.c", "ü.ü", "!!!.???", "a.b.c", "\x00.\x00"]
)
def test_malformed_tokens_are_none(token: str) -> None:
    assert unseal(SECRET, token, max_length=1024) is None
