"""The daily reserve: parsing it, and the gate that keeps it from the daily headers of every answer."""

from __future__ import annotations

import threading
from fractions import Fraction
from typing import Any

import pytest

from airflow_provider_hubtix.daily_budget import DailyBudget, DailyReserve, DailyReserveReached


def daily(limit: int, remaining: int) -> dict[str, str]:
    return {"X-HubSpot-RateLimit-Daily": str(limit), "X-HubSpot-RateLimit-Daily-Remaining": str(remaining)}


def admit_all(budget: DailyBudget) -> list[int]:
    """Admit requests until the gate says wait; return their tickets."""
    tickets = []
    while (ticket := budget.try_admit()) is not None:
        tickets.append(ticket)
        assert len(tickets) < 1000, "the gate never closed"
    return tickets


class ListLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str, /, *args: Any) -> None:
        self.lines.append(("info", msg % args))

    def warning(self, msg: str, /, *args: Any) -> None:
        self.lines.append(("warning", msg % args))


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "limit", "requests"),
    [
        ("5%", 40, 2),
        ("5%", 3, 1),  # a share is rounded up
        ("10%", 250_000, 25_000),
        (" 2.5 % ", 1000, 25),
        ("100%", 40, 40),
        (1000, 40, 1000),
        ("1000", 40, 1000),
        (0, 40, 0),
        ("0%", 40, 0),
    ],
)
def test_reserve_in_requests(value: Any, limit: int, requests: int) -> None:
    assert DailyReserve.parse(value).requests(limit) == requests


