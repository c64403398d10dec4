"""Where result and error records go: memory (for XCom) or ``results.jsonl`` / ``errors.jsonl``.

Only one thread writes (the batch runner's), so sinks need no locks. Plain Python, no Airflow
import: files are opened through a callable, so the operators can hand in object storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import IO, Any, Protocol

Record = dict[str, Any]
OpenText = Callable[[str, str], AbstractContextManager[IO[str]]]
"""Opens ``name`` inside the output folder with ``mode`` (``"w"``, ``"a"``, ``"r"``)."""

RESULTS_FILE = "results.jsonl"
ERRORS_FILE = "errors.jsonl"


class RecordSink(Protocol):
    """Receives the records of each finished batch."""

    @property
    def results_count(self) -> int:
        """Result records written so far."""

    @property
    def errors_count(self) -> int:
        """Error records written so far."""

    def write(self, results: Sequence[Record], errors: Sequence[Record]) -> None:
        """Record one batch's results and errors."""

    def close(self) -> None:
        """Flush and release everything; called once, also after a failure."""


class MemorySink:
    """Keeps every record in lists, for pushing to XCom."""

    def __init__(self) -> None:
        self.results: list[Record] = []
        self.errors: list[Record] = []

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

    def close(self) -> None:
        """Nothing to release."""


class JsonLinesSink:
    """Appends records to ``results.jsonl`` and ``errors.jsonl``, one JSON object per line.

    Each batch is written and flushed as a whole, so after any crash the files hold every batch
    that finished (a torn last line at worst).

    :param open_text: opens a file inside the output folder.
    """

    def __init__(self, open_text: OpenText) -> None:
        self._results_cm = open_text(RESULTS_FILE, "w")
        self._errors_cm = open_text(ERRORS_FILE, "w")
        self._results = self._results_cm.__enter__()
        self._errors = self._errors_cm.__enter__()
        self.results_count = 0
        self.errors_count = 0

    def write(self, results: Sequence[Record], errors: Sequence[Record]) -> None:
        """Append and flush one batch's records.

        :param results: result records.
        :param errors: error records.
        """
        if results:
            self._results.write("".join(_line(r) for r in results))
            self._results.flush()
            self.results_count += len(results)
        if errors:
            self._errors.write("".join(_line(e) for e in errors))
            self._errors.flush()
            self.errors_count += len(errors)

    def close(self) -> None:
        """Close both files."""
        try:
            self._results_cm.__exit__(None, None, None)
        finally:
            self._errors_cm.__exit__(None, None, None)


def _line(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
