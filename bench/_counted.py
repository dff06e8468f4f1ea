"""``publisher`` with every SQL statement counted (bench/mastodon.py runs it).

    BENCH_STATEMENTS=FILE python bench/_counted.py run --once

Appends the number of statements the process executed (SQLAlchemy's
``before_cursor_execute``: one per execute or executemany) to FILE at exit.
Only the benchmark loads this; publisher itself counts nothing.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

# This script's folder holds bench/mastodon.py, which would shadow Mastodon.py.
sys.path[0] = str(Path(__file__).resolve().parents[1])

_count = 0


@event.listens_for(Engine, "before_cursor_execute")
def _counted(*_: object) -> None:
    global _count
    _count += 1


def _report() -> None:
    with open(os.environ["BENCH_STATEMENTS"], "a", encoding="utf-8") as fh:
        fh.write(f"{_count}\n")


atexit.register(_report)

from publisher.cli import main  # noqa: E402

sys.argv[0] = "publisher"
main()
