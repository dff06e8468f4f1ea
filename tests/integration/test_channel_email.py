"""The email channel against a real SMTP server on 127.0.0.1 (aiosmtpd) with
STARTTLS and AUTH: what arrives, and every failure mapped to the taxonomy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.channels import REGISTRY, ChannelSpec, make_channel
from publisher.exceptions import Ambiguous, AuthFailed, ConfigError, Permanent, Transient
from publisher.types import DeliveryClass, PublishRequest
from tests.fakes.smtp_server import FakeSMTP

PASSWORD = "mail-password-123"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[FakeSMTP]:
    with FakeSMTP(tmp_path, password=PASSWORD) as fake:
        yield fake


def spec(smtp: FakeSMTP, *, secrets: dict[str, str] | None = None, **options: Any) -> ChannelSpec:
    opts: dict[str, Any] = {"host": "127.0.0.1", "port": smtp.port, "from": "desk@news.example",
                            "to": ["ops@news.example", "chief@news.example"],
                            "ca_file": str(smtp.ca_file)}
    opts.update(options)
    return ChannelSpec(name="ops-mail", type="email", options=opts, timeout=5,
                       secrets=secrets if secrets is not None
                       else {"username": "desk", "password": PASSWORD})


def request(text: str = "Council votes budget\n\nThe summary.", **kw: Any) -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k" * 32, text=text, **kw)


def test_registered_as_review_class():
    assert REGISTRY["email"].delivery is DeliveryClass.REVIEW
    assert REGISTRY["email"].optional_credentials == ("username", "password")


def test_sends_over_starttls_with_login(smtp):
    channel = make_channel(spec(smtp))
    result = channel.publish(request(link="https://news.example/budget"))
    [message] = smtp.messages
    assert message["Subject"] == "Council votes budget"
    assert message["From"] == "desk@news.example"
    assert message["To"] == "ops@news.example, chief@news.example"
    assert message["Message-ID"] == f"<{'k' * 32}@news.example>"
    body = message.get_content()
    assert "The summary." in body and "https://news.example/budget" in body
    assert smtp.envelopes == [("desk@news.example", ["ops@news.example", "chief@news.example"])]
    assert smtp.logins == [("desk", True)]
    assert result.remote_id == f"{'k' * 32}@news.example"


def test_whoami_checks_without_sending(smtp):
    channel = make_channel(spec(smtp))
    assert channel.whoami() == f"desk@news.example via 127.0.0.1:{smtp.port} as desk"
    assert smtp.messages == []


def test_wrong_password_pauses(smtp):
    channel = make_channel(spec(smtp, secrets={"username": "desk", "password": "wrong-one"}))
    with pytest.raises(AuthFailed) as caught:
        channel.publish(request())
    assert "wrong-one" not in str(caught.value)
    assert smtp.messages == []


def test_untrusted_certificate_pauses(smtp, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    from tests.fakes.smtp_server import self_signed

    _, foreign_ca = self_signed(other)
    channel = make_channel(spec(smtp, ca_file=str(foreign_ca)))
    with pytest.raises(AuthFailed, match="certificate not trusted"):
        channel.publish(request())
    assert smtp.messages == []


def test_server_without_starttls_pauses_and_never_logs_in(tmp_path):
    with FakeSMTP(tmp_path, starttls=False, password=None) as smtp:
        channel = make_channel(spec(smtp, secrets={}))
        with pytest.raises(AuthFailed, match="does not offer STARTTLS"):
            channel.publish(request())
        assert smtp.messages == []


def test_plain_smtp_without_credentials_when_asked(tmp_path):
    with FakeSMTP(tmp_path, starttls=False, password=None) as smtp:
        channel = make_channel(spec(smtp, secrets={}, starttls=False))
        channel.publish(request())
        assert len(smtp.messages) == 1


def test_starttls_off_with_a_password_is_refused(smtp):
    with pytest.raises(ConfigError, match="in clear"):
        make_channel(spec(smtp, starttls=False))


@pytest.mark.parametrize(("reply", "error"), [
    ("550 5.1.1 No such user", Permanent),
    ("450 4.2.1 Mailbox busy, try later", Transient),
])
def test_recipient_refused(smtp, reply, error):
    smtp.reject_rcpt = reply
    with pytest.raises(error, match=reply[:3]):
        make_channel(spec(smtp)).publish(request())


@pytest.mark.parametrize(("reply", "error"), [
    ("554 5.6.0 Message rejected as spam", Permanent),
    ("451 4.3.0 Temporary failure", Transient),
])
def test_message_refused(smtp, reply, error):
    smtp.reject_data = reply
    with pytest.raises(error):
        make_channel(spec(smtp)).publish(request())


def test_connection_lost_after_data_is_ambiguous(smtp):
    smtp.drop_after_data = True
    with pytest.raises(Ambiguous):
        make_channel(spec(smtp)).publish(request())
    assert len(smtp.messages) == 1  # it did arrive: only a person can tell


def test_nobody_listening_is_transient(smtp):
    port = smtp.port
    smtp.stop()
    smtp.port = port
    with pytest.raises(Transient, match="cannot reach"):
        make_channel(spec(smtp, port=port)).publish(request())


def test_find_is_for_a_person(smtp):
    with pytest.raises(NotImplementedError):
        make_channel(spec(smtp)).find(request())


@pytest.mark.parametrize(("options", "message"), [
    ({"host": ""}, "options.host"),
    ({"to": "not-an-address"}, "options.to"),
    ({"from": None}, "options.from"),
    ({"port": "587"}, "options.port"),
])
def test_bad_options(smtp, options, message):
    with pytest.raises(ConfigError, match=message):
        make_channel(spec(smtp, **options))


def test_one_credential_without_the_other(smtp):
    with pytest.raises(ConfigError, match="both"):
        make_channel(spec(smtp, secrets={"username": "desk"}))
