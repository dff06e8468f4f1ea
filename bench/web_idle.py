"""Benchmark: the CPU an idle HTTP listener costs the daemon.

    .venv/bin/python bench/web_idle.py [--seconds 20]

Starts the listener (uvicorn on its thread, as ``publisher run`` does) with
no requests and prints this process's CPU over the period.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.applications import Starlette

from publisher.web.server import start_http


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    server = start_http(Starlette(), ("127.0.0.1", 0))
    cpu = time.process_time()
    time.sleep(args.seconds)
    cpu = time.process_time() - cpu
    server.stop()
    print(f"idle listener: {cpu * 1000:.1f} ms CPU over {args.seconds:.0f} s "
          f"({cpu / args.seconds * 100:.3f}% of one core)")


if __name__ == "__main__":
    main()
