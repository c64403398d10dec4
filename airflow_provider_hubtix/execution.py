"""One run of a job from start to outputs: validate, resume, stream into a sink (plain Python).

The operators call :func:`execute_job` and only publish what it returns. The output folder is a
``pathlib.Path`` (local or mounted: resumable) or any path-like object with ``/`` and ``open()``
(an object-storage path: written afresh by every try).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_hubtix.checkpoint import InputsFingerprint, ResumeState, load_resume_state
from airflow_provider_hubtix.jobs import Located, ReadJob, WriteJob
from airflow_provider_hubtix.outputs import ERRORS_FILE, RESULTS_FILE, JsonLinesSink, MemorySink, RecordSink
from airflow_provider_hubtix.progress import Logger

__all__ = ["JobRun", "execute_job"]

_FAILURE_SUMMARY_MESSAGE_CHARS = 300


@dataclass
class JobRun:
    """What one run produced.

    :param total: how many inputs there were.
    :param sink: where the records went (memory or files), closed.
    :param folder: the output folder, or ``None`` for memory.
    :param stopped: what stopped the run early, if anything (records are complete regardless).
    """

    total: int
    sink: RecordSink
    folder: Any
    stopped: BaseException | None = None

    def return_value(self, verb: str) -> Any:
        """The ``return_value`` XCom: the result records, or the paths and counts.

        :param verb: the name of the results count (``created``, ``upserted`` or ``read``).
        """
        if isinstance(self.sink, MemorySink):
            return self.sink.results
        return {
            "results_path": str(self.folder / RESULTS_FILE),
            "errors_path": str(self.folder / ERRORS_FILE),
            "total": self.total,
            verb: self.sink.results_count,
            "failed": self.sink.errors_count,
        }

    def errors_value(self) -> Any:
        """The ``errors`` XCom: the error records, or the errors file's path."""
        if isinstance(self.sink, MemorySink):
            return self.sink.errors
        return str(self.folder / ERRORS_FILE)

    def failure_message(self, verb: str, task_id: str) -> str:
        """Counts, where the errors are, and the first few of them.

        :param verb: the name of the results count.
        :param task_id: the task, named when the errors are in its XCom.
        """
        where = (
            f"all errors are in the XCom 'errors' of task {task_id!r}"
            if self.folder is None
            else f"all errors are in {self.folder / ERRORS_FILE}"
        )
        lines = "".join(f"\n- {_describe(error)}" for error in self.sink.first_errors)
        sink = self.sink
        return (
            f"{sink.errors_count:,} of {self.total:,} inputs failed ({sink.results_count:,} {verb}); "
            f"{where}.{' First errors:' if lines else ''}{lines}"
        )


def execute_job(
    job: WriteJob | ReadJob, items: Callable[[], Iterator[Located]], folder: Any | None, log: Logger
) -> JobRun:
    """Validate every input, pick up an earlier try's outputs, then run the job into a sink.

    :param job: the create, upsert or read job.
    :param items: returns a fresh iterator over the located raw inputs (called twice).
    :param folder: the output folder, or ``None`` to keep records in memory.
    :param log: where progress goes.
    :raises InvalidInputError: before anything is sent, when an input is invalid.
    """
    # The objects alive before the run (Airflow's own, some 160,000) are left out of the garbage
    # collector's full scans during it: measured at HubSpot's ceiling, this keeps the client's CPU
    # under a quarter of HubSpot's SDK loop's (see docs/performance.md).
    gc.freeze()
    try:
        return _execute_frozen(job, items, folder, log)
    finally:
        gc.unfreeze()


def _execute_frozen(
    job: WriteJob | ReadJob, items: Callable[[], Iterator[Located]], folder: Any | None, log: Logger
) -> JobRun:
    resumable = isinstance(job, WriteJob) and isinstance(folder, Path)
    fingerprint = InputsFingerprint() if resumable else None
    total = job.validate(items() if fingerprint is None else _fingerprinted(items(), fingerprint))
    resume: ResumeState | None = None
    if fingerprint is not None and isinstance(folder, Path):
        folder.mkdir(parents=True, exist_ok=True)
        resume = load_resume_state(folder, fingerprint.hexdigest())
        if resume.resuming:
            log.info(
                "Resuming from %s: %d inputs were written by an earlier try and are skipped; "
                "%d were in flight when it stopped.",
                folder,
                len(resume.done),
                len(resume.maybe_sent),
            )
    log.info("%d inputs are valid; sending them to HubSpot in batches of %d.", total, job.batch_size)
    sink = _open_sink(folder, resume)
    run = JobRun(total, sink, folder)
    try:
        if isinstance(job, WriteJob):
            job.run(items(), sink, total=total, resume=resume)
        else:
            job.run(items(), sink, total=total)
    except Exception as exc:
        run.stopped = exc
    finally:
        sink.close()
    return run


def _open_sink(folder: Any | None, resume: ResumeState | None) -> RecordSink:
    if folder is None:
        return MemorySink()
    if isinstance(folder, Path):
        folder.mkdir(parents=True, exist_ok=True)

    def open_file(name: str, mode: str) -> Any:
        return (folder / name).open(mode)

    return JsonLinesSink(
        open_file,
        resumed_results=len(resume.done) if resume is not None else 0,
        track_sending=resume is not None,
    )


def _fingerprinted(items: Iterator[Located], fingerprint: InputsFingerprint) -> Iterator[Located]:
    for location, raw in items:
        fingerprint.update(raw)
        yield location, raw


def _describe(error: dict[str, Any]) -> str:
    who = f"input {error.get('input_index')}" if "input" in error else f"id {error.get('id')}"
    message = str(error.get("message") or "")
    if len(message) > _FAILURE_SUMMARY_MESSAGE_CHARS:
        message = message[:_FAILURE_SUMMARY_MESSAGE_CHARS] + "…"
    return f"{who}: {error.get('status')} {error.get('category')}: {message}"
