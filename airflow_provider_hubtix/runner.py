"""Running batches concurrently while one thread writes every outcome (plain Python).

Batches are pulled lazily from an iterable and at most ``max_concurrency`` are in flight, so memory
stays flat however many inputs there are. Worker threads only call HubSpot and account for the
answer; the calling thread writes each outcome to the sink as it completes.

``process(batch)`` returns the batch's records and raises only when the whole run must stop
(credentials, daily limit …). Then no new batch is sent, in-flight ones are written, the failing
batch and every batch not sent get error records from ``fail(batch, exc, attempted)`` (or, when
the failing batch had got somewhere first, the records it raised with :class:`BatchStopped`), and
the exception is re-raised. An error while reading the inputs stops the run the same way, except that
inputs that could not be read cannot be accounted for: the exception names the row.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from airflow_provider_hubtix.accounting import BatchOutcome
from airflow_provider_hubtix.outputs import RecordSink
from airflow_provider_hubtix.progress import ProgressLog

__all__ = ["BatchStopped", "run_batches"]

_T = TypeVar("_T")

_SHUTDOWN_GRACE_SECONDS = 120.0


class BatchStopped(Exception):
    """Raised by ``process`` when the run must stop part-way through a batch: what stopped it, and
    the batch's records so far (every input of the batch, each in its results or its errors).

    :param outcome: the batch's records.
    :param cause: what stopped the run (re-raised by :func:`run_batches`).
    """

    def __init__(self, outcome: BatchOutcome, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.outcome = outcome
        self.cause = cause


def run_batches(
    batches: Iterable[Sequence[_T]],
    process: Callable[[Sequence[_T]], BatchOutcome],
    fail: Callable[[Sequence[_T], BaseException, bool], BatchOutcome],
    sink: RecordSink,
    *,
    max_concurrency: int,
    progress: ProgressLog,
    before_send: Callable[[Sequence[_T]], None] | None = None,
) -> None:
    """Process every batch, writing each outcome to ``sink``; re-raise what stopped the run.

    :param batches: the batches, pulled lazily.
    :param process: sends one batch and accounts for the answer (runs in a worker thread).
    :param fail: error records for a batch when the run stops: ``attempted`` tells whether it was
        the failing batch (``True``) or one never sent (``False``).
    :param sink: receives the records (only from the calling thread).
    :param max_concurrency: batches in flight at most.
    :param progress: counts finished batches and logs progress.
    :param before_send: called (in the calling thread) with each batch just before it is sent.
    """
    run = _BatchRun(iter(batches), process, fail, sink, progress, before_send)
    limit = max(1, max_concurrency)
    executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="hubtix-batch")
    try:
        while True:
            run.send_while_room(executor, limit)
            if not run.in_flight:
                break
            run.collect(run.completed.get())
        if run.stop is not None and not run.inputs_broken:
            for batch in _until_broken(run.batches):
                run.record(batch, fail(batch, run.stop, False))
    finally:
        if run.in_flight:  # interrupted (e.g. the task was killed): keep what already happened
            done, _ = wait(run.in_flight, timeout=_SHUTDOWN_GRACE_SECONDS)
            for future in done:
                run.collect(future)
        executor.shutdown(wait=False, cancel_futures=True)
        progress.finish()
    if run.stop is not None:
        raise run.stop


@dataclass
class _BatchRun(Generic[_T]):
    """The state of one :func:`run_batches`: the batches left, those in flight, what stopped it."""

    batches: Iterator[Sequence[_T]]
    process: Callable[[Sequence[_T]], BatchOutcome]
    fail: Callable[[Sequence[_T], BaseException, bool], BatchOutcome]
    sink: RecordSink
    progress: ProgressLog
    before_send: Callable[[Sequence[_T]], None] | None
    in_flight: dict[Future[BatchOutcome], Sequence[_T]] = field(default_factory=dict)
    completed: queue.SimpleQueue[Future[BatchOutcome]] = field(default_factory=queue.SimpleQueue)
    stop: BaseException | None = None
    inputs_broken: bool = False

    def send_while_room(self, executor: ThreadPoolExecutor, limit: int) -> None:
        """Submit batches until ``limit`` are in flight, the batches run out or the run stops."""
        while self.stop is None and len(self.in_flight) < limit:
            try:
                batch = next(self.batches)
            except StopIteration:
                return
            except Exception as exc:
                self.stop, self.inputs_broken = exc, True
                return
            if self.before_send is not None:
                self.before_send(batch)
            future = executor.submit(self.process, batch)
            self.in_flight[future] = batch
            future.add_done_callback(self.completed.put)

    def collect(self, future: Future[BatchOutcome]) -> None:
        """Write a finished batch's outcome; a batch that raised stops the run (and is accounted)."""
        batch = self.in_flight.pop(future)
        try:
            outcome = future.result()
        except BatchStopped as stopped:
            self.stop = self.stop or stopped.cause
            outcome = stopped.outcome
        except Exception as exc:
            self.stop = self.stop or exc
            outcome = self.fail(batch, exc, True)
        self.record(batch, outcome)

    def record(self, batch: Sequence[_T], outcome: BatchOutcome) -> None:
        """Write an outcome and count it."""
        self.sink.write(outcome.results, outcome.errors)
        self.progress.update(len(batch), len(outcome.results), len(outcome.errors))


def _until_broken(iterator: Iterator[Sequence[_T]]) -> Iterator[Sequence[_T]]:
    """Yield the remaining batches; stop quietly at an input error (the run is stopping anyway)."""
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except Exception:
            return
