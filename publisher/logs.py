"""Logging set-up: human or JSON lines, with every secret redacted.

Named loggers per stage (``publisher.ingest``, ``publisher.dispatch``, …)
write one summary line per feed poll and per attempt.  ``Redactor`` replaces
every configured credential value in the final formatted line, whatever
logger or library produced it (an SDK that logs a URL with a token in it
included).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Redactor:
    """Replaces secret values in text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if s and len(s) >= 4} | set(self._secrets)
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


class HumanFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                         datefmt="%Y-%m-%dT%H:%M:%S%z")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the
    key=value context given as ``extra``."""

    def __init__(self, redact: Redactor):
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(doc, default=str, ensure_ascii=False))


def setup_logging(*, fmt: str = "human", level: str = "INFO", secrets: Iterable[str] = (),
                  stream: TextIO | None = None) -> Redactor:
    """Configure the root logger once for the process; returns the redactor
    so more secrets can be added when channels are configured."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else HumanFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries are quiet unless something is wrong.
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler", "requests_oauthlib",
                  "oauthlib", "tweepy", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redact
