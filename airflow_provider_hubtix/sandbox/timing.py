"""How the sandbox times its answers: the parts of HubSpot's timing nobody documents, as modes.

HubSpot's batch answers take from about 0.1 s to several seconds, vary from call to call (a few are
much slower than the rest) and so come back out of order; the requests of one burst reach it spread
over hundreds of milliseconds; and whether ``X-HubSpot-RateLimit-Remaining`` is computed when a
request is counted or when it is answered is not documented. A client that is right for one
picture of that timing can be wrong for another, so the sandbox can play each of them.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["MODE_LATENCY_MS", "TIMING_MODES", "Timing"]

MODE_LATENCY_MS = 200
"""The base latency of a mode that varies answer times, when none is given (jitter of nothing is
nothing)."""

RemainingAt = Literal["count", "answer"]


@dataclass(frozen=True)
class Timing:
    """One picture of HubSpot's timing.

    :param latency_ms: the typical time from counting a request to answering it.
    :param jitter: each answer's delay varies by up to this share of ``latency_ms`` either way
        (0.25: ±25 %), so answers come back out of order.
    :param slow_share: this share of answers is ``slow_factor`` times slower (a slow tail).
    :param slow_factor: how much slower a slow answer is.
    :param arrival_spread_ms: each request is counted up to this long (uniformly) after it reached
        the server, as when the requests of a burst reach HubSpot spread out.
    :param remaining_at: ``"count"``: ``Remaining`` is the room left when the request was counted;
        ``"answer"``: when it is answered (requests counted meanwhile are included).
    """

    latency_ms: int = 0
    jitter: float = 0.0
    slow_share: float = 0.0
    slow_factor: float = 5.0
    arrival_spread_ms: int = 0
    remaining_at: RemainingAt = "count"

    def __post_init__(self) -> None:
        if self.remaining_at not in ("count", "answer"):
            raise ValueError(f"remaining_at must be 'count' or 'answer', not {self.remaining_at!r}")
        if not 0.0 <= self.jitter < 1.0 or not 0.0 <= self.slow_share <= 1.0:
            raise ValueError("jitter must be in [0, 1) and slow_share in [0, 1]")
        if not self.latency_ms and (self.jitter or self.slow_share):
            raise ValueError(
                "jitter and a slow tail vary latency_ms, which is 0: give it a base (e.g. latency_ms=200)"
            )

    def arrival_delay(self, rng: random.Random) -> float:
        """Seconds between a request reaching the server and being counted."""
        return rng.uniform(0.0, self.arrival_spread_ms / 1000.0) if self.arrival_spread_ms else 0.0

    def answer_delay(self, rng: random.Random) -> float:
        """Seconds between counting a request and answering it."""
        delay = self.latency_ms / 1000.0
        if self.jitter:
            delay *= rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        if self.slow_share and rng.random() < self.slow_share:
            delay *= self.slow_factor
        return delay

    def with_mode(self, mode: str) -> Timing:
        """A named mode's spread, tail and header timing (see :data:`TIMING_MODES`) around this
        timing's base latency, or around the mode's (:data:`MODE_LATENCY_MS`) when this one has none."""
        try:
            named = TIMING_MODES[mode]
        except KeyError:
            raise ValueError(f"unknown timing mode {mode!r}; use one of {', '.join(TIMING_MODES)}") from None
        return dataclasses.replace(named, latency_ms=self.latency_ms or named.latency_ms)


TIMING_MODES: dict[str, Timing] = {
    "fixed": Timing(),
    "jitter": Timing(MODE_LATENCY_MS, jitter=0.25),
    "tail": Timing(MODE_LATENCY_MS, jitter=0.25, slow_share=0.05),
    "spread": Timing(MODE_LATENCY_MS, jitter=0.25, arrival_spread_ms=300),
    "answer-time": Timing(MODE_LATENCY_MS, jitter=0.25, slow_share=0.05, remaining_at="answer"),
}
"""Named pictures of HubSpot's timing, around a base latency: fixed latency, answers in order; ±25 %
jitter (answers out of order); jitter with a slow tail (5 % of answers 5× slower); jitter with
requests of a burst counted up to 300 ms apart; and the slow tail with ``Remaining`` computed when
the request is answered."""
