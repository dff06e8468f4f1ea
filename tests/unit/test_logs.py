from __future__ import annotations

import io
import json
import logging

import pytest

from publisher.logs import Redactor, setup_logging

SECRET = "tok-9f8e7d6c5b4a"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_redactor_replaces_longest_first():
    redact = Redactor(["abcd", "abcdefgh", ""])
    assert redact("x abcdefgh y abcd") == "x *** y ***"


def test_human_lines_are_redacted(restore_logging):
    out = io.StringIO()
    setup_logging(fmt="human", secrets=[SECRET], stream=out)
    log = logging.getLogger("publisher.dispatch")
    log.info("post=1 channel=x url=https://api.example/?token=%s", SECRET)
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    assert SECRET not in text
    assert "token=***" in text and "boom ***" in text


def test_json_lines_carry_context_and_are_redacted(restore_logging):
    out = io.StringIO()
    setup_logging(fmt="json", secrets=[SECRET], stream=out)
    logging.getLogger("publisher.ingest").info(
        "feed=%s status=%s", "ledger", "not_modified",
        extra={"feed": "ledger", "action": "poll", "note": SECRET})
    [line] = out.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["logger"] == "publisher.ingest"
    assert doc["message"] == "feed=ledger status=not_modified"
    assert doc["feed"] == "ledger" and doc["action"] == "poll"
    assert doc["note"] == "***"
