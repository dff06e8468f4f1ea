"""Runs a fake Mastodon in its own process, so a benchmark measures only
publisher's CPU.  Prints its base URL, then waits for "quit" on stdin and
prints "statuses=N keys=K" (K: distinct idempotency keys) before exiting.

    python bench/_fakehost.py LATENCY_SECONDS
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.mastodon_server import FakeMastodon


def main() -> None:
    latency = float(sys.argv[1])
    with FakeMastodon(access_token="bench-token") as fake:
        fake.latency = latency
        print(fake.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        keys = {key for status in fake.statuses
                for key in [getattr(status, "idempotency_key", None)] if key}
        print(f"statuses={len(fake.statuses)} keys={len(keys)}", flush=True)


if __name__ == "__main__":
    main()
