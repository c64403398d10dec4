"""Client-side limiter for HubSpot's rolling 10-second request window.

HubSpot counts requests per app (or account) in a rolling window and answers 429 past the budget.
HubSpot also asks integrations to keep 429s under 5 % of their requests, so a good client paces
itself from the ``X-HubSpot-RateLimit-*`` headers instead of bouncing off the limit.

The limiter counts this process's requests in flight and those answered within the last window,
and lets a request go while that count is below its *cap*:

* the budget is ``requests_per_window`` when configured, else learned from
  ``X-HubSpot-RateLimit-Max`` (100, the smallest tier, until the first answer arrives);
* ``X-HubSpot-RateLimit-Remaining`` reveals requests made by *other* clients of the same account
  (mapped shards on other workers, other DAGs). When others appear the cap drops to this
  process's current share, then follows AIMD: it grows by one per paced request while more than
  15 % of the budget remains and shrinks by a quarter (once per window) when less than 5 %
  remains, so that independent processes converge on shares of the account's budget instead of
  hammering into 429s;
* while others are active, requests are paced evenly over the window rather than sent in bursts,
  so every client's usage shows in the headers before the others act on them;
* a 429 pauses every thread of the process (:meth:`RateLimiter.pause`).

Plain Python, thread-safe, no Airflow import.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

DEFAULT_BUDGET = 100
"""Requests per 10 s assumed until HubSpot's headers tell: the smallest private-app tier."""

MAX_HEADER = "X-HubSpot-RateLimit-Max"
REMAINING_HEADER = "X-HubSpot-RateLimit-Remaining"
INTERVAL_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"

_FOREIGN_SMOOTHING = 0.3
_LOW_WATER = 0.05
"""Below this share of the budget remaining, clients sharing an account slow down …"""
_HIGH_WATER = 0.15
"""… and above this share they speed up."""
_DECREASE = 0.75


class RateLimiter:
    """Paces requests to stay inside HubSpot's rolling window, alone or sharing an account.

    A request counts from :meth:`acquire` until :meth:`release` and then for one window after its
    answer arrived: by then HubSpot has surely counted it, however long it queued on the way.

    :param requests_per_window: the budget; ``None`` learns it from ``X-HubSpot-RateLimit-Max``.
    :param window_seconds: the window length; updated from ``X-HubSpot-RateLimit-Interval-Milliseconds``.
    :param clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        requests_per_window: int | None = None,
        *,
        window_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_window is not None and requests_per_window < 1:
            raise ValueError(f"requests_per_window must be at least 1, got {requests_per_window}")
        self._configured = requests_per_window
        self._budget = requests_per_window or DEFAULT_BUDGET
        self._window = window_seconds
        self._clock = clock
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._foreign = 0.0
        self._paused_until = 0.0
        self._next_paced = 0.0
        self._shared_cap = float(self._budget)
        self._last_decrease = -1e9
        self._last_increase = -1e9
        self._cond = threading.Condition()

    @property
    def budget(self) -> int:
        """Requests per window for the whole account, as configured or learned."""
        return self._budget

    @property
    def cap(self) -> int:
        """How many requests this process may have in the current window."""
        with self._cond:
            return self._cap()

    def acquire(self) -> None:
        """Block until one more request may be sent, then count it as in flight."""
        with self._cond:
            while True:
                now = self._clock()
                self._expire(now)
                cap = self._cap()
                wait = max(self._paused_until, self._next_paced) - now
                if wait <= 0 and self._own() < cap:
                    self._in_flight += 1
                    # Sharing the account: spread the share over the window instead of bursting it,
                    # so that every client's usage shows in the headers before the others act on them.
                    self._next_paced = now + self._window / cap if self._foreign >= 1.0 else 0.0
                    return
                if wait <= 0:
                    wait = self._answered[0] + self._window - now if self._answered else 0.05
                self._cond.wait(timeout=max(wait, 0.001))

    def release(self) -> None:
        """The request acquired last by this thread got its answer (or failed): it counts one more window."""
        with self._cond:
            self._in_flight = max(self._in_flight - 1, 0)
            self._answered.append(self._clock())
            self._cond.notify_all()

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the budget and other clients' usage from one response's rate-limit headers.

        Call it before :meth:`release` of the same request.

        :param headers: the response headers (case-insensitive mapping, as ``requests`` gives).
        """
        maximum = _int_header(headers, MAX_HEADER)
        remaining = _int_header(headers, REMAINING_HEADER)
        interval_ms = _int_header(headers, INTERVAL_HEADER)
        with self._cond:
            if interval_ms:
                self._window = interval_ms / 1000.0
            if maximum and self._configured is None:
                self._budget = maximum
            if maximum is not None and remaining is not None:
                self._expire(self._clock())
                foreign = max(0.0, float(maximum - remaining - self._own()))
                if self._foreign < 1.0 <= foreign:  # others appeared: start from today's share
                    own = max(self._own(), 1)
                    self._shared_cap = max(1.0, self._budget * own / (own + foreign))
                if foreign > self._foreign:  # yield at once
                    self._foreign = foreign
                else:  # others slowed down: take their share back gradually
                    self._foreign += _FOREIGN_SMOOTHING * (foreign - self._foreign)
                self._adjust_shared_cap(remaining)
            self._cond.notify_all()

    def _adjust_shared_cap(self, remaining: int) -> None:
        """Additive increase while the account has room, multiplicative decrease when it runs low.

        Every client sees the same ``Remaining``, so they all back off together and converge on
        equal shares whose sum stays just under the budget (the classic AIMD argument).
        """
        if self._foreign < 1.0:
            self._shared_cap = float(self._budget)
            return
        now = self._clock()
        low = max(2.0, self._budget * _LOW_WATER)
        if remaining <= low:
            if now - self._last_decrease >= self._window:  # the window remembers: once per window
                self._shared_cap = max(1.0, min(self._shared_cap, float(self._own())) * _DECREASE)
                self._last_decrease = now
        elif (
            remaining > self._budget * _HIGH_WATER
            and now - self._last_increase >= self._window / self._shared_cap
        ):
            self._shared_cap = min(float(self._budget), self._shared_cap + 1.0)  # one per paced send
            self._last_increase = now

    def pause(self, seconds: float) -> None:
        """Hold every request of this process for ``seconds`` (after a 429)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def seconds_until_free(self) -> float:
        """Seconds until this process's oldest request leaves the window (at least 0.5)."""
        with self._cond:
            now = self._clock()
            self._expire(now)
            if not self._answered:
                return 0.5
            return max(0.5, self._answered[0] + self._window - now)

    def _own(self) -> int:
        return len(self._answered) + self._in_flight

    def _cap(self) -> int:
        return self._budget if self._foreign < 1.0 else max(1, int(self._shared_cap))

    def _expire(self, now: float) -> None:
        horizon = now - self._window
        while self._answered and self._answered[0] <= horizon:
            self._answered.popleft()


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
