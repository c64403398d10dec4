"""One picture of the rate window shared by the processes of one machine (``shared_window.py``)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_hubtix.ratelimit import RateLimiter
from airflow_provider_hubtix.shared_window import STATE_DIR_ENV, SharedWindow, shared_window_for
from airflow_provider_hubtix.window_model import WindowModel

WINDOW = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def headers(maximum: int, remaining: int) -> dict[str, str]:
    return {"X-HubSpot-RateLimit-Max": str(maximum), "X-HubSpot-RateLimit-Remaining": str(remaining)}


def limiters(path: Path, clock: Clock, count: int = 2, budget: int | None = 3) -> list[RateLimiter]:
    """``count`` limiters, as in ``count`` processes, sharing the picture in ``path``."""
    return [RateLimiter(budget, clock=clock, shared=SharedWindow(path)) for _ in range(count)]


def drain(limiter: RateLimiter) -> int:
    """How many requests ``limiter`` may send now."""
    taken = 0
    while limiter.try_acquire() is not None:
        taken += 1
    return taken


def test_limiters_sharing_a_picture_act_as_one_client(tmp_path: Path) -> None:
    clock = Clock()
    first, second = limiters(tmp_path / "w", clock)
    look = first.try_acquire()
    assert look is not None
    assert second.try_acquire() is None  # one look for the machine, not one per process
    first.release(look, headers(3, 2))
    assert drain(second) + drain(first) == 2  # the budget, whoever sends
    assert drain(second) == drain(first) == 0


def test_an_answer_in_one_process_frees_the_slot_for_another(tmp_path: Path) -> None:
    clock = Clock()
    first, second = limiters(tmp_path / "w", clock, budget=1)
    permit = first.try_acquire()
    assert permit is not None and second.try_acquire() is None
    clock.now += 0.2
    first.release(permit, headers(1, 0))
    clock.now += WINDOW  # the request has surely left the window
    assert second.try_acquire() is not None
    assert first.try_acquire() is None


def test_each_answer_settles_its_own_request_when_limiters_of_one_process_share_a_picture(
    tmp_path: Path,
) -> None:
    """Two hooks of one task share the picture too: an answer must not settle the other's request."""
    clock = Clock()
    first, second = limiters(tmp_path / "w", clock, budget=2)
    look = first.try_acquire()
    assert look is not None
    first.release(look, headers(2, 1))
    permit = second.try_acquire()
    assert permit is not None
    clock.now += 0.2
    second.release(permit)  # failed without an answer: only its own record can settle it
    clock.now += WINDOW  # both have surely left the window
    assert drain(first) == 2


def test_unshared_limiters_do_not_know_each_other(tmp_path: Path) -> None:
    """What sharing the picture changes: alone, each process sends its own budget."""
    clock = Clock()
    first, second = (RateLimiter(3, clock=clock) for _ in range(2))
    for limiter in (first, second):
        look = limiter.try_acquire()
        assert look is not None
        limiter.release(look, headers(3, 2))
    assert drain(first) == drain(second) == 2


def test_a_request_in_flight_of_a_process_that_died_is_settled(tmp_path: Path) -> None:
    path = tmp_path / "w"
    take_and_die = (
        "import sys, time; from pathlib import Path\n"
        "from airflow_provider_hubtix.ratelimit import RateLimiter\n"
        "from airflow_provider_hubtix.shared_window import SharedWindow\n"
        "assert RateLimiter(1, shared=SharedWindow(Path(sys.argv[1]))).try_acquire() is not None\n"
    )
    subprocess.run([sys.executable, "-c", take_and_die, str(path)], check=True)  # and never answered
    limiter = RateLimiter(1, shared=SharedWindow(path))
    with SharedWindow(path).open(lambda: WindowModel(1), time.monotonic) as held:
        (sent,) = held.model.own
        assert sent.answered == held.now  # may have been counted until it was found gone
        assert sent.leaves == held.now + WINDOW
    assert limiter.try_acquire() is None  # its slot is held for a window all the same


