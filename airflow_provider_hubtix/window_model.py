"""What one process knows of HubSpot's rolling request window, and whether a request may go now.

Pure: answers and headers in, decisions out; no threads and no clock of its own (every method takes
``now``), so it is tested without either. :class:`~airflow_provider_hubtix.ratelimit.RateLimiter`
wraps it for threads.

The model reasons only from what is certain, whatever order answers come back in and however long
each takes:

* **Our own requests** (the ledger). A request is in the account's window for one window from the
  moment HubSpot counted it, and it was counted at the latest when its answer came back. So each of
  ours has a time by which it has surely left (``leaves``): unknown while it is in flight, one window
  after its answer once answered. That bound is tightened by the answers' ``Remaining``: HubSpot
  counted ``Max - Remaining`` requests in the window at some moment between the answered request's
  send and its answer. Of our requests that may have been in the window then, all but that many were
  not in it: they had left it, or had not arrived yet. Alone, only those can still be on their way,
  so all but as many of ours as would leave last had arrived by the answer and leave one window
  after it at the latest. That holds count for count (which is all the decision needs), in any order
  of answers, and whether ``Remaining`` is computed when a request is counted or when it is
  answered. Ours that left are kept while an answer may still describe a moment they were in.
* **Other clients** sharing the account. Whatever the window held beyond all of ours that may have
  been in it is somebody else's: their requests leave one window after the answer that showed them at
  the latest. Reordered or slow answers of ours are never taken for another client, since every
  request of ours that may have been in the window is counted as ours first. A 429 also shows that
  the account is fuller than we know.
* **Sharing.** While others are about, a slot of ours that leaves the window stays ours to reuse
  for a grace period. Slots free beyond ours are taken only once every view of a grace period
  showed them free (the owner's grace, and bursts on their way), then split with the others: each
  takes part of its share once per round trip. With nothing in flight, a process looks again (one
  request) a grace period after a view showed free slots, with the chance of those slots per
  client, else once something it knows of has surely left the window, and twice as late after each
  look that found the account full. (Processes on one machine share one model instead, see
  ``shared_window``: to it they are one client, "ours".)
"""

from __future__ import annotations

import bisect
import math
import os
import random
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hubtix.limits import SMALLEST_RATE_TIER, WINDOW_SECONDS

__all__ = ["LimiterSettings", "Sent", "View", "WindowModel"]

INF = math.inf
_PROCESS_RANDOM = random.Random()
"""The randomness of models read from a shared picture (see ``__setstate__``); reseeded in a forked
child, so that siblings do not draw alike."""
os.register_at_fork(after_in_child=_PROCESS_RANDOM.seed)


@dataclass(frozen=True)
class LimiterSettings:
    """The few numbers the limiter does not learn.

    :param default_budget: requests per window until HubSpot's headers tell (the smallest tier).
    :param grace_seconds: while sharing an account, how long a slot that left the window stays its
        owner's to reuse before others may take it.
    :param adopt_share: while sharing, the part of its share of the free slots a process takes per
        view of the account (the others act on views as old as ours).
    :param others_memory_windows: how many windows after the last sign of other clients a process
        still shares the account (they may be idle between bursts).
    :param min_pause_seconds: the shortest pause after a 429.
    :param recheck_seconds: waiting callers look again at least this often.
    """

    default_budget: int = SMALLEST_RATE_TIER
    grace_seconds: float = 0.4
    adopt_share: float = 0.25
    others_memory_windows: float = 2.0
    min_pause_seconds: float = 0.5
    recheck_seconds: float = 0.25


@dataclass(frozen=True)
class View:
    """What one answer's ``X-HubSpot-RateLimit-*`` headers said.

    :param maximum: ``Max``: the account's requests per window.
    :param remaining: ``Remaining``: room left in the window at some moment of the request's life.
    :param window_seconds: ``Interval-Milliseconds`` in seconds, if sent.
    """

    maximum: int
    remaining: int
    window_seconds: float | None = None


@dataclass(eq=False, slots=True)
class Sent:
    """One of our requests: when it went, when its answer came, by when it surely left the window
    (``inf``: not known yet); which process sent it, and its number there (see ``shared_window``)."""

    sent: float
    answered: float = INF
    leaves: float = INF
    probe: bool = field(default=False, repr=False)
    pid: int = field(default=0, repr=False)
    number: int = field(default=0, repr=False)

    def fields(self) -> tuple[float, float, float, bool, int, int]:
        """Its fields in order: ``Sent(*sent.fields())`` is a copy."""
        return self.sent, self.answered, self.leaves, self.probe, self.pid, self.number


