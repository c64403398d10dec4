"""Running batches concurrently while one thread writes every outcome (plain Python).

Batches are pulled lazily from an iterable and at most ``max_concurrency`` are in flight, so memory
stays flat however many inputs there are. ``max_concurrency`` may be a callable, asked before each
batch goes (automatic concurrency follows the rate budget as HubSpot's headers reveal it), that
never returns more than :data:`AUTO_MAX_CONCURRENCY`. Worker threads only call HubSpot and account for the
answer; the calling thread writes each outcome to the sink as it completes.

``process(batch)`` returns the batch's records and raises only when the whole run must stop
(credentials, daily limit …). Then no new batch is sent, in-flight ones are written, the failing
batch and every batch not sent get error records from ``fail(batch, exc, attempted)``, and the
exception is re-raised. An error while reading the inputs stops the run the same way, except that
inputs that could not be read cannot be accounted for: the exception names the row.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from airflow_provider_hubtix.accounting import BatchOutcome
from airflow_provider_hubtix.outputs import RecordSink
from airflow_provider_hubtix.progress import ProgressLog
from airflow_provider_hubtix.ratelimit import AUTO_MAX_CONCURRENCY

__all__ = ["Concurrency", "run_batches"]

_T = TypeVar("_T")
Concurrency = int | Callable[[], int]
"""Batches in flight at most: a number, or a callable asked before each batch is sent."""

_SHUTDOWN_GRACE_SECONDS = 120.0


def run_batches(
    batches: Iterable[Sequence[_T]],
    process: Callable[[Sequence[_T]], BatchOutcome],
    fail: Callable[[Sequence[_T], BaseException, bool], BatchOutcome],
    sink: RecordSink,
    *,
    max_concurrency: Concurrency,
    progress: ProgressLog,
    before_send: Callable[[Sequence[_T]], None] | None = None,
) -> None:
    """Process every batch, writing each outcome to ``sink``; re-raise what stopped the run.

    :param batches: the batches, pulled lazily.
    :param process: sends one batch and accounts for the answer (runs in a worker thread).
    :param fail: error records for a batch when the run stops: ``attempted`` tells whether it was
        the failing batch (``True``) or one never sent (``False``).
    :param sink: receives the records (only from the calling thread).
    :param max_concurrency: batches in flight at most (see :data:`Concurrency`).
    :param progress: counts finished batches and logs progress.
    :param before_send: called (in the calling thread) with each batch just before it is sent.
    """
    iterator = iter(batches)
    in_flight: dict[Future[BatchOutcome], Sequence[_T]] = {}
    stop: BaseException | None = None
    inputs_broken = False

    def record(batch: Sequence[_T], outcome: BatchOutcome) -> None:
        sink.write(outcome.results, outcome.errors)
        progress.update(len(batch), len(outcome.results), len(outcome.errors))

    def collect(future: Future[BatchOutcome]) -> None:
        nonlocal stop
        batch = in_flight.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:
            stop = stop or exc
            outcome = fail(batch, exc, True)
        record(batch, outcome)

    completed: queue.SimpleQueue[Future[BatchOutcome]] = queue.SimpleQueue()  # cheaper than wait()
    limit = max_concurrency if callable(max_concurrency) else lambda: max_concurrency
    workers = AUTO_MAX_CONCURRENCY if callable(max_concurrency) else max_concurrency
    executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="hubtix-batch")
    try:
        while True:
            while stop is None and len(in_flight) < max(limit(), 1):
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    stop, inputs_broken = exc, True
                    break
                if before_send is not None:
                    before_send(batch)
                future = executor.submit(process, batch)
                in_flight[future] = batch
                future.add_done_callback(completed.put)
            if not in_flight:
                break
            collect(completed.get())
        if stop is not None and not inputs_broken:
            for batch in _until_broken(iterator):
                record(batch, fail(batch, stop, False))
    finally:
        if in_flight:  # interrupted (e.g. the task was killed): keep what already happened
            done, _ = wait(in_flight, timeout=_SHUTDOWN_GRACE_SECONDS)
            for future in done:
                collect(future)
        executor.shutdown(wait=False, cancel_futures=True)
        progress.finish()
    if stop is not None:
        raise stop


def _until_broken(iterator: Iterator[Sequence[_T]]) -> Iterator[Sequence[_T]]:
    """Yield the remaining batches; stop quietly at an input error (the run is stopping anyway)."""
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except Exception:
            return
