"""Where result and error records go: memory (for XCom) or ``results.jsonl`` / ``errors.jsonl``.

Only one thread writes (the batch runner's), so sinks need no locks. Plain Python, no Airflow
import: files are opened through a callable, so the operators can hand in object storage.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import IO, Any, Protocol

import orjson

from airflow_provider_hubtix.fastjson import dumps_line

__all__ = [
    "ERRORS_FILE",
    "RESULTS_FILE",
    "SENDING_FILE",
    "TRY_MARK",
    "ErrorSample",
    "JsonLinesSink",
    "MemorySink",
    "OpenFile",
    "Record",
    "RecordSink",
]

Record = dict[str, Any]
OpenFile = Callable[[str, str], AbstractContextManager[IO[bytes]]]
"""Opens ``name`` inside the output folder with a binary ``mode`` (``"wb"``, ``"ab"``)."""

RESULTS_FILE = "results.jsonl"
ERRORS_FILE = "errors.jsonl"
SENDING_FILE = "sending.jsonl"
TRY_MARK = b'{"try": "started"}\n'
"""The line a try writes to ``sending.jsonl`` before its first batch."""


class ErrorSample:
    """The few error records with the lowest input positions, for the task's failure message.

    :param size: how many to keep.
    """

    def __init__(self, size: int = 5) -> None:
        self._size = size
        self._heap: list[tuple[int, int, Record]] = []
        self._seen = 0

    def add(self, errors: Sequence[Record]) -> None:
        """Offer a batch's error records."""
        for error in errors:
            self._seen += 1
            entry = (-int(error.get("input_index") or 0), self._seen, error)
            if len(self._heap) < self._size:
                heapq.heappush(self._heap, entry)
            else:
                heapq.heappushpop(self._heap, entry)

    def first(self) -> list[Record]:
        """The kept records, lowest input position first."""
        return [error for _, _, error in sorted(self._heap, reverse=True)]


class RecordSink(Protocol):
    """Receives the records of each finished batch."""

    @property
    def results_count(self) -> int:
        """Result records written so far."""

    @property
    def errors_count(self) -> int:
        """Error records written so far."""

    @property
    def first_errors(self) -> list[Record]:
        """A few error records, lowest input position first."""

    def write(self, results: Sequence[Record], errors: Sequence[Record]) -> None:
        """Record one batch's results and errors."""

    def sending(self, indexes: Sequence[int]) -> None:
        """Note the input indexes of a batch about to be sent."""

    def close(self) -> None:
        """Flush and release everything; called once, also after a failure."""


class MemorySink:
    """Keeps every record in lists, for pushing to XCom."""

    def __init__(self) -> None:
        self.results: list[Record] = []
        self.errors: list[Record] = []
        self._sample = ErrorSample()

    @property
    def first_errors(self) -> list[Record]:
        """A few error records, lowest input position first."""
        return self._sample.first()

    @property
    def results_count(self) -> int:
        """Result records so far."""
        return len(self.results)

    @property
    def errors_count(self) -> int:
        """Error records so far."""
        return len(self.errors)

    def write(self, results: Sequence[Record], errors: Sequence[Record]) -> None:
        """Append one batch's records.

        :param results: result records.
        :param errors: error records.
        """
        self.results.extend(results)
        self.errors.extend(errors)
        self._sample.add(errors)

    def sending(self, indexes: Sequence[int]) -> None:
        """Nothing to keep: memory does not survive the process anyway."""

    def close(self) -> None:
        """Nothing to release."""


class JsonLinesSink:
    """Appends records to ``results.jsonl`` and ``errors.jsonl``, one JSON object per line.

    Each batch is written and flushed as a whole, so after any crash the files hold every batch
    that finished (a torn last line at worst). Lines are UTF-8, written as bytes.

    :param open_file: opens a file inside the output folder, in binary mode.
    :param resumed_results: results an earlier try already wrote: ``results.jsonl`` is appended to.
    :param track_sending: keep ``sending.jsonl``, the batches sent but maybe not yet recorded.
    """

    def __init__(self, open_file: OpenFile, *, resumed_results: int = 0, track_sending: bool = False) -> None:
        self._results_cm = open_file(RESULTS_FILE, "ab" if resumed_results else "wb")
        self._errors_cm = open_file(ERRORS_FILE, "wb")
        self._sending_cm = open_file(SENDING_FILE, "ab") if track_sending else None
        self._results = self._results_cm.__enter__()
        self._errors = self._errors_cm.__enter__()
        self._sending = self._sending_cm.__enter__() if self._sending_cm is not None else None
        if self._sending is not None:  # where this try's batches start (see checkpoint.py)
            self._sending.write(TRY_MARK)
            self._sending.flush()
        self.results_count = resumed_results
        self.errors_count = 0
        self._sample = ErrorSample()

    @property
    def first_errors(self) -> list[Record]:
        """A few error records, lowest input position first."""
        return self._sample.first()

    def sending(self, indexes: Sequence[int]) -> None:
        """Note, before a batch goes out, which inputs it holds (for resuming after a kill).

        :param indexes: the batch's input indexes.
        """
        if self._sending is not None:
            self._sending.write(orjson.dumps({"batch": list(indexes)}, option=orjson.OPT_APPEND_NEWLINE))
            self._sending.flush()

    def write(self, results: Sequence[Record], errors: Sequence[Record]) -> None:
        """Append and flush one batch's records.

        :param results: result records.
        :param errors: error records.
        """
        if results:
            self._results.write(b"".join(map(dumps_line, results)))
            self._results.flush()
            self.results_count += len(results)
        if errors:
            self._errors.write(b"".join(map(_error_line, errors)))
            self._errors.flush()
            self.errors_count += len(errors)
            self._sample.add(errors)

    def close(self) -> None:
        """Close the files."""
        try:
            self._results_cm.__exit__(None, None, None)
        finally:
            self._errors_cm.__exit__(None, None, None)
            if self._sending_cm is not None:
                self._sending_cm.__exit__(None, None, None)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _error_line(record: Record) -> bytes:
    """Error records echo inputs as given (any Python value): always through the json module."""
    return (_ENCODER.encode(record) + "\n").encode()
