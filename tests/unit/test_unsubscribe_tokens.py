"""One-click unsubscribe tokens: what one names it alone unsubscribes, and any change refuses it."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.core.unsubscribe import PURPOSE, Unsubscribe, link, sign, verify

SECRET = b"s" * 32
text = st.text(min_size=1, max_size=60)


def test_a_token_names_its_tenant_and_address_in_lower_case() -> None:
    token = sign(SECRET, "school", "Rosa@Example.org")
    assert verify(SECRET, token) == Unsubscribe(tenant_id="school", address="rosa@example.org")
    assert "=" not in token  # base64url without padding: fits a URL path as it is


@given(tenant=text, address=text, other=text, which=st.sampled_from(["tenant", "address"]))
def test_a_token_signed_for_other_values_never_verifies_as_these(
    tenant: str, address: str, other: str, which: str
) -> None:
    """Splicing one token's payload onto another's signature is refused, whatever changed."""
    mine = sign(SECRET, tenant, address)
    theirs = sign(SECRET, other, address) if which == "tenant" else sign(SECRET, tenant, other)
    spliced = f"{theirs.partition('.')[0]}.{mine.partition('.')[2]}"
    if theirs != mine:
        assert verify(SECRET, spliced) is None


@given(tenant=text, address=text, purpose=text)
def test_a_token_of_another_purpose_is_refused(tenant: str, address: str, purpose: str) -> None:
    token = sign(SECRET, tenant, address, purpose)
    assert (verify(SECRET, token) is not None) == (purpose == PURPOSE)


@given(tenant=text, address=text, position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_changing_any_byte_of_the_decoded_token_refuses_it(
    tenant: str, address: str, position: int, flip: int
) -> None:
    payload, _, mac = sign(SECRET, tenant, address).partition(".")
    parts = [bytearray(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in (payload, mac)]
    whole = parts[0] + parts[1]
    index = position % len(whole)
    part, offset = (0, index) if index < len(parts[0]) else (1, index - len(parts[0]))
    parts[part][offset] ^= flip
    forged = ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts)
    assert verify(SECRET, forged) is None


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.def", "é.é", "a" * 5000, "W10.", "!!.!!"])
def test_garbage_is_refused_without_an_error(token: str) -> None:
    assert verify(SECRET, token) is None


def test_another_secret_or_none_refuses_the_token() -> None:
    token = sign(SECRET, "school", "rosa@example.org")
    assert verify(b"t" * 32, token) is None
    assert verify(b"", token) is None


def test_the_link_sits_under_the_public_url_and_needs_a_secret() -> None:
    url = link(SECRET, "https://notify.example.org/", "school", "rosa@example.org")
    assert url.startswith("https://notify.example.org/v1/unsubscribe/")
    assert verify(SECRET, url.rsplit("/", 1)[1]) is not None
    assert link(b"", "https://notify.example.org", "school", "rosa@example.org") == ""
