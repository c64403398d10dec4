"""Client-side limiter for HubSpot's rolling 10-second request window.

HubSpot counts an account's requests in a rolling window and answers 429 past the budget; it also
asks integrations to keep 429s under 5 % of their requests. So a good client paces itself from the
``X-HubSpot-RateLimit-*`` headers instead of bouncing off the limit, even when several clients
(mapped shards on other workers, other DAGs) share one account and know nothing of each other.

The limiter thinks in *slots*: a request occupies one slot of the account's window from when it
arrives until one window later. A process lets a request go when it holds a slot for it:

* **its own slot, again**: when one of this process's requests has surely left the window (one
  window after it was sent, plus a margin, plus part of however much slower than the fastest its
  answer was, since a slow answer may have been slow on its way in; or sooner, when an answer's
  ``Remaining`` shows that fewer requests were in the window than this process had answers for),
  that slot is this process's to reuse for a short while (as long as it takes when no other client
  shows up). Processes that keep reusing their slots keep their part of the account, burst for
  burst;
* **a free slot, adopted**: every answer's ``X-HubSpot-RateLimit-Remaining`` tells how many slots
  the account had free when the request arrived. Some of those are not free for long: slots that
  left the window within the grace period (``_GRACE_SECONDS``) are their owners' to reuse, and as
  many requests as the other clients sent in the last round trip may be on their way (the limiter
  keeps a model of the other clients' requests, from the same headers, to tell both: it dates them
  by our answers' arrival, which errs on the side of keeping them in the window). What remains is
  split equally between the clients sending now, the others counted as clients of this one's
  concurrency, and each takes half of its part per answer (rounded up or down by chance, so that
  a last free slot is not always left to nobody; at least one when nobody else is sending), within
  a round trip of the answer, because the others act on views as old as ours. When a process
  finishes, it stops sending and the others adopt its slots.
* **a probe**: with nothing in flight, one request goes to look when a slot may have come free:
  another client's request left the window and its owner did not reuse it, or the last look found
  room. When it found only a few free slots, each idle client looks only by chance, so that they
  do not all go for the same slot; and only within a grace period of that look if the others had
  just sent as many requests as were free (they have taken them by then), unless this process is
  finishing (fewer requests ready than its concurrency): the others may have finished too, and the
  last one to finish would otherwise wait a window for its own slots.

The budget is ``requests_per_window`` when configured (never more than the account's
``X-HubSpot-RateLimit-Max``), else learned from that header; 100, the smallest tier, until then.
The first request of a process goes alone, so that a newcomer learns the account's state before it
sends more; when the answers show no other client, the process then sends up to its budget.
Answers without rate-limit headers leave the process on its own budget. A 429 pauses every thread
of the process (:meth:`RateLimiter.pause`) and takes away every adopted slot.

Plain Python, thread-safe, no Airflow import.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

DEFAULT_BUDGET = 100
"""Requests per 10 s assumed until HubSpot's headers tell: the smallest private-app tier."""

MAX_HEADER = "X-HubSpot-RateLimit-Max"
REMAINING_HEADER = "X-HubSpot-RateLimit-Remaining"
INTERVAL_HEADER = "X-HubSpot-RateLimit-Interval-Milliseconds"

_SEND_MARGIN_SECONDS = 0.15
"""A request is counted when it arrives, a moment after it was sent: reuse its slot this much later.
(The request that reuses it travels too, so this only needs to cover a first trip slower than the
second. 0.05 s was tried: it did not reach 4x the SDK loop, and shared runs fared worse: see the
README's Performance section.)"""
_MAX_LATE_ARRIVAL_SECONDS = 0.25
"""At most this much of an answer's slowness is taken to have been on its way in (most of it is
the server's work after counting the request)."""
_GRACE_SECONDS = 0.4
"""How long a slot that left the window stays its owner's to reuse before others may adopt it."""
_ADOPT_FRACTION = 0.5
"""Sharing an account, take this part of one's share of the free slots per answer."""
_PROBE_ROOM = 4
"""Below this many free slots at the last look, idle clients look again only by chance."""
_ROUND_TRIP_SMOOTHING = 0.2
_MIN_PAUSE_SECONDS = 0.5
_MAX_WAIT_SECONDS = 0.25
"""Waiting threads look again at least this often (the clock may be a fake one in tests)."""


