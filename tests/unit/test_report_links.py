"""Signed report links (pure): a genuine token opens exactly what it names until it expires; any
change of it, another secret, another purpose or a malformed token opens nothing."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.core import unsubscribe
from shared.platform import report_links
from shared.platform.report_links import Expired, ReportLink, report_link, sign, verify

SECRET = b"report-links-secret-of-the-unit-tests-0123"
NOW = datetime(2026, 10, 1, 9, 30, 15, 123456, tzinfo=UTC)
LINK = report_link("school-1", "maya", "es-MX", NOW, timedelta(days=30))


def test_a_genuine_token_opens_what_it_names_until_it_expires() -> None:
    assert LINK.expires_at == datetime(2026, 10, 31, 9, 30, 15, tzinfo=UTC)
    token = sign(SECRET, LINK)
    assert verify(SECRET, token, NOW) == LINK
    assert verify(SECRET, token, LINK.expires_at - timedelta(seconds=1)) == LINK
    assert verify(SECRET, token, LINK.expires_at) == Expired(link=LINK)
    assert verify(SECRET, token, LINK.expires_at + timedelta(days=400)) == Expired(link=LINK)


def _payload(token: str) -> bytes:
    encoded = token.partition(".")[0]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def _with_payload(token: str, payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + token.partition(".")[2]


@pytest.mark.parametrize(
    ("was", "now"),
    [(b'"maya"', b'"noah"'), (b'"school-1"', b'"school-2"'), (b'"es-MX"', b'"en"'),
     (b"1793439015", b"1893439015"), (b'"family-report"', b'"unsubscribe"')],
)  # fmt: skip
def test_a_changed_value_under_the_same_mac_opens_nothing(was: bytes, now: bytes) -> None:
    token = sign(SECRET, LINK)
    assert was in _payload(token)
    assert verify(SECRET, _with_payload(token, _payload(token).replace(was, now)), NOW) is None


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_changed_byte_opens_nothing(position: int, flip: int) -> None:
    token = sign(SECRET, LINK)
    raw = bytearray(_payload(token))
    raw[position % len(raw)] ^= flip
    assert verify(SECRET, _with_payload(token, bytes(raw)), NOW) is None


def test_another_secret_purpose_or_shape_opens_nothing() -> None:
    token = sign(SECRET, LINK)
    assert verify(b"another-secret-of-the-unit-tests-0123456", token, NOW) is None
    assert verify(b"", token, NOW) is None
    assert verify(SECRET, unsubscribe.sign(SECRET, "school-1", "rosa@example.org"), NOW) is None
    for bad in ["", ".", token.partition(".")[0], token + "x", "é.é", "a" * 2000, "!!.??"]:
        assert verify(SECRET, bad, NOW) is None


@pytest.mark.parametrize(
    ("tenant", "student", "language", "days"),
    [("School 1", "maya", "en", 1), ("school-1", "ma/ya", "en", 1), ("school-1", "", "en", 1),
     ("school-1", "maya", "english please", 1), ("school-1", "maya", "en", 0)],
)  # fmt: skip
def test_a_link_is_made_only_for_valid_ids_a_language_and_a_lifetime(
    tenant: str, student: str, language: str, days: int
) -> None:
    with pytest.raises(ValueError, match=r"not a|lifetime"):
        report_link(tenant, student, language, NOW, timedelta(days=days))


def test_the_url_carries_the_token_and_none_is_made_without_a_secret() -> None:
    url = report_links.url(SECRET, "https://mastery.school.example/", LINK)
    assert url == f"https://mastery.school.example/v1/family-reports/{sign(SECRET, LINK)}"
    assert report_links.url(b"", "https://mastery.school.example", LINK) == ""
    assert isinstance(verify(SECRET, url.rsplit("/", 1)[1], NOW), ReportLink)