def test_share_is_kept_exactly() -> None:
    assert DailyReserve.parse("5%").share == Fraction(1, 20)
    assert DailyReserve.parse("5%").describe(40) == "'5%' (2 requests)"
    assert DailyReserve.parse(1500).describe(40) == "1,500 requests"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "is negative"),
        ("-20", "is negative"),
        ("lots", "is not a number"),
        ("%", "is not a number"),
        ("nan%", "is not a number"),
        (None, "is not a number"),
        (True, "is not a number"),
        (2.5, "is not a number"),
        ("2.5", "not a whole number"),
        ("101%", "outside 0% to 100%"),
        ("-1%", "outside 0% to 100%"),
    ],
)
def test_bad_reserve_is_named(value: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        DailyReserve.parse(value)
    assert f"daily_reserve={value!r}" in str(info.value)


# -- the gate -----------------------------------------------------------------------------------


def test_first_request_goes_alone_until_an_answer_tells() -> None:
    budget = DailyBudget(DailyReserve.parse("5%"))
    first = budget.try_admit()
    assert first is not None
    assert budget.try_admit() is None
    budget.settle(first, daily(40, 39))
    assert len(admit_all(budget)) == 37  # 39 left, 2 kept


def test_in_flight_requests_count_against_the_last_remaining_seen() -> None:
    budget = DailyBudget(DailyReserve.parse(2))
    budget.settle(budget.admit(), daily(1000, 10))
    in_flight = admit_all(budget)
    assert len(in_flight) == 8
    budget.settle(in_flight.pop(), daily(1000, 9))  # one of ours counted: 7 in flight, 9 left
    assert budget.try_admit() is None
    budget.settle(in_flight.pop(), daily(1000, 7))  # another client sent one too
    assert budget.try_admit() is None
    budget.settle(in_flight.pop(), daily(1000, 5))  # 5 in flight, 5 left: 5 - 2 - 5 < 1
    assert budget.try_admit() is None
    for ticket in in_flight:
        budget.settle(ticket, daily(1000, 2))
    with pytest.raises(DailyReserveReached) as info:
        budget.try_admit()
    assert (info.value.remaining, info.value.daily_limit) == (2, 1000)


def test_remaining_at_the_reserve_stops_every_new_request() -> None:
    budget = DailyBudget(DailyReserve.parse("5%"))
    budget.settle(budget.admit(), daily(40, 2))
    with pytest.raises(DailyReserveReached) as info:
        budget.admit()
    assert (info.value.remaining, info.value.daily_limit) == (2, 40)
    assert "2 of its 40 daily requests left" in str(info.value)
    assert "'5%' (2 requests)" in str(info.value)


def test_an_older_answer_never_raises_the_view_a_newer_one_replaces_it() -> None:
    budget = DailyBudget(DailyReserve.parse(5))
    budget.settle(budget.admit(), daily(1000, 100))
    early, late = budget.admit(), budget.admit()
    budget.settle(late, daily(1000, 60))  # counted after the early one, answered first
    budget.settle(early, daily(1000, 61))
    assert budget.headroom() == 55
    after = budget.admit()  # sent after the view was formed: the daily reset shows this way
    budget.settle(after, daily(1000, 1000))
    assert budget.headroom() == 995


def test_a_request_without_an_answer_counts_as_used() -> None:
    budget = DailyBudget(DailyReserve.parse(5))
    budget.settle(budget.admit(), daily(1000, 100))
    budget.settle(budget.admit(), None)
    assert budget.headroom() == 94


def test_without_daily_headers_nothing_is_held_back() -> None:
    budget = DailyBudget(DailyReserve.parse("100%"))
    budget.settle(budget.admit(), {"X-HubSpot-RateLimit-Max": "110"})  # OAuth: no daily headers
    assert len([budget.admit() for _ in range(500)]) == 500
    assert budget.headroom() is None


def test_an_answer_with_no_rate_limit_headers_at_all_does_not_turn_the_reserve_off() -> None:
    """A 502 from HubSpot's edge carries no headers: it is not an OAuth answer."""
    budget = DailyBudget(DailyReserve.parse(10))
    budget.settle(budget.admit(), {"Content-Type": "text/html"})
    budget.settle(budget.admit(), daily(1000, 3))
    with pytest.raises(DailyReserveReached):
        budget.admit()


def test_reserve_zero_turns_the_gate_off() -> None:
    budget = DailyBudget(DailyReserve.parse(0))
    budget.settle(budget.admit(), daily(40, 0))
    assert len([budget.admit() for _ in range(50)]) == 50  # HubSpot's DAILY 429 stops the run then


def test_threads_sharing_the_budget_use_exactly_the_limit_less_the_reserve() -> None:
    budget = DailyBudget(DailyReserve.parse("5%"))
    limit, lock, counted = 400, threading.Lock(), [0]
    stopped: list[DailyReserveReached] = []

    def worker() -> None:
        while True:
            try:
                ticket = budget.admit()
            except DailyReserveReached as exc:
                stopped.append(exc)
                return
            with lock:  # the account counts the request and answers
                counted[0] += 1
                remaining = limit - counted[0]
            budget.settle(ticket, daily(limit, remaining))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counted[0] == 380
    assert len(stopped) == 16 and {exc.remaining for exc in stopped} == {20}


# -- saying it up front -------------------------------------------------------------------------


def test_announce_when_known_fits_or_warns() -> None:
    budget = DailyBudget(DailyReserve.parse("5%"))
    budget.settle(budget.admit(), daily(40, 39))
    log = ListLog()
    budget.announce(3700, 100, log)
    budget.announce(3800, 100, log)
    assert log.lines[0][0] == "info" and "needs 37 requests" in log.lines[0][1]
    level, text = log.lines[1]
    assert level == "warning"
    assert "needs 38 requests" in text and "only 37 fit" in text and "'5%' (2 requests)" in text
    assert "midnight in the account's time zone" in text


def test_announce_before_any_answer_checks_again_on_the_first_one() -> None:
    budget = DailyBudget(DailyReserve.parse("5%"))
    log = ListLog()
    budget.announce(5000, 100, log)
    assert log.lines == [("info", log.lines[0][1])] and "not known yet" in log.lines[0][1]
    budget.settle(budget.admit(), daily(40, 39))
    level, text = log.lines[1]
    assert level == "warning" and "needs 50 requests" in text and "only 38 fit" in text
    budget.settle(budget.admit(), daily(40, 38))
    assert len(log.lines) == 2  # checked once