@dataclass(eq=False)
class _Held:
    """One of this process's requests in the window: when it was sent, when it surely left, when
    its answer came (it had arrived by then)."""

    sent: float
    leaves: float
    answered: float = math.inf
    active: bool = True
    """Still in :attr:`RateLimiter._own` (not yet taken out as having left the window)."""


@dataclass(frozen=True)
class Permit:
    """One request's place in the window, from :meth:`RateLimiter.acquire` to :meth:`RateLimiter.release`.

    :param sent_at: when the request was let go (the limiter's clock).
    :param counted_before: this process's requests in the account's window at that moment.
    :param reused: whether it went on a slot of this process's own that had left the window.
    """

    sent_at: float
    counted_before: int
    reused: bool
    _held: _Held | None = field(default=None, repr=False, compare=False)
    _held_before: int = field(default=0, repr=False, compare=False)


class RateLimiter:
    """Paces requests to stay inside HubSpot's rolling window, alone or sharing an account.

    :param requests_per_window: the budget; ``None`` learns it from ``X-HubSpot-RateLimit-Max``.
    :param window_seconds: the window length; updated from ``X-HubSpot-RateLimit-Interval-Milliseconds``.
    :param concurrency: requests this process has in flight at most; other clients sharing the
        account are assumed alike when telling how many of them are sending.
    :param clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        requests_per_window: int | None = None,
        *,
        window_seconds: float = 10.0,
        concurrency: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_window is not None and requests_per_window < 1:
            raise ValueError(f"requests_per_window must be at least 1, got {requests_per_window}")
        self._configured = requests_per_window
        self._concurrency = max(concurrency, 1)
        self._account_max: int | None = None
        self._window = window_seconds
        self._clock = clock
        self._own: deque[_Held] = deque()
        """This process's requests in the window, oldest first."""
        self._reusable: deque[float] = deque()
        """This process's slots that left the window: until when each is still its own to reuse."""
        self._others: deque[float] = deque()
        """Estimated times at which the other clients' requests leave the window, oldest first."""
        self._others_left: list[float] = []
        """When other clients' requests left the window, kept for the grace period."""
        self._reused: deque[float] = deque()
        self._adopted: deque[float] = deque()
        """Send times of this process's requests in the window on reused and on adopted slots."""
        self._adoptable = 1  # the first request goes alone
        self._adoptable_until = math.inf
        self._last_view_at = -math.inf
        self._last_remaining = 1
        self._departed_at: float | None = None
        self._newest_view = -math.inf
        self._in_flight = 0
        self._waiting = 0
        """Requests this process has ready to send: the callers asking for a slot now."""
        self._round_trip = 0.2
        self._fastest = math.inf
        self._paused_until = 0.0
        self._next_probe = 0.0
        self._unclaimed = 0
        """Free slots at the last look beyond as many as the others sent in the round trip before."""
        self._random = random.Random()
        self._cond = threading.Condition()

    @property
    def budget(self) -> int:
        """Requests per window this process may have at most: as configured, else the account's."""
        return self._configured or self._account_max or DEFAULT_BUDGET

    @property
    def held(self) -> int:
        """Slots this process holds now: its requests in the window and its slots to reuse."""
        with self._cond:
            self._advance(self._clock())
            return self._holding()

    def acquire(self) -> Permit:
        """Block until this process holds a slot for one more request, then take it."""
        with self._cond, self._ready():
            while (permit := self._take(self._clock())) is None:
                self._cond.wait(timeout=self._wait_seconds(self._clock()))
            return permit

    def try_acquire(self) -> Permit | None:
        """Take a slot for one more request if this process holds one now, else return ``None``."""
        with self._cond, self._ready():
            return self._take(self._clock())

    @contextmanager
    def _ready(self) -> Iterator[None]:
        """Count the caller's request among those ready to send while it asks for a slot."""
        self._waiting += 1
        try:
            yield
        finally:
            self._waiting -= 1

    def _take(self, now: float) -> Permit | None:
        self._advance(now)
        if now < self._paused_until or len(self._own) >= self._cap():
            return None
        reused = bool(self._reusable)
        if reused:
            self._reusable.popleft()
            self._reused.append(now)
        elif (
            (self._adoptable > 0 and now <= self._adoptable_until)
            or self._alone()  # every slot of the account is ours: fewer than the cap are in use
            or self._probe_due(now)
        ):
            self._adoptable -= 1
            self._adopted.append(now)
            self._next_probe = now + _GRACE_SECONDS
        else:
            return None
        counted = len(self._own) - self._sent_by(now - self._window)
        held = _Held(now, now + self._window + _SEND_MARGIN_SECONDS)
        self._own.append(held)
        self._in_flight += 1
        return Permit(now, counted, reused, held, len(self._own) - 1)

    def release(
        self, permit: Permit, headers: Mapping[str, str] | None = None, *, counted: bool = True
    ) -> None:
        """The request of ``permit`` got its answer, or failed without one (``headers=None``).

        :param permit: what :meth:`acquire` returned for this request.
        :param headers: the answer's headers (case-insensitive mapping, as ``requests`` gives).
        :param counted: whether HubSpot counted the request (``False`` for a 429).
        """
        with self._cond:
            self._in_flight = max(self._in_flight - 1, 0)
            held = permit._held if permit._held is not None and permit._held.active else None
            if headers is not None:
                now = self._clock()
                elapsed = now - permit.sent_at
                self._round_trip += _ROUND_TRIP_SMOOTHING * (elapsed - self._round_trip)
                self._fastest = min(self._fastest, elapsed)
                if held is not None:  # a slow answer may have been slow on its way in: keep it longer
                    held.leaves += min(elapsed - self._fastest, _MAX_LATE_ARRIVAL_SECONDS)
                    held.answered = now
            if not counted:
                if held is not None:
                    self._take_out(held)
                sends = self._reused if permit.reused else self._adopted
                if permit.sent_at in sends:
                    sends.remove(permit.sent_at)
            if headers is not None:
                self._observe(permit, headers, counted)
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Hold every request of this process for ``seconds`` (after a 429)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._adoptable = 0

    def seconds_until_free(self) -> float:
        """Seconds until a slot is expected to free up (at least 0.5, at most one window)."""
        with self._cond:
            now = self._clock()
            self._advance(now)
            if self._reusable:
                return _MIN_PAUSE_SECONDS
            own = self._soonest_own_departure()
            candidates = [] if own is None else [own]
            if self._others:
                candidates.append(self._others[0] + _GRACE_SECONDS)
            soonest = min(candidates, default=now) - now
            return min(max(soonest, _MIN_PAUSE_SECONDS), self._window)

    def _observe(self, permit: Permit, headers: Mapping[str, str], counted: bool) -> None:
        maximum = _int_header(headers, MAX_HEADER)
        remaining = _int_header(headers, REMAINING_HEADER)
        interval_ms = _int_header(headers, INTERVAL_HEADER)
        if interval_ms:
            self._window = interval_ms / 1000.0
        if maximum:
            self._account_max = maximum
        now = self._clock()
        self._advance(now)
        if maximum is None or remaining is None:  # no rate-limit headers: on our own budget
            self._adoptable = self._cap() - self._holding()
            self._adoptable_until = math.inf
            return
        seen_at = permit.sent_at
        self._confirm_departures(seen_at, maximum - remaining - (1 if counted else 0), now)
        if seen_at < self._newest_view:
            return  # an older view of the account than one already used
        self._newest_view = seen_at
        used = maximum - remaining
        mine = permit.counted_before + (1 if counted else 0)
        # Ours that were sent a window ago may still be in it if they arrived late: when our slots
        # not yet given up account for everything, there is nobody else.
        could_be_ours = permit._held_before + (1 if counted else 0)
        others = max(used - mine, 0) if used > could_be_ours else 0
        # The model of the others runs on answer times: whatever the account counted had arrived by
        # the time its answer came back, which errs on the side of leaving them in the window longer.
        self._update_others(others, now)
        # Free: less the slots that just left the window or are about to (their owners' to reuse),
        # and as many as the others sent in the last round trip: they may be on their way now.
        settling = len(self._others_left) + sum(
            1 for leaves in self._others if leaves <= now + _GRACE_SECONDS
        )
        arriving = _count_after(self._others, now - self._round_trip + self._window)
        # Ours that had left the window at ``seen_at`` are ours to reuse, whether still held, held
        # for reuse, or reused since.
        ours = self._sent_by(seen_at - self._window)
        ours += len(self._reusable) + _count_after(self._reused, seen_at)
        free = remaining - settling - arriving - ours
        # Split what is free equally among the clients sending now (not by the slots they hold: one
        # that finished holds slots until they leave the window but adopts none), counting the
        # others as clients of our own concurrency.
        senders = math.ceil(arriving / self._concurrency)
        share = _ADOPT_FRACTION / (1 + senders) if others else 1.0
        adopt = self._round_by_chance(free * share)
        if free >= 1 and not senders:  # nobody else is sending: a last free slot is not split away
            adopt = max(adopt, 1)
        self._adoptable = adopt - _count_after(self._adopted, seen_at)
        # With others about, the view grows stale within a round trip.
        self._adoptable_until = now + self._round_trip if others else math.inf
        self._last_view_at = now
        self._last_remaining = remaining
        self._unclaimed = remaining - arriving
        self._departed_at = None

    def _confirm_departures(self, seen_at: float, in_window: int, now: float) -> None:
        """Reuse at once the slots of those of our requests that the account shows had left.

        The requests we had answers for before ``seen_at`` had arrived by then; the account held
        ``in_window`` requests at that moment, so at least as many of ours as are beyond that number
        had left the window (others' requests in it only make the count lower). Their slots are
        ours to reuse now rather than when our own reckoning lets them go.
        """
        if len(self._own) - self._in_flight <= in_window:
            return  # a quick way out: not even every answered one could be beyond the count
        answered = [held for held in self._own if held.answered < seen_at]
        for held in answered[: max(len(answered) - in_window, 0)]:
            self._give_back(held, left_at=now)

    def _update_others(self, others: int, now: float) -> None:
        """Make the model of the other clients' requests agree with what the account showed."""
        modelled = len(self._others)
        if others > modelled:  # they sent more, at the latest now: they leave one window later
            self._others.extend([now + self._window] * (others - modelled))
        for _ in range(modelled - others):  # theirs left earlier than modelled
            self._others.popleft()
            self._others_left.append(now)

    def _advance(self, now: float) -> None:
        """Move requests that left the window out of it; forget slots past their grace period."""
        horizon = now - self._window - _SEND_MARGIN_SECONDS
        for sends in (self._reused, self._adopted):
            while sends and sends[0] <= horizon:
                sends.popleft()
        if self._own and self._own[0].sent <= horizon:
            # Not only the oldest: a slower answer keeps its slot longer than later ones. (The list is
            # made before any is given back: giving back changes ``_own``.)
            for held in [held for held in self._oldest_own(horizon) if held.leaves <= now]:
                self._give_back(held, left_at=held.leaves)
        if self._reusable and (self._others or self._others_left) and min(self._reusable) <= now:
            # Alone, slots stay ours however long they wait for a free thread.
            self._reusable = deque(until for until in self._reusable if until > now)
        while self._others and self._others[0] <= now:
            left = self._others.popleft()
            self._others_left.append(left)
            if self._departed_at is None:
                self._departed_at = left
        if self._others_left:
            self._others_left = [left for left in self._others_left if left + _GRACE_SECONDS > now]

    def _take_out(self, held: _Held) -> None:
        """Take one of our requests out of the window (its permit then holds no slot)."""
        self._own.remove(held)
        held.active = False

    def _give_back(self, held: _Held, *, left_at: float) -> None:
        """One of our requests left the window at ``left_at``: its slot is ours to reuse for half
        the grace period others grant us (their clocks of our slot start when they notice it left,
        which is a little later or earlier than ours)."""
        self._take_out(held)
        self._reusable.append(left_at + _GRACE_SECONDS / 2)

    def _oldest_own(self, sent_by: float) -> Iterator[_Held]:
        """Our requests still held that were sent at ``sent_by`` or before (in the order sent; lazily,
        so ``_own`` must not change while they are read)."""
        return itertools.takewhile(lambda held: held.sent <= sent_by, self._own)

    def _soonest_own_departure(self) -> float | None:
        """When the first of our requests in the window leaves it: one of the oldest few, since
        none leaves later than the oldest one plus the most a slow answer adds."""
        if not self._own:
            return None
        return min(held.leaves for held in self._oldest_own(self._own[0].sent + _MAX_LATE_ARRIVAL_SECONDS))

    def _sent_by(self, moment: float) -> int:
        """How many of our requests still held were sent at ``moment`` or before (the oldest few)."""
        return sum(1 for _ in self._oldest_own(moment))

    def _alone(self) -> bool:
        """Whether no other client's request is in the window, as far as the answers tell (after at
        least one answer): also when theirs all left and they have not been seen sending again,
        which lets a process take over the slots of clients that finished (and, now and then, burst
        into a rollover just before the others reuse theirs)."""
        return self._newest_view > -math.inf and not self._others and not self._others_left

    def _holding(self) -> int:
        return len(self._own) + len(self._reusable)

    def _cap(self) -> int:
        if self._configured and self._account_max:
            return min(self._configured, self._account_max)
        return self.budget

    def _probe_due(self, now: float) -> bool:
        """Nothing in flight to tell us more, and a slot may have come free: go and look.

        Alone, the model is exact. Sharing, a slot may be free when another client's request left
        the window since our last look and its owner has not reused it within the grace period;
        or, unless the account was full at our last look, when the model expects one.
        """
        if self._in_flight or now < self._next_probe:
            return False
        expected_free = (self._account_max or self.budget) - self._holding()
        if not self._others and not self._others_left:  # (after an answer, :meth:`_alone` sends first)
            return expected_free >= 1
        if self._departed_at is not None and now >= self._departed_at + _GRACE_SECONDS:
            return True
        if self._last_remaining <= 0:  # full at our last look: wait for something to leave
            return now >= self._last_view_at + self._window
        if self._last_remaining < _PROBE_ROOM:
            # A few slots were free. If the others had just sent as many, they have taken them
            # within a grace period, unless they have finished: so a client that is finishing (fewer
            # requests ready than its concurrency) keeps looking, else the last one to finish would
            # wait a window for its own slots. Slots nobody claimed stay free until someone looks.
            # So many idle clients may look for them that each one looks once per grace period with
            # a chance of slots per client.
            if (
                self._unclaimed < 1
                and now > self._last_view_at + _GRACE_SECONDS
                and self._waiting >= self._concurrency
            ):
                return False
            self._next_probe = now + _GRACE_SECONDS
            clients = 1 + math.ceil(len(self._others) / max(self._holding(), 1))
            if self._random.random() >= self._last_remaining / clients:
                return False
        return expected_free - len(self._others) - len(self._others_left) >= 1

    def _round_by_chance(self, value: float) -> int:
        """``value`` (if positive) rounded down or up, up with a chance of its fraction: what each
        client adopts is then right on average, and a last free slot is not always left out."""
        value = max(value, 0.0)
        whole = math.floor(value)
        return whole + (self._random.random() < value - whole)

    def _wait_seconds(self, now: float) -> float:
        events = [self._paused_until, self._next_probe, self._last_view_at + self._window]
        if self._departed_at is not None:
            events.append(self._departed_at + _GRACE_SECONDS)
        own = self._soonest_own_departure()
        if own is not None:
            events.append(own)
        if self._others_left:
            events.append(min(self._others_left) + _GRACE_SECONDS)
        if self._others:
            events.append(self._others[0] + _GRACE_SECONDS)
        upcoming = [event - now for event in events if event > now]
        return min([*upcoming, _MAX_WAIT_SECONDS]) + 0.001


def _count_after(times: deque[float], moment: float) -> int:
    """How many of ``times`` (ascending) are later than ``moment``."""
    count = 0
    for value in reversed(times):
        if value <= moment:
            break
        count += 1
    return count


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
