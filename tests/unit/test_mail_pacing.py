"""The mailer's arithmetic and settings: retry delays doubled, capped and jittered; the token
bucket's rate; the relay's address, TLS and credentials from the environment."""

import aiosmtplib
import pytest

from services.notify.adapters.smtp import Permanent, SmtpServer, Transient, classify
from services.notify.config import NotifyConfig
from services.notify.core.pacing import TokenBucket, retry_delay
from shared.platform.config import load_config


@pytest.mark.parametrize(
    ("attempts", "expected"), [(0, 2.0), (1, 4.0), (3, 16.0), (10, 60.0), (10_000, 60.0)]
)
def test_the_retry_delay_doubles_up_to_its_cap(attempts: int, expected: float) -> None:
    assert retry_delay(attempts, first=2.0, cap=60.0, jitter=0.5, draw=0.0) == expected


def test_the_jitter_takes_at_most_its_share_and_never_exceeds_the_cap() -> None:
    delays = [retry_delay(10, 2.0, 60.0, 0.5, draw / 100) for draw in range(100)]
    assert min(delays) > 30.0
    assert max(delays) == 60.0
    assert retry_delay(2, 2.0, 60.0, 0.0, 0.99) == 8.0  # no jitter asked, none given


def test_the_token_bucket_lets_a_burst_through_then_keeps_the_rate() -> None:
    bucket, waits = TokenBucket.full(rate=10.0, burst=10.0, now=100.0), []
    for _ in range(15):  # all asked at the same instant
        bucket, wait = bucket.take(100.0)
        waits.append(wait)
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    bucket, wait = bucket.take(101.0)  # a second later the 5 owed are paid, 5 earned back
    assert wait == 0.0
    assert bucket.tokens == pytest.approx(4.0)


def test_a_rate_of_zero_is_no_limit() -> None:
    bucket = TokenBucket.full(rate=0.0, burst=1.0, now=0.0)
    assert all(bucket.take(0.0)[1] == 0.0 for _ in range(1000))


def test_credentials_from_the_environment_win_over_the_url_and_stay_out_of_repr() -> None:
    config = load_config(
        NotifyConfig,
        {
            "DATABASE_URL": "postgresql://x@127.0.0.1/x",
            "SMTP_URL": "smtp://old:url-secret@relay.school.example:587",
            "SMTP_USERNAME": "mastery",
            "SMTP_PASSWORD": "env-secret",
            "SMTP_STARTTLS": "required",
            "SMTP_CA_FILE": "/etc/school/ca.pem",
            "SMTP_MAX_PER_SECOND": "2.5",
        },
    )
    server = SmtpServer.from_url(
        config.smtp_url,
        username=config.smtp_username,
        password=config.smtp_password,
        require_tls=config.smtp_starttls == "required",
        ca_file=config.smtp_ca_file,
    )
    assert (server.hostname, server.port, server.use_tls) == ("relay.school.example", 587, False)
    assert (server.username, server.password) == ("mastery", "env-secret")
    assert (server.require_tls, server.ca_file) == (True, "/etc/school/ca.pem")
    assert config.smtp_max_per_second == 2.5
    assert "secret" not in repr(server)


def test_a_url_alone_gives_its_decoded_credentials_and_smtps_is_implicit_tls_on_465() -> None:
    server = SmtpServer.from_url("smtps://mastery:p%40ss@relay.school.example")
    assert (server.port, server.use_tls, server.ca_file) == (465, True, None)
    assert (server.username, server.password) == ("mastery", "p@ss")
    assert SmtpServer.from_url("smtp://relay.school.example").port == 25


def test_only_a_refused_recipient_suppresses_its_address() -> None:
    refused = aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user", "gone@example.org")
    assert classify(refused) == Permanent("550 5.1.1 no such user", recipient=True)
    too_big = aiosmtplib.SMTPDataError(552, "5.3.4 message too big")
    assert classify(too_big) == Permanent("552 5.3.4 message too big", recipient=False)
    login = aiosmtplib.SMTPAuthenticationError(535, "5.7.8 invalid credentials")
    failure = classify(login)
    assert isinstance(failure, Transient)
    assert failure.unreachable
