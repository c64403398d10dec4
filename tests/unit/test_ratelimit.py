"""The window model (pure: answers in, decisions out) and the thread-safe limiter around it."""

from __future__ import annotations

import random
import threading
import time

from airflow_provider_hubtix.ratelimit import RateLimiter, read_view
from airflow_provider_hubtix.window_model import Sent, View, WindowModel

WINDOW = 10.0


def take_all(model: WindowModel, now: float) -> list[Sent]:
    """Every request the model lets go at ``now``."""
    sent = []
    while (one := model.take(now)) is not None:
        sent.append(one)
    return sent


# -- what each answer proves ----------------------------------------------------------------------
def test_the_first_request_goes_alone_then_the_whole_budget() -> None:
    model = WindowModel()
    (first,) = take_all(model, 0.0)
    model.answered(first, 0.2, View(100, 99, WINDOW))
    assert len(take_all(model, 0.2)) == 99
    assert not model.sharing(0.2)


def test_reordered_answers_are_never_taken_for_another_client() -> None:
    model = WindowModel()
    (first,) = take_all(model, 0.0)
    model.answered(first, 0.2, View(100, 99, WINDOW))
    burst = take_all(model, 0.2)
    # The account counted them in another order than they were sent, and answers in a third.
    counted_as = list(range(len(burst)))
    random.Random(1).shuffle(counted_as)
    for rank, sent in sorted(zip(counted_as, burst, strict=True), key=lambda pair: -pair[0]):
        model.answered(sent, 0.5, View(100, 98 - rank, WINDOW))
    assert not model.sharing(0.5)
    assert model.others == []


def test_a_slow_answer_does_not_hold_its_slot_once_a_later_count_shows_it_had_arrived() -> None:
    model = WindowModel()
    (first,) = take_all(model, 0.0)
    model.answered(first, 0.2, View(100, 99, WINDOW))
    burst = take_all(model, 0.2)
    slow, *others = burst
    for rank, sent in enumerate(others):
        model.answered(sent, 0.45, View(100, 98 - rank - 1, WINDOW))
    # The last of them was counted when all 100 were in: the slow one had arrived by 0.45.
    assert model.may_send(0.45 + WINDOW + 0.01) is True
    assert len(take_all(model, 10.46)) == 100
    model.answered(slow, 2.0, View(100, 0, WINDOW))  # its answer, late, changes nothing


def test_usage_beyond_all_of_ours_is_another_client() -> None:
    model = WindowModel()
    (first,) = take_all(model, 0.0)
    model.answered(first, 0.2, View(100, 40, WINDOW))  # 60 in the window, one of them ours
    assert model.sharing(0.2)
    assert len(model.others) == 59
    assert len(take_all(model, 0.2)) < 40  # part of what is free, not all of it


def test_a_429_does_not_count_pauses_and_shows_others() -> None:
    model = WindowModel()
    (first,) = take_all(model, 0.0)
    model.answered(first, 0.2, View(100, 0, WINDOW), counted=False)
    model.pause(0.2, model.seconds_until_free(0.2))
    assert model.own == []
    assert model.sharing(0.2)
    assert not model.may_send(0.3)


def test_a_request_without_an_answer_still_holds_a_slot_for_a_window() -> None:
    model = WindowModel(5)
    (first,) = take_all(model, 0.0)
    model.answered(first, 0.1, View(100, 99, WINDOW))
    sent = take_all(model, 0.1)
    for one in sent:
        model.unanswered(one, 0.5)
    assert len(sent) == 4
    assert len(take_all(model, 10.4)) == 1  # the answered one's slot, a window after its answer
    assert len(take_all(model, 10.6)) == 4


def test_until_an_answer_shows_the_account_requests_go_one_at_a_time() -> None:
    """A lost first answer (or an edge's 5xx without headers) shows nothing: no blind burst."""
    model = WindowModel()
    (first,) = take_all(model, 0.0)
    model.unanswered(first, 0.5)
    (second,) = take_all(model, 0.5)  # another look, alone
    model.answered(second, 0.7, View(100, 98, WINDOW))
    assert len(take_all(model, 0.7)) == 98  # the budget, less the two looks


def test_budget_is_learned_unless_configured_and_never_above_the_account() -> None:
    learned = WindowModel()
    (first,) = take_all(learned, 0.0)
    learned.answered(first, 0.1, View(190, 189, WINDOW))
    assert learned.budget == 190
    configured = WindowModel(50)
    (first,) = take_all(configured, 0.0)
    configured.answered(first, 0.1, View(190, 189, WINDOW))
    assert configured.budget == 50
    too_high = WindowModel(500)
    (first,) = take_all(too_high, 0.0)
    too_high.answered(first, 0.1, View(100, 99, WINDOW))
    assert too_high.budget == 100


def test_without_rate_limit_headers_the_process_runs_on_its_own_budget() -> None:
    model = WindowModel(10)
    (first,) = take_all(model, 0.0)
    model.answered(first, 0.1, None)
    assert len(take_all(model, 0.1)) == 9
    assert read_view({"X-HubSpot-RateLimit-Max": "garbled"}) is None


# -- the thread-safe wrapper ----------------------------------------------------------------------
def test_threads_block_until_a_slot_frees_and_every_permit_is_given_back() -> None:
    limiter = RateLimiter(3, window_seconds=0.3)
    permits = []
    lock = threading.Lock()

    def work() -> None:
        permit = limiter.acquire()
        with lock:
            permits.append(permit)
        limiter.release(permit, {"X-HubSpot-RateLimit-Max": "3", "X-HubSpot-RateLimit-Remaining": "2"})

    threads = [threading.Thread(target=work) for _ in range(9)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(permits) == 9
    times = sorted(permit.sent_at for permit in permits)
    # never more than 3 within any 0.3 s: the 4th goes a window after the 1st at the earliest
    assert all(later - earlier >= 0.3 for earlier, later in zip(times, times[3:], strict=False))
    assert time.monotonic() - started < 5


def test_pause_holds_every_thread() -> None:
    clock = [0.0]
    limiter = RateLimiter(clock=lambda: clock[0])
    first = limiter.try_acquire()
    assert first is not None
    limiter.release(first, {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "99"})
    limiter.pause(2.0)
    assert limiter.try_acquire() is None
    clock[0] = 2.5
    assert limiter.try_acquire() is not None
