"""The client-side rate limiter, driven by a fake clock and hand-made rate-limit headers."""

from __future__ import annotations

import pytest

from airflow_provider_hubtix.ratelimit import Permit, RateLimiter


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(maximum: int, remaining: int) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }


def load_dice(limiter: RateLimiter, roll: float) -> None:
    """Make every random roll of ``limiter`` come out as ``roll`` (until loaded again)."""
    limiter._random.random = lambda: roll  # type: ignore[method-assign]


def have_ready(limiter: RateLimiter, count: int) -> None:
    """Give ``limiter`` ``count`` requests ready to send beside the one asking, as if as many threads
    were waiting in ``acquire()``."""
    limiter._waiting = count


def answered_first(
    remaining: int, *, after: float = 0.0, roll: float | None = None
) -> tuple[FakeClock, RateLimiter, Permit]:
    """A new limiter whose first request (which goes alone) got its answer ``after`` seconds later,
    showing ``remaining`` of 100 slots free (with its dice loaded to ``roll`` from the start)."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    if roll is not None:
        load_dice(limiter, roll)
    (first,) = take_all(limiter)
    clock.now += after
    limiter.release(first, headers(100, remaining))
    return clock, limiter, first


def take_all(limiter: RateLimiter) -> list[Permit]:
    """Every request the limiter lets go right now."""
    permits = []
    while (permit := limiter.try_acquire()) is not None:
        permits.append(permit)
    return permits


def test_alone_the_first_request_goes_alone_then_the_whole_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    (first,) = take_all(limiter)  # nothing known about the account yet
    clock.now += 0.2
    limiter.release(first, headers(100, 99))
    assert len(take_all(limiter)) == 99
    assert limiter.held == 100


def test_own_slots_are_reused_once_they_leave_the_window() -> None:
    clock, limiter, _ = answered_first(99)
    permits = take_all(limiter)
    for permit in permits:
        limiter.release(permit, headers(100, 0))
    assert take_all(limiter) == []
    clock.now += 9.9
    assert take_all(limiter) == []  # still in the window
    clock.now += 0.3
    reused = take_all(limiter)
    assert len(reused) == 100 and all(permit.reused for permit in reused)


def test_a_slot_leaves_the_window_in_its_own_time_not_after_an_older_slower_one() -> None:
    clock, limiter, _ = answered_first(99)  # answered at once: the fastest answer
    slow, *quick = take_all(limiter)
    for permit in quick:
        limiter.release(permit, headers(100, 100 - permit.counted_before - 1))
    clock.now += 0.3  # this answer took longer: it may have arrived later, its slot stays longer
    limiter.release(slow, headers(100, 100 - slow.counted_before - 1))
    clock.now = 1010.2  # past a window and the margin for the quick ones, not for the slow one
    assert len(take_all(limiter)) == 99


def test_budget_is_learned_from_headers_unless_configured_and_never_above_the_account() -> None:
    learned = RateLimiter()
    learned.release(learned.acquire(), headers(190, 189))
    assert learned.budget == 190
    configured = RateLimiter(50)
    configured.release(configured.acquire(), headers(190, 189))
    assert configured.budget == 50
    assert len(take_all(configured)) == 49
    too_high = RateLimiter(500)
    too_high.release(too_high.acquire(), headers(100, 99))
    assert len(take_all(too_high)) == 99


def test_without_rate_limit_headers_the_process_uses_its_own_budget() -> None:
    limiter = RateLimiter(10)
    limiter.release(limiter.acquire(), {})
    assert len(take_all(limiter)) == 9


def shared_account(limiter: RateLimiter, clock: FakeClock, others: int, remaining: int) -> int:
    """Ten of our requests, 0.1 s apart, the first one arriving beside ``others`` other requests;
    when the last one's answer comes, the account has ``remaining`` free. Returns what we may adopt."""
    (first,) = take_all(limiter)
    limiter.release(first, headers(100, 99))
    permits = []
    for _ in range(9):
        clock.now += 0.1
        permits.append(limiter.acquire())
    clock.now += 0.1
    limiter.release(permits[0], headers(100, 100 - others - 2))
    clock.now += 0.7
    limiter.release(permits[-1], headers(100, remaining))
    return len(take_all(limiter))


def test_sharing_an_account_with_idle_clients_adopts_half_of_what_is_free_per_answer() -> None:
    # The other clients' 50 requests were there already: nobody else is adopting. Of the 40 free,
    # we take half now.
    clock = FakeClock()
    assert shared_account(RateLimiter(clock=clock), clock, others=50, remaining=40) == 20


def test_sharing_an_account_with_busy_clients_splits_what_is_free_between_the_senders() -> None:
    # The others sent 16 more within the last round trip: one client like us, still sending, and as
    # many may be on their way. Of the other 24 free, half of our half is ours.
    clock = FakeClock()
    limiter = RateLimiter(concurrency=16, clock=clock)
    assert shared_account(limiter, clock, others=34, remaining=40) == 6


def test_slots_that_others_just_freed_are_theirs_to_reuse_first() -> None:
    clock, limiter, _ = answered_first(9, after=0.1)  # others hold 90 slots, we hold 1: our share is none
    assert take_all(limiter) == []
    clock.now += 10.1  # their requests leave the window: the owners may reuse them for a while
    probe = limiter.try_acquire()
    assert probe is not None and probe.reused  # our own slot came back
    limiter.release(probe, headers(100, 99))  # nobody reused theirs yet
    adopted = take_all(limiter)
    assert len(adopted) == 9  # the slots that were free before; the 90 others' are still settling
    clock.now += 0.6  # past the grace period: nobody reused them, the account is ours
    for permit in adopted:
        limiter.release(permit, headers(100, 100 - permit.counted_before - 1))
    assert len(take_all(limiter)) == 90


