"""Client-side limiter for HubSpot's rolling 10-second request window (thread-safe).

HubSpot counts an account's requests in a rolling window and answers 429 past the budget; it also
asks integrations to keep 429s under 5 % of their requests. So a good client paces itself from the
``X-HubSpot-RateLimit-*`` headers instead of bouncing off the limit, even when several clients
(mapped shards on other workers, other DAGs) share one account and know nothing of each other.

:class:`RateLimiter` is a thin thread-safe wrapper: callers block in :meth:`RateLimiter.acquire`
until :class:`~airflow_provider_hubtix.window_model.WindowModel` (the pure model, which says how
and why) lets one more request go, and hand every answer back through :meth:`RateLimiter.release`.
The processes on one machine that use the same app may share one model
(:mod:`~airflow_provider_hubtix.shared_window`): they then act as one client.

The budget is ``requests_per_window`` when configured (never more than the account's
``X-HubSpot-RateLimit-Max``), else learned from that header; 100, the smallest tier, until then.
Plain Python, no Airflow import.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from airflow_provider_hubtix.limits import SMALLEST_RATE_TIER, WINDOW_SECONDS
from airflow_provider_hubtix.shared_window import Held, SharedWindow, find_sent
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

AUTO_MAX_CONCURRENCY = SMALLEST_RATE_TIER
"""The most requests in flight with automatic concurrency: a window's worth at the smallest tier,
sent within one round trip."""

SHARED_RECHECK_SECONDS = 0.02
"""How often a waiting process looks at a shared picture (another process's answer wakes nobody
here): a few times per round trip."""

_REQUEST_NUMBERS = itertools.count(1)
"""Numbers the requests of this process, across all its limiters: (pid, number) names a request in a
picture shared with other limiters (see ``shared_window.find_sent``)."""

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
    :param shared: the picture this process shares with the others on this machine that use the
        same app (see :mod:`~airflow_provider_hubtix.shared_window`); ``None``: its own.
    """

    def __init__(
        self,
        requests_per_window: int | None = None,
        *,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        settings: LimiterSettings | None = None,
        shared: SharedWindow | None = None,
    ) -> None:
        self._new_model = functools.partial(
            WindowModel, requests_per_window, window_seconds=window_seconds, settings=settings
        )
        self._model = self._new_model()
        self._shared = shared
        self._clock = clock
        self._cond = threading.Condition()
        self._watching = False

    @contextlib.contextmanager
    def _window(self) -> Iterator[Held]:
        """The model and the time, under the machine's lock when shared (the caller holds this
        process's); set ``changed`` when the model is to be written back."""
        if self._shared is None:
            yield Held(self._model, self._clock())
            return
        with self._shared.open(self._new_model, self._clock) as held:
            self._model = held.model
            yield held

    def _recheck_seconds(self, held: Held) -> float:
        """How long the watcher waits: until the model's next event, and no longer than
        ``SHARED_RECHECK_SECONDS`` while other processes write (their answers wake nobody here)."""
        timeout = held.model.next_check(held.now)
        if self._shared is not None and held.now - self._shared.others_wrote_at < held.model.window:
            timeout = min(timeout, SHARED_RECHECK_SECONDS)
        return timeout

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
            while not isinstance(taken := self._take(watch=not self._watching), Permit):
                if taken is None:  # another caller watches the clock
                    self._cond.wait()
                    continue
                self._watching = True
                try:
                    self._cond.wait(timeout=taken)
                finally:
                    self._watching = False
            self._cond.notify()  # the next caller goes too if it may, or watches the clock
            return taken

    def try_acquire(self) -> Permit | None:
        """Take a place for one more request if it may go now, else return ``None``."""
        with self._cond:
            taken = self._take(watch=False)
            return taken if isinstance(taken, Permit) else None

    def _take(self, *, watch: bool) -> Permit | float | None:
        """A place for one more request; else, for the caller that will watch the clock, how long to
        wait before looking again (in the same look at the model), or ``None``."""
        with self._window() as held:
            sent = held.model.take(held.now)
            if sent is None:
                return self._recheck_seconds(held) if watch else None
            sent.pid, sent.number = os.getpid(), next(_REQUEST_NUMBERS)
            held.changed = True
            return Permit(sent)

    def release(
        self, permit: Permit, headers: Mapping[str, str] | None = None, *, counted: bool = True
    ) -> None:
        """The request of ``permit`` got its answer, or failed without one (``headers=None``).

        :param permit: what :meth:`acquire` returned for this request.
        :param headers: the answer's headers (case-insensitive mapping, as ``requests`` gives).
        :param counted: whether HubSpot counted the request (``False`` for a 429).
        """
        with self._cond:
            with self._window() as held:
                sent = find_sent(held.model, permit._sent)
                if headers is None:
                    held.model.unanswered(sent, held.now)
                else:
                    held.model.answered(sent, held.now, read_view(headers), counted=counted)
                held.changed = True
            self._cond.notify()

    def pause(self, seconds: float) -> None:
        """Hold every request of this process for ``seconds`` (after a 429)."""
        with self._cond, self._window() as held:
            held.model.pause(held.now, seconds)
            held.changed = True

    def seconds_until_free(self) -> float:
        """Seconds until a slot surely frees up (at least 0.5, at most one window)."""
        with self._cond, self._window() as held:
            return held.model.seconds_until_free(held.now)


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
