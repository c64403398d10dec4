"""The rate limiter under HubSpot's possible timings: clients on a simulated account (answers out of
order, slow tails, late counting, ``Remaining`` at count or at answer time), through the limiter's
public methods only. The assertions are invariants, not tuned figures."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.unit.window_sim import TIMINGS, Account, Client, Timing, simulate, span

WINDOW = 10.0


def alone(mode: str, requests: int, concurrency: int, seed: int) -> Account:
    return simulate([Client(requests, concurrency, seed=seed)], TIMINGS[mode], seed=seed)


def ceiling_ratio(account: Account) -> float:
    """Server span over the least a budget of 100 per window allows (plus one 0.2 s round trip)."""
    windows = -(-len(account.accepted) // 100) - 1
    return span(account) / (windows * WINDOW + 0.2)


# -- invariants, across HubSpot's possible timings ------------------------------------------------
@pytest.mark.parametrize("mode", sorted(TIMINGS))
@pytest.mark.parametrize("concurrency", [16, 100])
def test_alone_never_a_429_whatever_the_timing(mode: str, concurrency: int) -> None:
    for seed in range(3):
        account = alone(mode, 300, concurrency, seed)
        assert account.refused == 0
        assert len(account.accepted) == 300


@pytest.mark.parametrize("mode", sorted(TIMINGS))
def test_alone_at_the_ceiling_whatever_the_timing(mode: str) -> None:
    """Out-of-order answers, slow tails and late counting cost at most a tenth of the ceiling."""
    for seed in range(3):
        assert ceiling_ratio(alone(mode, 200, 100, seed)) <= 1.10
        assert ceiling_ratio(alone(mode, 1000, 100, seed)) <= 1.05


@pytest.mark.parametrize("mode", sorted(TIMINGS))
def test_clients_sharing_an_account_all_finish_with_few_429s(mode: str) -> None:
    rng = random.Random(7)
    clients = [Client(100, 100, start=rng.uniform(0, 1), seed=i) for i in range(4)]
    account = simulate(clients, TIMINGS[mode], seed=7)
    assert len(account.accepted) == 400
    assert account.refused <= 0.05 * (400 + account.refused)  # HubSpot's own bound on error answers


@pytest.mark.parametrize("mode", sorted(TIMINGS))
def test_clients_sharing_one_picture_act_as_one_whatever_the_timing(mode: str, tmp_path: Path) -> None:
    """Processes on one machine, each with its own limiter on one shared file: no 429 between them,
    and the account used as one client would use it."""
    for seed in range(3):
        rng = random.Random(seed)
        clients = [Client(100, 100, start=rng.uniform(0, 1), seed=i) for i in range(4)]
        account = simulate(clients, TIMINGS[mode], seed=seed, shared=tmp_path / f"window-{seed}")
        assert account.refused == 0
        assert len(account.accepted) == 400
        assert ceiling_ratio(account) <= 1.10


def test_slots_are_given_back_so_a_long_run_keeps_going() -> None:
    """Every slot comes back: 2,000 requests through a budget of 100 take about 20 windows."""
    account = alone("tail", 2000, 100, seed=3)
    assert len(account.accepted) == 2000
    assert span(account) < 19 * WINDOW * 1.05


def test_remaining_computed_at_answer_time_is_as_safe() -> None:
    for seed in range(3):
        account = simulate(
            [Client(300, 100, seed=seed)],
            Timing(jitter=0.5, slow_share=0.1, remaining_at="answer"),
            seed=seed,
        )
        assert account.refused == 0


EXTREME_TIMINGS = [
    Timing(jitter=0.5, slow_share=0.1, slow_factor=10),
    Timing(jitter=0.9, slow_share=0.2, slow_factor=20, arrival_spread=0.5),
    Timing(latency=2.0, jitter=0.9, slow_share=0.2, slow_factor=5, remaining_at="answer"),
    Timing(latency=1.0, jitter=0.9, arrival_spread=1.0),
]


@pytest.mark.parametrize(
    "timing", EXTREME_TIMINGS, ids=["tail10x", "tail20x-spread", "2s-answer-time", "1s-spread1s"]
)
def test_alone_never_a_429_when_answers_take_seconds(timing: Timing) -> None:
    """HubSpot's answers take from 0.1 s to several seconds: a long run of slow, spread, reordered
    answers never costs a 429 (an answer may describe a moment when a request of ours that has
    left since was still in the window)."""
    for seed in range(5):
        account = simulate([Client(1000, 100, seed=seed)], timing, seed=seed, until=3000)
        assert account.refused == 0
        assert len(account.accepted) == 1000
