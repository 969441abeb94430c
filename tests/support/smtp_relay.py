"""A school's relay as it is usually run: TLS (STARTTLS or implicit) with a certificate of its own
CA, and AUTH required, over a real aiosmtpd server. The certificate is made with the `openssl`
command (the lock holds no `cryptography`), for 127.0.0.1, once per test directory."""

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from devtools.embedded import SmtpSink


@dataclass(frozen=True)
class Certificate:
    cert: Path  # PEM, self-signed: it is its own CA, the file a client is told to trust
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed_certificate(directory: Path) -> Certificate:
    cert, key = directory / "relay.pem", directory / "relay.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=relay.school.example", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert=cert, key=key)


class SecureRelay(SmtpSink):
    """The sink behind TLS and a login; `sessions` holds (authenticated, over TLS) per message."""

    def __init__(self, certificate: Certificate, *, login: str, password: str) -> None:
        super().__init__()
        self.certificate = certificate
        self._credentials = (login.encode(), password.encode())
        self.sessions: list[tuple[bool, bool]] = []
        self.logins: list[tuple[bytes, bool]] = []  # (login, accepted) per AUTH attempt

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        accepted = (auth_data.login, auth_data.password) == self._credentials
        self.logins.append((auth_data.login, accepted))
        return AuthResult(success=accepted, handled=False)  # not handled: aiosmtpd replies

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        over_tls = server.transport.get_extra_info("sslcontext") is not None
        self.sessions.append((bool(session.authenticated), over_tls))
        return await super().handle_DATA(server, session, envelope)

    def start_tls(self, *, implicit: bool = False) -> "SecureRelay":
        """STARTTLS required before AUTH and mail; or, `implicit`, TLS from the first byte."""
        from aiosmtpd.controller import Controller  # noqa: PLC0415

        context = self.certificate.server_context()
        # aiosmtpd's auth_require_tls knows STARTTLS only; under implicit TLS all is encrypted.
        tls: dict[str, Any] = (
            {"ssl_context": context, "auth_require_tls": False}
            if implicit
            else {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        )
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            auth_required=True,
            authenticator=self.authenticate,
            **tls,
        )
        self._controller.start()
        return self

    @property
    def tls_url(self) -> str:
        return f"smtps://127.0.0.1:{self.port}"
