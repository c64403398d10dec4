"""``python -m airflow_provider_hubtix.sandbox``: serve the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from airflow_provider_hubtix.sandbox.server import HubSpotSandbox
from airflow_provider_hubtix.sandbox.store import DUPLICATE_STYLES
from airflow_provider_hubtix.sandbox.timing import TIMING_MODES

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, start the sandbox, print its URL, wait for a stop signal."""
    args = _parser().parse_args(argv)
    sandbox = HubSpotSandbox(
        args.token,
        rate=args.rate,
        daily=args.daily,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        lose_rate=args.lose_rate,
        unique_property=args.unique_property or None,
        seed=args.seed,
        port=args.port,
        host=args.host,
        timing=args.timing,
        duplicate_style=args.duplicate_style,
    )
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with sandbox:
        print(f"HubSpot sandbox listening on {sandbox.url}", flush=True)
        stop.wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="A local HubSpot-compatible tickets API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--token", default="sandbox-token", help="the valid access token")
    parser.add_argument(
        "--rate", type=int, default=None, help="requests per rolling 10 s (default: no limit)"
    )
    parser.add_argument("--daily", type=int, default=1_000_000, help="requests per day")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay before each answer")
    parser.add_argument(
        "--timing",
        default="fixed",
        choices=sorted(TIMING_MODES),
        help="how answers are timed around --latency-ms: jitter, a slow tail, late counting, "
        "Remaining computed at answer time (see the sandbox docs)",
    )
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of batch calls answered 5xx")
    parser.add_argument(
        "--lose-rate", type=float, default=0.0, help="share of batch calls done, answer dropped"
    )
    parser.add_argument("--unique-property", default="external_id", help="ticket property with unique values")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--duplicate-style",
        choices=DUPLICATE_STYLES,
        default="hubspot",
        help="how a duplicate unique value is reported (default: as HubSpot does)",
    )
    return parser


if __name__ == "__main__":
    main()