def test_a_rate_limited_request_does_not_count_and_pauses_everyone() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    (first,) = take_all(limiter)
    limiter.release(first, headers(100, 0), counted=False)  # others fill the window
    assert limiter.held == 0
    limiter.pause(5.0)
    clock.now += 5.1
    assert limiter.try_acquire() is None  # the others' requests are still in the window
    clock.now += 5.0 + 0.5
    assert limiter.try_acquire() is not None  # they left and nobody reused them: one goes to look


def test_a_request_that_got_no_answer_still_counts() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.release(limiter.acquire())
    assert limiter.held == 1


def test_pause_holds_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.pause(5.0)
    waits: list[float | None] = []

    def fake_wait(timeout: float | None = None) -> bool:
        waits.append(timeout)
        clock.now += timeout or 0.0
        return True

    monkeypatch.setattr(limiter._cond, "wait", fake_wait)
    limiter.acquire()
    assert clock.now >= 1005.0
    assert all(wait is not None and wait <= 0.26 for wait in waits)  # waiting threads look again often


def test_slots_the_account_shows_as_left_are_reused_before_our_own_reckoning() -> None:
    clock, limiter, first = answered_first(99, after=0.2)
    permits = take_all(limiter)
    for used, permit in enumerate(permits, start=2):  # slow answers: kept a while past the window
        clock.now += 0.01
        limiter.release(permit, headers(100, 100 - used))
    clock.now = first.sent_at + 10.2
    (again,) = take_all(limiter)  # only the first slot has left by our own reckoning
    clock.now += 0.05
    limiter.release(again, headers(100, 99))  # the account shows it alone in the window
    reused = take_all(limiter)
    assert len(reused) == 99 and all(permit.reused for permit in reused)


def test_alone_own_slots_wait_for_a_free_thread_as_long_as_it_takes() -> None:
    clock, limiter, _ = answered_first(99)
    for permit in take_all(limiter):
        limiter.release(permit, headers(100, 100 - permit.counted_before - 1))
    clock.now += 12.0  # every thread was busy elsewhere for well over the grace period
    reused = take_all(limiter)
    assert len(reused) == 100 and all(permit.reused for permit in reused)


def test_idle_clients_look_for_a_few_free_slots_by_chance_and_only_while_the_senders_may_not_have() -> None:
    # The others' 97 requests had just arrived, two slots were free: sending as they are, the others
    # take them within a grace period. Until then each idle client looks with a chance of 2 in 98.
    clock, limiter, _ = answered_first(2, after=0.2)
    have_ready(limiter, 15)  # as many as its concurrency: not finishing
    load_dice(limiter, 0.5)
    clock.now += 0.2
    assert limiter.try_acquire() is None  # the dice said no
    clock.now += 0.4
    load_dice(limiter, 0.0)
    assert limiter.try_acquire() is None  # the dice would say yes, but the view is too old
    clock, limiter, _ = answered_first(2, after=0.2)
    have_ready(limiter, 15)
    load_dice(limiter, 0.0)
    clock.now += 0.2
    assert limiter.try_acquire() is not None


def test_a_finishing_client_keeps_looking_for_a_few_free_slots_after_the_grace_period() -> None:
    # As above, but with one request ready where 16 could be: this client is finishing, and the
    # others may have finished too. Nobody else would take the two slots; it keeps looking by chance.
    clock, limiter, _ = answered_first(2, after=0.2)
    load_dice(limiter, 0.0)
    clock.now += 2.0
    probe = limiter.try_acquire()
    assert probe is not None and not probe.reused


def test_idle_clients_keep_looking_for_the_last_free_slots_once_the_others_stopped_sending() -> None:
    clock, limiter, _ = answered_first(60, after=0.2, roll=0.99)  # 39 others'; dice: down, no
    have_ready(limiter, 15)  # not finishing: it looks on because the others stopped
    a, b = take_all(limiter)  # 2.6 of the 21 free, rounded down
    clock.now += 0.2
    limiter.release(a, headers(100, 3))  # 56 more of theirs, just sent
    clock.now += 1.0
    limiter.release(b, headers(100, 3))  # a round trip later, no more: they stopped sending
    clock.now += 2.0  # what this view let us adopt lapsed unused
    assert limiter.try_acquire() is None  # a chance of 3 in 33 and the dice said no
    clock.now += 0.4
    load_dice(limiter, 0.0)
    probe = limiter.try_acquire()
    assert probe is not None and not probe.reused


def test_what_is_adopted_is_rounded_up_or_down_by_chance() -> None:
    # As in the busy-clients case, with one request of theirs fewer and one slot more free: 26 free
    # but for theirs on the way, a quarter of it is 6.5, so 7 with a chance of one half.
    for roll, adopted in ((0.4, 7), (0.6, 6)):
        clock = FakeClock()
        limiter = RateLimiter(concurrency=16, clock=clock)
        load_dice(limiter, roll)
        assert shared_account(limiter, clock, others=34, remaining=41) == adopted
