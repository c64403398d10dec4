"""Runs the sandbox in its own process for the benchmark and answers ``stats`` on stdin.

The benchmark keeps the server out of the client's process so that client CPU and memory are
measured alone. Protocol: prints ``URL <url>`` once started; then for each stdin line ``stats`` it
prints one JSON line of the sandbox's stats; ``limit RATE LATENCY_MS`` changes the rate limit and
latency (answered by ``{}``); EOF stops it. ``--timing`` picks one of the sandbox's timing modes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from airflow_provider_hubtix.sandbox import HubSpotSandbox
from airflow_provider_hubtix.sandbox.timing import TIMING_MODES


def main() -> None:
    """Start the sandbox with the given limits and serve stats requests until stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=None)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--timing", default="fixed", choices=sorted(TIMING_MODES))
    args = parser.parse_args()
    sandbox = HubSpotSandbox(
        token=args.token, rate=args.rate, latency_ms=args.latency_ms, seed=7, timing=args.timing
    )
    with sandbox:
        print(f"URL {sandbox.url}", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                stats = dataclasses.asdict(sandbox.stats())
                stats["ticket_count"] = sandbox.ticket_count
                print(json.dumps(stats, default=str), flush=True)
            elif command.startswith("limit "):
                _, rate, latency_ms = command.split()
                sandbox.set_rate(rate=int(rate))
                sandbox.set_faults(latency_ms=int(latency_ms))
                print("{}", flush=True)


if __name__ == "__main__":
    main()