class WindowModel:
    """This process's picture of the account's window (not thread-safe: the caller locks).

    :param configured: the budget the user set (``None``: learn it from ``Max``).
    :param window_seconds: the window's length until ``Interval-Milliseconds`` tells.
    :param settings: see :class:`LimiterSettings`.
    :param rng: randomness for rounding shares and spacing probes (seedable in tests).
    """

    def __init__(
        self,
        configured: int | None = None,
        *,
        window_seconds: float = WINDOW_SECONDS,
        settings: LimiterSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if configured is not None and configured < 1:
            raise ValueError(f"requests_per_window must be at least 1, got {configured}")
        self.configured = configured
        self.window = window_seconds
        self.settings = settings or LimiterSettings()
        self.account_max: int | None = None
        self.own: list[Sent] = []
        """Our requests that may be in the window, in the order sent."""
        self.left: list[Sent] = []
        """Ours that surely left, kept while an answer may still describe a moment they were in."""
        self.others: list[float] = []
        """When the other clients' requests we know of surely leave the window, ascending."""
        self.reusable: list[float] = []
        """Sharing: until when each of our slots that left the window stays ours to reuse, ascending."""
        self.others_left: list[float] = []
        """When others' requests left the window, for a grace period (theirs to reuse meanwhile)."""
        self.others_until = -INF
        self.paused_until = -INF
        self.viewed = False
        self.newest_view = -INF
        self.allowance = 0
        self.allowance_until = -INF
        self.allowance_from = -INF
        self.free_views: list[tuple[float, int]] = []
        """Sharing: (when, how many free) of the views of the last grace period and the one before."""
        self.next_probe = -INF
        self.round_trip = 0.0
        self.missed_probes = 0
        self.rng = rng or random.Random()

    def __getstate__(self) -> dict[str, object]:
        """Pickled with our requests as plain tuples (the shared picture is written at every
        request) and without its randomness (each process sharing the picture uses its own)."""
        state = {name: value for name, value in self.__dict__.items() if name != "rng"}
        state["own"] = [sent.fields() for sent in self.own]
        state["left"] = [sent.fields() for sent in self.left]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.own = [Sent(*fields) for fields in state["own"]]
        self.left = [Sent(*fields) for fields in state["left"]]
        self.rng = _PROCESS_RANDOM

    # -- what the model says ---------------------------------------------------------------------
    @property
    def budget(self) -> int:
        """Requests per window this process may have at most: as configured, but never above ``Max``."""
        limit = self.configured or self.account_max or self.settings.default_budget
        return min(limit, self.account_max) if self.account_max else limit

    def sharing(self, now: float) -> bool:
        """Whether other clients may have requests in the window."""
        return bool(self.others or self.others_left) or now < self.others_until

    def in_flight(self) -> int:
        """Our requests without an answer yet."""
        return sum(1 for sent in self.own if sent.answered == INF)

    def may_send(self, now: float) -> bool:
        """Whether one more request may go now (nothing is changed but the passing of time)."""
        return self._reason(now) is not None

    def take(self, now: float) -> Sent | None:
        """Let one request go now if it may: record it and return it, else return ``None``."""
        reason = self._reason(now)
        if reason is None:
            return None
        if reason == "reuse":
            self.reusable.pop(0)
        elif reason == "adopt":
            self.allowance -= 1
        elif reason == "probe":
            self.next_probe = now + self.settings.grace_seconds
        sent = Sent(now, probe=reason == "probe")
        self.own.append(sent)
        return sent

    def next_check(self, now: float) -> float:
        """Seconds until the decision may change without an answer coming back."""
        events = [self.paused_until, self.next_probe, *self.reusable[:1], *self.others[:1]]
        events.append(min((sent.leaves for sent in self.own), default=INF))
        upcoming = [event - now for event in events if now < event < INF]
        return min([*upcoming, self.settings.recheck_seconds]) + 0.001

    def seconds_until_free(self, now: float) -> float:
        """Seconds until a slot surely frees up (at least the minimum pause, at most a window)."""
        self._advance(now)
        soonest = min([sent.leaves for sent in self.own] + self.others[:1], default=now)
        if self.sharing(now):
            soonest += self.settings.grace_seconds
        return min(max(soonest - now, self.settings.min_pause_seconds), self.window)

    # -- what happened ---------------------------------------------------------------------------
    def answered(self, sent: Sent, now: float, view: View | None, *, counted: bool = True) -> None:
        """``sent`` got its answer at ``now`` (``view``: its rate-limit headers, if any).

        :param counted: ``False`` for a 429, which HubSpot did not count.
        """
        elapsed = now - sent.sent
        self.round_trip = elapsed if not self.round_trip else (self.round_trip * 4 + elapsed) / 5
        self.viewed = True  # without headers, the process is on its own budget
        sent.answered = now
        if sent.probe:  # a look that found the account full: look less often until one finds room
            self.missed_probes = 0 if counted else self.missed_probes + 1
        if counted:
            sent.leaves = min(sent.leaves, now + self.window)
        else:
            self._forget(sent)
            self._saw_others(now)
            self.allowance = 0
        if view is not None:
            self._observe(sent, now, view)
        self._forget_left(now)

    def unanswered(self, sent: Sent, now: float) -> None:
        """``sent`` failed without an answer: it may have been counted at any moment until now. (No
        answer shows nothing of the account: until one does, requests still go one at a time.)"""
        sent.answered = now
        sent.leaves = min(sent.leaves, now + self.window)
        self._forget_left(now)

    def pause(self, now: float, seconds: float) -> None:
        """Send nothing for ``seconds`` (after a 429) and give up what was adopted."""
        self.paused_until = max(self.paused_until, now + seconds)
        self.allowance = 0

    # -- inside ----------------------------------------------------------------------------------
    def _reason(self, now: float) -> str | None:
        """Why one more request may go now (``None``: it may not)."""
        self._advance(now)
        if now < self.paused_until or len(self.own) + len(self.others) >= self.budget:
            return None
        if not self.viewed:  # the first request goes alone, to look; again if it got no answer
            return "first" if not self.in_flight() else None
        if not self.sharing(now):
            return "alone"
        if self.reusable:
            return "reuse"
        if self.allowance > 0 and now <= self.allowance_until:
            return "adopt"
        return "probe" if self._probe_due(now) else None

    def _advance(self, now: float) -> None:
        """Let the requests that surely left the window go; forget claims past their time."""
        if self.own and min(sent.leaves for sent in self.own) <= now:
            sharing = self.sharing(now)
            for sent in [sent for sent in self.own if sent.leaves <= now]:
                self._forget(sent)
                self.left.append(sent)
                if sharing:
                    bisect.insort(self.reusable, sent.leaves + self.settings.grace_seconds)
        while self.others and self.others[0] <= now:
            self.others_left.append(self.others.pop(0))
        if self.others_left and self.others_left[0] + self.settings.grace_seconds <= now:
            self.others_left = [left for left in self.others_left if left + self.settings.grace_seconds > now]
        if self.reusable and self.reusable[0] <= now:
            self.reusable = [until for until in self.reusable if until > now]

    def _saw_others(self, now: float) -> None:
        """Others are about: share the account until they have not been seen for a while. Newly
        met, adopt only from views taken after they were seen (they may be bursting now)."""
        if not self.sharing(now):
            self.allowance, self.allowance_from = 0, now
        self.others_until = max(self.others_until, now + self.settings.others_memory_windows * self.window)

    def _forget_left(self, now: float) -> None:
        """Ours that left stop mattering once no answer to come can describe a moment they were in
        the window (an answer describes a moment after its own request was sent)."""
        if self.left:
            oldest = min((sent.sent for sent in self.own if sent.answered == INF), default=now)
            self.left = [sent for sent in self.left if sent.leaves > oldest]

    def _forget(self, sent: Sent) -> None:
        if sent in self.own:
            self.own.remove(sent)

    def _observe(self, answered: Sent, now: float, view: View) -> None:
        self.account_max = view.maximum
        if view.window_seconds:
            self.window = view.window_seconds
        self._advance(now)
        # Ours that may have been in the window at the moment the headers describe (the answered
        # one included when it counted), and those that surely were.
        maybe = [sent for sent in (*self.left, *self.own) if sent.leaves > answered.sent]
        surely = sum(1 for sent in maybe if sent.answered <= answered.sent and sent.sent + self.window > now)
        used = view.maximum - view.remaining
        others_at_least = max(used - len(maybe), 0)
        others_at_most = max(used - surely, 0)
        if others_at_least:
            self._saw_others(now)
        # Of ``maybe``, at most this many had not arrived yet; the others leave a window after now.
        not_arrived = len(maybe) - used + (others_at_most if self.sharing(now) else 0)
        self._tighten(maybe, not_arrived, now + self.window)
        if answered.sent < self.newest_view:
            return  # an older picture of the account than one already used
        self.newest_view = answered.sent
        self._update_others(others_at_least, others_at_most, now)
        self._update_allowance(answered, now, view)

    @staticmethod
    def _tighten(maybe: list[Sent], not_arrived: int, leaves_by: float) -> None:
        """All of ``maybe`` but the ``not_arrived`` that would leave last leave by ``leaves_by``."""
        if not_arrived >= len(maybe):
            return
        latest_first = sorted(maybe, key=lambda sent: sent.leaves, reverse=True)
        for sent in latest_first[max(not_arrived, 0) :]:
            sent.leaves = min(sent.leaves, leaves_by)

    def _update_others(self, at_least: int, at_most: int, now: float) -> None:
        """Keep the count of others' requests in the window within what this view allows."""
        known = len(self.others)
        if at_least > known:  # they sent more: counted by now at the latest
            self.others.extend([now + self.window] * (at_least - known))
        elif at_most < known:  # theirs left earlier than known: the soonest to leave did
            del self.others[: known - at_most]

    def _update_allowance(self, answered: Sent, now: float, view: View) -> None:
        """While sharing: how many free slots beyond our own to take, once per round trip (from a
        view that already shows what we took last time), and until when."""
        # Ours that this view may not show yet: all but those answered before the viewed one went.
        unseen = sum(1 for sent in self.own if sent.answered > answered.sent and sent is not answered)
        # Slots that others' requests just left, or are about to, are theirs to reuse first.
        settling = len(self.others_left) + sum(
            1 for leaves in self.others if leaves <= now + self.settings.grace_seconds
        )
        free = view.remaining - unseen - len(self.reusable) - settling
        lasting = self._free_throughout_grace(now, free)
        if not self.sharing(now) or answered.sent < self.allowance_from:
            return
        # Others that showed up within the last round trip are sending now: split with them.
        sending = bool(self.others) and self.others[-1] > now + self.window - 2 * self.round_trip
        share = self.settings.adopt_share / (2 if sending else 1)
        self.allowance = self._round_by_chance(max(lasting, 0) * share)
        self.allowance_from = now
        self.allowance_until = now + max(self.round_trip, self.settings.recheck_seconds)
        if self.allowance < 1:
            self._schedule_probe(now, free)

    def _free_throughout_grace(self, now: float, free: int) -> int:
        """How many slots every view of the last grace period showed free. A slot that left the
        window is its owner's to reuse for that long, and another client's burst may be on its way:
        only slots free throughout are nobody's (none until the views span a grace period)."""
        self.free_views.append((now, free))
        since = now - self.settings.grace_seconds
        older = [index for index, (at, _) in enumerate(self.free_views) if at <= since]
        if not older:
            return 0
        del self.free_views[: older[-1]]
        return min(seen for _, seen in self.free_views)

    def _schedule_probe(self, now: float, free: int) -> None:
        """Look again (one request) when a slot may be free for us: a grace period from now when
        some are free but not known to be nobody's yet; else once a request we know of has surely
        left and its owner's grace has passed, later after each look that found the account full."""
        grace = self.settings.grace_seconds
        if free > 0:
            self.missed_probes = 0
            # Every idle client may go for the same few slots: each goes with the chance of the
            # slots per client (clients counted as holding about as many slots as this one).
            clients = 1 + math.ceil(len(self.others) / max(len(self.own), 1))
            if self.rng.random() < free / clients:
                self.next_probe = now + grace * self.rng.uniform(1.0, 1.5)
                return
        soonest = min([*self.others_left[:1], *self.others[:1], now + self.window])
        backoff = min(grace * 2**self.missed_probes, self.window)
        self.next_probe = max(self.next_probe, soonest + backoff * self.rng.uniform(1.0, 2.0))

    def _probe_due(self, now: float) -> bool:
        """Nothing of ours in flight to tell us more, and something may be free: look."""
        return not self.in_flight() and now >= self.next_probe

    def _round_by_chance(self, value: float) -> int:
        """``value`` rounded down or up, up with the chance of its fraction (right on average)."""
        whole = math.floor(value)
        return whole + (self.rng.random() < value - whole)
