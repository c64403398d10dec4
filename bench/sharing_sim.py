"""Several processes sharing one HubSpot account, on the limiter's discrete-event simulation.

Each process is a :class:`~airflow_provider_hubtix.ratelimit.RateLimiter` on a simulated clock
(``tests/unit/window_sim.py``) that knows the others only through ``Remaining``: processes on
separate machines (on one machine they share one picture of the window, ``shared_window.py``, and
act as one client). One row per timing
mode: the ceiling fraction (the least server span the budget allows over the actual span: 1.0 is
the ceiling) at its minimum and median over the seeds, how many runs reached 0.90, and the share of
answers that were 429s. Usage::

    python bench/sharing_sim.py [--clients 4] [--requests 100] [--seeds 20] [--concurrency 100 16]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.window_sim import TIMINGS, Client, simulate, span

BUDGET = 100
WINDOW = 10.0
TARGET = 0.90


def run(
    clients: int, requests: int, concurrency: int, mode: str, seed: int, start_spread: float = 1.0
) -> tuple[float, float]:
    """One run: the ceiling fraction and the share of 429s among the answers."""
    rng = random.Random(seed)
    sharing = [
        Client(requests, concurrency, start=rng.uniform(0, start_spread), seed=seed * 100 + i)
        for i in range(clients)
    ]
    account = simulate(sharing, TIMINGS[mode], budget=BUDGET, seed=seed)
    accepted = len(account.accepted)
    least = (math.ceil(accepted / BUDGET) - 1) * WINDOW + 0.2
    return least / span(account), account.refused / (accepted + account.refused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=100, help="requests per process")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[100, 16])
    parser.add_argument("--start-spread", type=float, default=1.0, help="processes start within this many s")
    parser.add_argument("--modes", nargs="+", default=list(TIMINGS))
    args = parser.parse_args()
    shape = f"{args.clients} processes x {args.requests} requests, budget {BUDGET}/{WINDOW:g} s"
    print(f"{shape}, {args.seeds} seeds")
    print(f"{'conc':>4} {'mode':<12} {'min':>5} {'median':>6} {'>=0.90':>6} {'429 mean':>8} {'429 max':>7}")
    started = time.perf_counter()
    for concurrency in args.concurrency:
        for mode in args.modes:
            runs = [
                run(args.clients, args.requests, concurrency, mode, seed, args.start_spread)
                for seed in range(args.seeds)
            ]
            fractions = [fraction for fraction, _ in runs]
            refused = [share * 100 for _, share in runs]
            reached = sum(fraction >= TARGET for fraction in fractions)
            print(
                f"{concurrency:>4} {mode:<12} {min(fractions):5.2f} {statistics.median(fractions):6.2f}"
                f" {reached:>3}/{args.seeds:<2} {statistics.mean(refused):7.2f}% {max(refused):6.2f}%"
            )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
