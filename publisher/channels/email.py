"""The email channel: one message per post over SMTP with STARTTLS (smtplib).

Made for alerts to a person (``[alerts] channels``), usable for any route.

Settings (``[channels.<name>]``)::

    type = "email"
    credentials = { username = "SMTP_USER", password = "SMTP_PASSWORD" }  # optional
    options = { host = "smtp.example.org", port = 587, from = "desk@example.org",
                to = ["ops@example.org"], starttls = true, ca_file = "/etc/ssl/my-ca.pem" }

- Submission as in RFC 6409 on port 587: ``EHLO``, ``STARTTLS`` (RFC 3207;
  the server's certificate is verified against the system's CAs or
  ``ca_file``), ``EHLO`` again, ``AUTH`` when credentials are given
  (RFC 4954), ``MAIL FROM``/``RCPT TO``/``DATA``.  ``starttls = false`` is
  refused when credentials are set: they would cross the network in clear.
- The subject is the post's title or its first line; the body is the text
  (and the link when the text does not carry it).  ``Message-ID`` derives
  from the post's idempotency key, so a copy sent twice is recognisable.
- Replies map to the taxonomy by RFC 5321's classes: 4yz → ``Transient``,
  5yz → ``Permanent``; 535 (authentication failed), a server without
  STARTTLS and a certificate that does not verify → ``AuthFailed`` (a person
  must fix them; the channel pauses); a connection lost after ``DATA`` was
  sent → ``Ambiguous`` (the server may have queued the message); before it →
  ``Transient``.  Every smtplib/ssl/socket error is translated in ``_send``
  and nowhere else.
- Delivery class REVIEW: a mail server cannot be asked whether a message
  went out, so ``find`` raises ``NotImplementedError``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from typing import Any

from publisher.channels.base import ChannelSpec
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    Transient,
)
from publisher.types import DeliveryClass, PublishRequest, PublishResult

log = logging.getLogger("publisher.channels.email")

_SUBJECT_MAX = 200


def _addresses(name: str, value: Any, key: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, str) and "@" in v and "\n" not in v for v in values)):
        raise ConfigError([f"channel {name!r}: options.{key} must be an email address "
                           "or a list of them"])
    return list(values)


class EmailChannel:
    """Sends each post as one email (see the module docstring)."""

    delivery = DeliveryClass.REVIEW

    def __init__(self, spec: ChannelSpec):
        self.name = spec.name
        opts = spec.options
        host = opts.get("host")
        if not isinstance(host, str) or not host:
            raise ConfigError([f"channel {spec.name!r}: options.host (the SMTP server) "
                               "is required"])
        self.host = host
        port = opts.get("port", 587)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError([f"channel {spec.name!r}: options.port must be a port number"])
        self.port = port
        self.sender = _addresses(spec.name, opts.get("from"), "from")[0]
        self.recipients = _addresses(spec.name, opts.get("to"), "to")
        self.starttls = spec.flag("starttls", True)
        self.username = spec.secrets.get("username") or None
        self.password = spec.secrets.get("password") or None
        if (self.username is None) != (self.password is None):
            raise ConfigError([f"channel {spec.name!r}: give both credentials username "
                               "and password, or neither"])
        if self.password and not self.starttls:
            raise ConfigError([f"channel {spec.name!r}: starttls = false with credentials "
                               "would send the password in clear"])
        ca_file = opts.get("ca_file")
        try:
            self.tls = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError([f"channel {spec.name!r}: options.ca_file: cannot read "
                               f"{ca_file}: {exc}"]) from None
        self.timeout = spec.timeout
        self._secrets = [s for s in (self.password,) if s]

    # -- the protocol ----------------------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        message = self._message(request)
        self._send(message)
        return PublishResult(remote_id=message["Message-ID"].strip("<>"))

    def find(self, request: PublishRequest) -> PublishResult | None:
        raise NotImplementedError("a mail server cannot say whether a message went out")

    def whoami(self) -> str:
        self._send(None)
        who = f" as {self.username}" if self.username else ""
        return f"{self.sender} via {self.host}:{self.port}{who}"

    def close(self) -> None:
        pass

    # -- internals ---------------------------------------------------------------------

    def _message(self, request: PublishRequest) -> EmailMessage:
        lines = request.text.strip().splitlines() or [""]
        subject = " ".join((request.title or lines[0]).split())[:_SUBJECT_MAX]
        body = request.text
        if request.link and request.link not in body:
            body = f"{body}\n\n{request.link}"
        message = EmailMessage()
        message["Subject"] = subject or "(publisher)"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.sender.rsplit("@", 1)[-1]
        message["Message-ID"] = f"<{request.idempotency_key}@{domain}>"
        message.set_content(body + "\n")
        return message

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        return " ".join(text.split())[:300]

    def _reply(self, code: int, text: bytes | str, what: str) -> ChannelError:
        said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        line = f"{what}: {code} {self._clean(said)}"
        if code == 535 or code == 534 or code == 530:
            return AuthFailed(line)
        if 400 <= code < 500:
            return Transient(line)
        return Permanent(line)

    def _send(self, message: EmailMessage | None) -> None:
        """Connect, secure, log in, and send ``message`` (None: check only)."""
        where = f"{self.host}:{self.port}"
        data_sent = False
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise AuthFailed(f"{where} does not offer STARTTLS")
                    smtp.starttls(context=self.tls)
                    smtp.ehlo()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                if message is None:
                    smtp.noop()
                    return
                # The steps one by one, to know whether DATA was under way
                # when a connection drops (smtplib's sendmail does not say).
                code, text = smtp.mail(self.sender)
                if code != 250:
                    raise self._reply(code, text, "sender refused")
                accepted = 0
                for rcpt in self.recipients:
                    code, text = smtp.rcpt(rcpt)
                    if code in (250, 251):
                        accepted += 1
                    else:
                        last = self._reply(code, text, "recipient refused")
                        log.warning("channel=%s %s", self.name, last)
                if not accepted:
                    raise last
                data_sent = True
                code, text = smtp.data(message.as_bytes(policy=SMTP_POLICY))
                if code != 250:
                    raise self._reply(code, text, "message refused")
        except ChannelError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthFailed(f"{where} refused the login: {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise self._reply(code, text, "recipients refused") from None
        except smtplib.SMTPSenderRefused as exc:
            raise self._reply(exc.smtp_code, exc.smtp_error, "sender refused") from None
        except smtplib.SMTPDataError as exc:
            raise self._reply(exc.smtp_code, exc.smtp_error, "message refused") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise AuthFailed(f"{where}: {self._clean(str(exc))}") from None
        except ssl.SSLCertVerificationError as exc:
            raise AuthFailed(f"{where}: certificate not trusted: {exc.verify_message}") from None
        except smtplib.SMTPResponseException as exc:
            raise self._reply(exc.smtp_code, exc.smtp_error, where) from None
        except (smtplib.SMTPServerDisconnected, TimeoutError, ssl.SSLError, OSError) as exc:
            line = f"{where}: {type(exc).__name__}: {self._clean(str(exc))}"
            if data_sent:
                raise Ambiguous(f"connection lost while sending: {line}") from None
            raise Transient(f"cannot reach the mail server: {line}") from None
        except smtplib.SMTPException as exc:
            raise Transient(f"{where}: {self._clean(str(exc))}") from None