@pytest.mark.parametrize("contents", [b"not a pickle", pickle.dumps({"a": "dict"})])
def test_an_unreadable_picture_is_started_afresh(
    tmp_path: Path, contents: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "w"
    path.write_bytes(contents)
    (limiter,) = limiters(path, Clock(), count=1)
    with caplog.at_level(logging.WARNING):
        assert limiter.try_acquire() is not None  # the first look of a new picture
    assert limiter.try_acquire() is None
    assert f"{path} could not be read" in caplog.text


def test_a_picture_from_before_the_machine_started_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "w"
    earlier = Clock()
    earlier.now = 5_000.0  # a monotonic clock starts again at boot
    (before_boot,) = limiters(path, earlier, count=1)
    assert before_boot.try_acquire() is not None
    (after_boot,) = limiters(path, Clock(), count=1)
    assert after_boot.try_acquire() is not None  # not held back by a request of another boot


def test_a_picture_from_another_boot_is_started_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A persistent directory outlives a reboot, and the new boot's clock may already be past the old."""
    path = tmp_path / "w"
    monkeypatch.setattr("airflow_provider_hubtix.shared_window._BOOT", "an earlier boot")
    (before_boot,) = limiters(path, Clock(), count=1)
    assert before_boot.try_acquire() is not None
    monkeypatch.setattr("airflow_provider_hubtix.shared_window._BOOT", "this boot")
    later = Clock()
    later.now += 1000.0
    (after_boot,) = limiters(path, later, count=1)
    assert after_boot.try_acquire() is not None  # not held back by a request of another boot


def test_the_file_is_named_and_filled_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "pictures"))
    token = "pat-na1-secret-token"
    shared = shared_window_for("https://api.hubapi.com", token, None)
    assert shared is not None
    limiter = RateLimiter(shared=shared)
    permit = limiter.try_acquire()
    assert permit is not None
    limiter.release(permit, headers(100, 99))
    assert (tmp_path / "pictures").stat().st_mode & 0o777 == 0o700
    for file in (tmp_path / "pictures").iterdir():
        assert token not in file.name
        assert token.encode() not in file.read_bytes()


def test_one_picture_per_url_credentials_and_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    base = ("https://api.hubapi.com", "token-a", None)
    variants = [base, ("http://127.0.0.1:8765", "token-a", None), ("https://api.hubapi.com", "token-b", None)]
    variants.append(("https://api.hubapi.com", "token-a", 50))
    paths = {shared.path for shared in (shared_window_for(*v) for v in variants) if shared is not None}
    assert len(paths) == 4
    again = shared_window_for(*base)
    assert again is not None and again.path in paths


def test_a_directory_others_can_write_to_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    directory.chmod(0o777)
    monkeypatch.setenv(STATE_DIR_ENV, str(directory))
    with caplog.at_level(logging.WARNING):
        assert shared_window_for("https://api.hubapi.com", "token", None) is None
    assert "not this user's own private directory" in caplog.text


def _send(path: str, budget: int, window: float, count: int, sent_at: multiprocessing.Queue) -> None:
    """One process: ``count`` requests through the shared picture, each answered at once."""
    limiter = RateLimiter(budget, window_seconds=window, shared=SharedWindow(Path(path)))
    for _ in range(count):
        permit = limiter.acquire()
        sent_at.put(permit.sent_at)
        limiter.release(permit)  # no headers: counted at some moment until now


def test_processes_sharing_a_picture_never_exceed_the_budget_together(tmp_path: Path) -> None:
    """Three real processes, four requests per second between them: never five in one second."""
    budget, window, processes, each = 4, 1.0, 3, 6
    context = multiprocessing.get_context("spawn")
    sent_at: multiprocessing.Queue = context.Queue()
    workers = [
        context.Process(target=_send, args=(str(tmp_path / "w"), budget, window, each, sent_at))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    times = sorted(sent_at.get(timeout=60) for _ in range(processes * each))
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert all(later - earlier >= window for earlier, later in zip(times, times[budget:], strict=False))
    assert os.listdir(tmp_path) == ["w"]


def _report_own_file(shared: SharedWindow, report: multiprocessing.Queue) -> None:
    RateLimiter(3, shared=shared).try_acquire()
    report.put(shared._fd_pid == os.getpid())


def test_a_forked_process_locks_through_its_own_open_file(tmp_path: Path) -> None:
    """A lock belongs to the open file, which a fork shares: the child must open the file again."""
    shared = SharedWindow(tmp_path / "w")
    assert RateLimiter(3, shared=shared).try_acquire() is not None
    context = multiprocessing.get_context("fork")
    report: multiprocessing.Queue = context.Queue()
    child = context.Process(target=_report_own_file, args=(shared, report))
    child.start()
    assert report.get(timeout=30) is True
    child.join(timeout=30)
    assert child.exitcode == 0
