"""A discrete-event simulation of clients sharing one HubSpot account, for testing the limiter.

No threads and no real clock: each client is a :class:`RateLimiter` on the simulation's clock,
used through its public methods only. The account counts each request when it arrives (after a
random delay on the way in), answers after a random delay (out of order, with an optional slow
tail), and computes ``Remaining`` when it counts the request or when it answers it.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from airflow_provider_hubtix.ratelimit import Permit, RateLimiter
from airflow_provider_hubtix.shared_window import SharedWindow

WINDOW = 10.0
POLL_SECONDS = 0.01
"""How often a client that was refused a slot asks again."""


@dataclass(frozen=True)
class Timing:
    """How the simulated account times its answers (seconds)."""

    latency: float = 0.2
    jitter: float = 0.0
    slow_share: float = 0.0
    slow_factor: float = 5.0
    arrival_spread: float = 0.0
    remaining_at: Literal["count", "answer"] = "count"


TIMINGS = {
    "fixed": Timing(),
    "jitter": Timing(jitter=0.25),
    "tail": Timing(jitter=0.25, slow_share=0.05),
    "spread": Timing(jitter=0.25, arrival_spread=0.3),
    "answer-time": Timing(jitter=0.25, slow_share=0.05, remaining_at="answer"),
}


@dataclass
class Account:
    """The account's rolling window: counts arrivals, refuses past the budget."""

    budget: int
    arrivals: deque[float] = field(default_factory=deque)
    accepted: list[float] = field(default_factory=list)
    refused: int = 0

    def remaining(self, now: float) -> int:
        while self.arrivals and self.arrivals[0] <= now - WINDOW:
            self.arrivals.popleft()
        return self.budget - len(self.arrivals)

    def count(self, now: float) -> tuple[bool, int]:
        if self.remaining(now) <= 0:
            self.refused += 1
            return False, 0
        self.arrivals.append(now)
        self.accepted.append(now)
        return True, self.remaining(now)


class Clock:
    """The simulation's clock, shared by every limiter."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Client:
    """One process: a limiter, a number of requests to send, at most ``concurrency`` in flight."""

    work: int
    concurrency: int
    start: float = 0.0
    seed: int = 0
    limiter: RateLimiter | None = None
    in_flight: int = 0
    done: int = 0
    check_at: float = float("inf")


def simulate(
    clients: list[Client],
    timing: Timing,
    *,
    budget: int = 100,
    seed: int = 0,
    until: float = 600.0,
    shared: Path | None = None,
) -> Account:
    """Run every client's work against one account; return the account (what it counted).

    :param shared: a file through which the clients share one picture of the window, as processes
        on one machine do (each client opens it on its own); ``None``: each has its own picture.
    """
    rng = random.Random(seed)
    clock = Clock()
    account = Account(budget)
    events: list[tuple[float, int, str, Client, Permit | None, bool, int]] = []
    order = itertools.count()
    for client in clients:
        client.limiter = RateLimiter(clock=clock, shared=SharedWindow(shared) if shared else None)
        model = getattr(client.limiter, "_model", None)
        if model is not None:
            model.rng = random.Random(client.seed)  # reproducible runs

    def push(
        at: float, kind: str, client: Client, sent: Permit | None = None, ok: bool = True, rem: int = 0
    ) -> None:
        heapq.heappush(events, (at, next(order), kind, client, sent, ok, rem))

    def send(client: Client, now: float) -> None:
        assert client.limiter is not None
        while client.work and client.in_flight < client.concurrency:
            sent = client.limiter.try_acquire()
            if sent is None:
                at = now + POLL_SECONDS
                if at < client.check_at:
                    client.check_at = at
                    push(at, "check", client)
                return
            client.work -= 1
            client.in_flight += 1
            push(now + rng.uniform(0, timing.arrival_spread) + 0.005, "arrive", client, sent)

    def answer_delay() -> float:
        delay = timing.latency * rng.uniform(1 - timing.jitter, 1 + timing.jitter)
        return delay * (timing.slow_factor if rng.random() < timing.slow_share else 1.0)

    for client in clients:
        client.check_at = client.start
        push(client.start, "check", client)
    while events:
        now, _, kind, client, sent, ok, rem = heapq.heappop(events)
        clock.now = now
        if now > until:
            raise AssertionError(f"the clients did not finish within {until} s")
        if kind == "check":
            if now < client.check_at:
                continue  # superseded by an earlier check
            client.check_at = float("inf")
        if kind == "arrive":
            assert sent is not None
            ok, rem = account.count(now)
            push(now + answer_delay(), "answer", client, sent, ok, rem)
            continue
        if kind == "answer":
            assert sent is not None
            if timing.remaining_at == "answer":
                rem = account.remaining(now)
            client.in_flight -= 1
            assert client.limiter is not None
            client.limiter.release(sent, headers(budget, rem), counted=ok)
            if ok:
                client.done += 1
            else:
                client.work += 1
                client.limiter.pause(client.limiter.seconds_until_free())
        send(client, now)
    return account


def headers(budget: int, remaining: int) -> dict[str, str]:
    """HubSpot's rate-limit headers."""
    return {
        "X-HubSpot-RateLimit-Max": str(budget),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW * 1000)),
    }


def span(account: Account) -> float:
    """Seconds from the first counted request to the last."""
    return account.accepted[-1] - account.accepted[0]
