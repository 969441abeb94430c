"""Message-IDs derive from the notification's key; SMTP failures are transient or permanent."""

import aiosmtplib
import pytest

from services.notify.adapters.smtp import Permanent, Transient, classify, sender_domain
from services.notify.core.messages import message_id


def test_the_message_id_is_the_same_for_the_same_notification_and_differs_otherwise() -> None:
    key = ("school", "change-1", "rosa@example.org")
    assert message_id(*key, "school.example") == message_id(*key, "school.example")
    others = {
        message_id("school", "change-1", "rosa@example.org", "school.example"),
        message_id("school", "change-2", "rosa@example.org", "school.example"),
        message_id("school", "change-1", "ana@example.org", "school.example"),
        message_id("district", "change-1", "rosa@example.org", "school.example"),
        # a separator inside an id cannot make two keys collide
        message_id("school/change-1", "", "rosa@example.org", "school.example"),
    }
    assert len(others) == 5


@pytest.mark.parametrize(
    ("mail_from", "domain"),
    [
        ("Mastery Updates <updates@mastery.invalid>", "mastery.invalid"),
        ("news@school.example", "school.example"),
        ("no address", "mastery.invalid"),
    ],
)
def test_the_message_id_domain_is_the_sender_domain(mail_from: str, domain: str) -> None:
    assert sender_domain(mail_from) == domain


def _refused(code: int) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(code, "reply", "a@example.org")]
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_refused(550), Permanent),
        (_refused(451), Transient),
        (aiosmtplib.SMTPDataError(554, "rejected"), Permanent),
        (aiosmtplib.SMTPDataError(452, "no room"), Transient),
        # a session refused is the mailer's configuration, not the address: keep retrying
        (aiosmtplib.SMTPSenderRefused(553, "sender", "updates@x"), Transient),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), Transient),
        (aiosmtplib.SMTPConnectResponseError(554, "go away"), Transient),
        (aiosmtplib.SMTPServerDisconnected("gone"), Transient),
        (aiosmtplib.SMTPReadTimeoutError("slow"), Transient),
        (ConnectionRefusedError(111, "refused"), Transient),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server"), Permanent),
    ],
)
def test_failures_are_classified_by_what_they_say_about_the_address(
    error: Exception, kind: type
) -> None:
    assert isinstance(classify(error), kind)


def test_an_unreachable_server_is_told_apart_from_a_refusal() -> None:
    assert classify(ConnectionRefusedError(111, "refused")) == Transient(
        "[Errno 111] refused", unreachable=True
    )
    assert classify(_refused(451)) == Transient("451 reply", unreachable=False)
