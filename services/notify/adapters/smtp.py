"""One email over SMTP, and what a failure means for its row.

A reply about the recipient or the message decides: 4xx is transient (try again later), 5xx is
permanent for that address (park it). Connection errors and timeouts are transient. A 5xx to the
session itself (HELO, AUTH, MAIL FROM) says nothing about the address, only that this mailer is
misconfigured, so it is transient too: every row waits and retries instead of being parked.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import urlsplit

import aiosmtplib

from services.notify.core.messages import Email

DEFAULT_DOMAIN = "mastery.invalid"
SEND_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> "SmtpServer":
        parts = urlsplit(url)
        return cls(
            hostname=parts.hostname or "127.0.0.1",
            port=parts.port or 25,
            use_tls=parts.scheme == "smtps",
            username=parts.username,
            password=parts.password,
        )


@dataclass(frozen=True, slots=True)
class Transient:
    reason: str
    # The server could not be reached: the rest of the batch would fail the same way.
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class Permanent:
    reason: str


SendFailure = Transient | Permanent


def sender_domain(mail_from: str) -> str:
    """The domain of the sender's address (the right-hand side of every Message-ID)."""
    _, address = parseaddr(mail_from)
    _, at, domain = address.rpartition("@")
    return domain if at and domain else DEFAULT_DOMAIN


def build_message(email: Email, mail_from: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Message-ID"] = message_id
    # When the email was planned, so every copy carries the same Date as it does Message-ID.
    message["Date"] = format_datetime(email.date or datetime.now(UTC))
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message.set_content(email.body)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    # After the parts: making the message multipart moves Content-* headers into its first part.
    message["Content-Language"] = email.language
    return message


async def send(server: SmtpServer, message: EmailMessage) -> SendFailure | None:
    """Send one message; None once the server has accepted it, else what went wrong."""
    try:
        await aiosmtplib.send(
            message,
            hostname=server.hostname,
            port=server.port,
            use_tls=server.use_tls,
            username=server.username,
            password=server.password,
            timeout=SEND_TIMEOUT,
        )
    except (aiosmtplib.SMTPException, OSError, ValueError) as error:
        return classify(error)
    return None


def classify(error: Exception) -> SendFailure:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        reason = "; ".join(f"{each.code} {each.message}" for each in error.recipients)
        return Permanent(reason) if all(code >= 500 for code in codes) else Transient(reason)
    if isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        reason = f"{error.code} {error.message}"
        return Permanent(reason) if error.code >= 500 else Transient(reason)
    if isinstance(error, aiosmtplib.SMTPNotSupported | ValueError):
        # The address or message needs what the server lacks (e.g. SMTPUTF8): no retry helps.
        return Permanent(str(error))
    if isinstance(error, aiosmtplib.SMTPResponseException) and not isinstance(
        error, aiosmtplib.SMTPConnectError
    ):
        return Transient(f"{error.code} {error.message}")
    return Transient(str(error) or type(error).__name__, unreachable=True)
