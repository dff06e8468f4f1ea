"""FakeSMTP: a mail submission server on 127.0.0.1 (aiosmtpd), with STARTTLS.

Follows RFC 6409 (message submission), RFC 3207 (STARTTLS) and RFC 4954
(AUTH), as aiosmtpd implements them:

- ``EHLO`` offers ``STARTTLS`` (unless ``starttls=False``); with
  ``require_starttls`` every command but EHLO/NOOP/QUIT/STARTTLS is answered
  ``530 Must issue a STARTTLS command first``;
- ``AUTH PLAIN``/``LOGIN`` only after TLS (``auth_require_tls``); a wrong
  user or password is ``535 5.7.8 Authentication credentials invalid``;
  with credentials configured, ``MAIL`` before ``AUTH`` is ``530``;
- the certificate is self-signed for ``127.0.0.1``/``localhost``; its PEM is
  at ``ca_file`` for the client to trust;
- switches: ``reject_rcpt`` (a 550 or 450 reply to ``RCPT``), ``reject_data``
  (a reply to ``DATA``), ``drop_after_data`` (the connection is closed after
  the message was received, before the 250: the message *is* kept).

Received messages are in ``messages`` (``email.message.EmailMessage``, with
``envelope_from``/``envelope_to``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A key and certificate for 127.0.0.1 and localhost, written to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "smtp-key.pem", folder / "smtp-cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class _Handler:
    def __init__(self, fake: FakeSMTP):
        self.fake = fake

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.fake.reject_rcpt:
            return self.fake.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fake.reject_data:
            return self.fake.reject_data
        raw = envelope.original_content or envelope.content or b""
        message = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(),
                                     policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.fake.lock:
            self.fake.messages.append(message)
            self.fake.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        if self.fake.drop_after_data:
            server.transport.close()  # type: ignore[union-attr]
            return "250 never seen"
        return "250 Message accepted for delivery"


class FakeSMTP:
    """A submission server (see the module docstring)."""

    def __init__(self, folder: Path, *, username: str | None = "desk",
                 password: str | None = "mail-password-123", starttls: bool = True):
        self.username, self.password = username, password
        key, self.ca_file = self_signed(folder)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(self.ca_file, key)
        self.starttls = starttls
        self.reject_rcpt: str | None = None
        self.reject_data: str | None = None
        self.drop_after_data = False
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, bool]] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None
        self.port = 0

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword)
              and data.login.decode() == self.username
              and data.password.decode() == self.password)
        with self.lock:
            self.logins.append((data.login.decode() if isinstance(data, LoginPassword)
                                else "?", ok))
        return AuthResult(success=ok, handled=False)


    def start(self) -> Self:
        kwargs: dict[str, Any] = {"auth_require_tls": True, "authenticator": self._authenticate,
                                  "auth_required": self.password is not None}
        if self.starttls:
            kwargs.update(tls_context=self.tls, require_starttls=True)
        # aiosmtpd's Controller connects to its own port once started, so it
        # needs the number up front: take a free one from the kernel.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=port,
                                      server_hostname="localhost", **kwargs)
        self._controller.start()
        self.port = port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
