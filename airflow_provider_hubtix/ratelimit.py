"""Client-side limiter for HubSpot's rolling 10-second request window (thread-safe).

HubSpot counts an account's requests in a rolling window and answers 429 past the budget; it also
asks integrations to keep 429s under 5 % of their requests. So a good client paces itself from the
``X-HubSpot-RateLimit-*`` headers instead of bouncing off the limit, even when several clients
(mapped shards on other workers, other DAGs) share one account and know nothing of each other.

:class:`RateLimiter` is a thin thread-safe wrapper: callers block in :meth:`RateLimiter.acquire`
until :class:`~airflow_provider_hubtix.window_model.WindowModel` (the pure model, which says how
and why) lets one more request go, and hand every answer back through :meth:`RateLimiter.release`.

The budget is ``requests_per_window`` when configured (never more than the account's
``X-HubSpot-RateLimit-Max``), else learned from that header; 100, the smallest tier, until then.
Plain Python, no Airflow import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from airflow_provider_hubtix.window_model import LimiterSettings, Sent, View, WindowModel

__all__ = [
    "AUTO_MAX_CONCURRENCY",
    "INTERVAL_HEADER",
    "MAX_HEADER",
    "REMAINING_HEADER",
    "Permit",
    "RateLimiter",
    "int_header",
    "read_view",
]

AUTO_MAX_CONCURRENCY = 100
"""The most requests in flight with automatic concurrency: a window's worth at the smallest tier,
sent within one round trip."""

MAX_HEADER = "X-HubSpot-RateLimit-Max"
REMAINING_HEADER = "X-HubSpot-RateLimit-Remaining"
INTERVAL_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"


@dataclass(frozen=True)
class Permit:
    """One request's place in the window, from :meth:`RateLimiter.acquire` to :meth:`RateLimiter.release`."""

    _sent: Sent

    @property
    def sent_at(self) -> float:
        """When the request was let go (the limiter's clock)."""
        return self._sent.sent


class RateLimiter:
    """Paces requests to stay inside HubSpot's rolling window, alone or sharing an account.

    :param requests_per_window: the budget; ``None`` learns it from ``X-HubSpot-RateLimit-Max``.
    :param window_seconds: the window's length until ``X-HubSpot-RateLimit-Interval-Milliseconds``
        tells.
    :param clock: monotonic clock in seconds (injectable for tests).
    :param settings: the few numbers the limiter does not learn.
    """

    def __init__(
        self,
        requests_per_window: int | None = None,
        *,
        window_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        settings: LimiterSettings | None = None,
    ) -> None:
        self._model = WindowModel(requests_per_window, window_seconds=window_seconds, settings=settings)
        self._clock = clock
        self._cond = threading.Condition()
        self._watching = False

    @property
    def budget(self) -> int:
        """Requests per window this process may have at most: as configured, else the account's."""
        with self._cond:
            return self._model.budget

    def acquire(self) -> Permit:
        """Block until one more request may go, then take its place in the window.

        One waiting caller watches the clock for the model's next event; the others sleep until
        woken, one at a time (an answer wakes one; each caller that goes wakes the next), so a
        hundred waiting threads cost one wake-up per event, not a hundred.
        """
        with self._cond:
            while (sent := self._model.take(self._clock())) is None:
                if self._watching:
                    self._cond.wait()
                    continue
                self._watching = True
                try:
                    self._cond.wait(timeout=self._model.next_check(self._clock()))
                finally:
                    self._watching = False
            self._cond.notify()  # the next caller goes too if it may, or watches the clock
            return Permit(sent)

    def try_acquire(self) -> Permit | None:
        """Take a place for one more request if it may go now, else return ``None``."""
        with self._cond:
            sent = self._model.take(self._clock())
            return None if sent is None else Permit(sent)

    def release(
        self, permit: Permit, headers: Mapping[str, str] | None = None, *, counted: bool = True
    ) -> None:
        """The request of ``permit`` got its answer, or failed without one (``headers=None``).

        :param permit: what :meth:`acquire` returned for this request.
        :param headers: the answer's headers (case-insensitive mapping, as ``requests`` gives).
        :param counted: whether HubSpot counted the request (``False`` for a 429).
        """
        with self._cond:
            now = self._clock()
            if headers is None:
                self._model.unanswered(permit._sent, now)
            else:
                self._model.answered(permit._sent, now, read_view(headers), counted=counted)
            self._cond.notify()

    def pause(self, seconds: float) -> None:
        """Hold every request of this process for ``seconds`` (after a 429)."""
        with self._cond:
            self._model.pause(self._clock(), seconds)

    def seconds_until_free(self) -> float:
        """Seconds until a slot surely frees up (at least 0.5, at most one window)."""
        with self._cond:
            return self._model.seconds_until_free(self._clock())


def read_view(headers: Mapping[str, str]) -> View | None:
    """The rate-limit headers of an answer, or ``None`` when it carries none (or garbled ones)."""
    maximum = int_header(headers, MAX_HEADER)
    remaining = int_header(headers, REMAINING_HEADER)
    if not maximum or remaining is None:
        return None
    interval_ms = int_header(headers, INTERVAL_HEADER)
    return View(maximum, max(remaining, 0), interval_ms / 1000.0 if interval_ms else None)


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A header's whole number, or ``None`` when it is missing or garbled.

    :param headers: an answer's headers (case-insensitive, as ``requests`` gives them).
    :param name: the header's name.
    """
    try:
        return int(headers[name])
    except (KeyError, TypeError, ValueError):
        return None
