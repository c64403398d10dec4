"""HubSpot's rate limits as the sandbox enforces them: a rolling window and a daily quota."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimits", "Verdict"]

_UNLIMITED_MAX = 1_000_000
"""What ``X-HubSpot-RateLimit-Max`` says when the sandbox runs without a 10-second limit."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of counting one request.

    :param allowed: the request may proceed.
    :param policy: ``TEN_SECONDLY_ROLLING`` or ``DAILY`` when refused.
    :param headers: the ``X-HubSpot-RateLimit-*`` headers to send.
    """

    allowed: bool
    policy: str | None
    headers: dict[str, str]


class RateLimits:
    """Counts requests in a rolling window and per day (not thread-safe: the caller locks).

    :param rate: requests per window, ``None`` for no window limit.
    :param daily: requests per day.
    :param window_seconds: the window length (10 s at HubSpot).
    :param clock: monotonic clock.
    """

    def __init__(
        self,
        rate: int | None,
        daily: int,
        window_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.daily = daily
        self.window_seconds = window_seconds
        self._clock = clock
        self._window: deque[float] = deque()
        self.daily_used = 0

    def count(self, *, daily: bool = True) -> Verdict:
        """Count one request if it fits; 429s do not consume the window.

        :param daily: whether the daily limit applies (``False`` for OAuth calls: no daily limit, no
            daily headers).
        """
        now = self._prune()
        policy = None
        if daily and self.daily_used >= self.daily:
            policy = "DAILY"
        elif self.rate is not None and len(self._window) >= self.rate:
            policy = "TEN_SECONDLY_ROLLING"
        else:
            self._window.append(now)
            self.daily_used += daily
        return Verdict(policy is None, policy, self._headers(daily=daily))

    def headers(self, *, daily: bool = True) -> dict[str, str]:
        """The ``X-HubSpot-RateLimit-*`` headers as of now, counting nothing.

        :param daily: with the daily ones.
        """
        self._prune()
        return self._headers(daily=daily)

    def _prune(self) -> float:
        """Let the requests counted a window ago or more leave the window; return now."""
        now = self._clock()
        while self._window and self._window[0] <= now - self.window_seconds:
            self._window.popleft()
        return now

    def _headers(self, *, daily: bool) -> dict[str, str]:
        maximum = self.rate or _UNLIMITED_MAX
        headers = {
            "X-HubSpot-RateLimit-Max": str(maximum),
            "X-HubSpot-RateLimit-Remaining": str(max(maximum - len(self._window), 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_seconds * 1000)),
        }
        if daily:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(self.daily - self.daily_used, 0))
        return headers

    def reset(self) -> None:
        """Forget every counted request."""
        self._window.clear()
        self.daily_used = 0
