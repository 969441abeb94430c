"""One email over SMTP, and what a failure means for its row.

A reply about the recipient or the message decides: 4xx is transient (try again later), 5xx is
permanent for that address (park it). Connection errors and timeouts are transient. A 5xx to the
session itself (HELO, AUTH, MAIL FROM) says nothing about the address, only that this mailer is
misconfigured, so it is transient too: every row waits and retries instead of being parked.
A refused login (AUTH) ends the batch the same way, with a reason that names it and never the
password. A 5xx to RCPT TO refuses the address itself, which the mailer then suppresses.
"""

import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from services.notify.core.messages import Email

DEFAULT_DOMAIN = "mastery.invalid"
SEND_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach the relay.

    `smtps://` is implicit TLS (port 465); `smtp://` upgrades with STARTTLS whenever the server
    offers it, and with `require_tls` refuses to go on in clear text when it does not. The
    server's certificate is always verified: against the system's CAs, or `ca_file` for a
    school's relay signed by its own CA. The password is kept out of `repr`, so out of logs.
    """

    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None = field(default=None, repr=False)
    require_tls: bool = False
    ca_file: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str = "",
        password: str = "",
        require_tls: bool = False,
        ca_file: str = "",
    ) -> "SmtpServer":
        """The server of `url`; `username`/`password`, when given, replace the URL's own, so a
        password need not sit in a URL."""
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if implicit else 25),
            use_tls=implicit,
            username=username or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
            require_tls=require_tls,
            ca_file=ca_file or None,
        )


@dataclass(frozen=True, slots=True)
class Transient:
    reason: str
    # The server could not be reached: the rest of the batch would fail the same way.
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class Permanent:
    reason: str
    # The server refused the recipient itself (RCPT TO): that address is suppressed.
    recipient: bool = False


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
    if email.unsubscribe_url:
        # RFC 8058 one-click: a mail client POSTs `List-Unsubscribe=One-Click` to the link.
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
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
            start_tls=True if server.require_tls and not server.use_tls else None,
            cert_bundle=server.ca_file,
            username=server.username,
            password=server.password,
            timeout=SEND_TIMEOUT,
        )
    except (aiosmtplib.SMTPException, OSError, ValueError) as error:
        return classify(error)
    return None


def classify(error: Exception) -> SendFailure:
    if isinstance(error, ssl.SSLError | aiosmtplib.SMTPAuthenticationError):
        return _session_refused(error)
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPRecipientRefused):
        return _refused_recipient(error)
    if isinstance(error, aiosmtplib.SMTPDataError):
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


def _session_refused(error: ssl.SSLError | aiosmtplib.SMTPAuthenticationError) -> Transient:
    """TLS or the login failed: the relay or this mailer's settings are at fault, not the email,
    and every email would fail alike. End the batch, keep the mail, and say what is wrong.

    Checked before ValueError, which a failed certificate check also is.
    """
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        reason = f"the SMTP server refused the credentials: {error.code} {error.message}"
    else:
        reason = f"TLS with the SMTP server failed: {error}"
    return Transient(reason, unreachable=True)


def _refused_recipient(
    error: aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPRecipientRefused,
) -> SendFailure:
    """RCPT TO refused: for good (5xx) the address itself is at fault, else try again later."""
    refusals = error.recipients if isinstance(error, aiosmtplib.SMTPRecipientsRefused) else [error]
    reason = "; ".join(f"{each.code} {each.message}" for each in refusals)
    if all(each.code >= 500 for each in refusals):
        return Permanent(reason, recipient=True)
    return Transient(reason)
