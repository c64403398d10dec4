"""Resuming a run from its own outputs (plain Python).

With ``output_path`` the outputs double as a checkpoint:

- ``results.jsonl`` is only ever appended to; each line carries ``input_index``. A re-run skips the
  inputs it already holds. A torn last line (the process was killed mid-write) is cut off.
- ``sending.jsonl`` gets one line ``{"batch": [input indexes]}`` *before* a batch is sent. Inputs
  listed there but absent from the results were in flight when the previous try died: their tickets
  may exist. With ``id_property`` they are read by it before anything is sent again (an existing
  ticket becomes a result with ``"new": false``); without it they are re-sent and flagged
  ``possible_duplicate``. Each try first writes a mark line, so that inputs the last try listed
  but recorded as ``NOT_ATTEMPTED`` (held back, never sent) are told from those an earlier try sent.
- ``errors.jsonl`` is rewritten by every try: inputs that failed before are attempted again.
- ``checkpoint.json`` holds a fingerprint of the inputs, so that a folder written for other inputs
  is never mistaken for this run's.

Resuming needs a folder that can be appended to and truncated: a local or mounted filesystem.
Object stores write an object when it is closed, so there each try starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_hubtix import fastjson
from airflow_provider_hubtix.accounting import NOT_ATTEMPTED
from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.outputs import ERRORS_FILE, RESULTS_FILE, SENDING_FILE, TRY_MARK

__all__ = ["CHECKPOINT_FILE", "IndexSet", "InputsFingerprint", "ResumeState", "load_resume_state"]

CHECKPOINT_FILE = "checkpoint.json"


class IndexSet:
    """A compact set of non-negative input indexes (one bit each)."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, index: int) -> None:
        """Add ``index``."""
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte - len(self._bits) + 1 + len(self._bits) // 2))
        if not self._bits[byte] >> bit & 1:
            self._bits[byte] |= 1 << bit
            self.count += 1

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int) or index < 0:
            return False
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self.count


_ENCODER = json.JSONEncoder(default=str)
"""For inputs orjson cannot encode. Either way, key order is the file's: the same on every read."""


class InputsFingerprint:
    """A running SHA-256 over the inputs, to recognise the same inputs on a re-run."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def update(self, raw: Any) -> None:
        """Fold one raw input in."""
        self._hash.update(fastjson.dumps_bytes(raw) or _ENCODER.encode(raw).encode())
        self._hash.update(b"\n")
        self.count += 1

    def hexdigest(self) -> str:
        """The fingerprint so far."""
        return f"{self.count}:{self._hash.hexdigest()}"


@dataclass
class ResumeState:
    """What an earlier try of the same run left behind.

    :param done: input indexes already in ``results.jsonl``.
    :param maybe_sent: input indexes that were in flight when the earlier try stopped.
    """

    done: IndexSet = field(default_factory=IndexSet)
    maybe_sent: IndexSet = field(default_factory=IndexSet)

    @property
    def resuming(self) -> bool:
        """Whether an earlier try recorded anything."""
        return bool(len(self.done) or len(self.maybe_sent))


def load_resume_state(folder: Path, fingerprint: str) -> ResumeState:
    """Read the earlier try's outputs, cut a torn results line, check and record the fingerprint.

    :param folder: the local output folder.
    :param fingerprint: this run's :class:`InputsFingerprint` digest.
    :raises InvalidInputError: when the folder holds the outputs of different inputs.
    """
    state = ResumeState()
    checkpoint = folder / CHECKPOINT_FILE
    if checkpoint.exists():
        recorded = json.loads(checkpoint.read_text(encoding="utf-8")).get("inputs_fingerprint")
        if recorded != fingerprint:
            raise InvalidInputError(
                f"output_path {folder} already holds the outputs of a run over different inputs "
                f"({CHECKPOINT_FILE} records {recorded}, these inputs are {fingerprint}). Use a new "
                "output_path per run (e.g. template it with {{ run_id }}), or delete the folder."
            )
    results = folder / RESULTS_FILE
    if results.exists():
        good_bytes = _scan_results(results, state.done)
        if good_bytes < results.stat().st_size:  # a torn last line: cut it off
            os.truncate(results, good_bytes)
    sending = folder / SENDING_FILE
    if sending.exists():
        _scan_sending(sending, state, _never_sent(folder / ERRORS_FILE))
    checkpoint.write_text(json.dumps({"inputs_fingerprint": fingerprint}), encoding="utf-8")
    return state


def _scan_sending(sending: Path, state: ResumeState, never_sent: IndexSet) -> None:
    """Add to ``state.maybe_sent`` the inputs listed as about to go and not in the results.

    ``errors.jsonl`` is the last try's alone, so its ``NOT_ATTEMPTED`` records clear only what the
    last try listed (after the last :data:`TRY_MARK`): an input an earlier try listed may have gone.
    """
    with sending.open("rb") as handle:
        last_try = max((number for number, line in enumerate(handle) if line == TRY_MARK), default=-1)
        handle.seek(0)
        for number, line in enumerate(handle):
            try:
                batch = json.loads(line)["batch"]
            except (ValueError, KeyError, TypeError):
                continue  # a try's mark, or a torn line: that batch had not been sent yet
            for index in batch:
                if index not in state.done and (number < last_try or index not in never_sent):
                    state.maybe_sent.add(index)


def _never_sent(errors: Path) -> IndexSet:
    """Inputs the last try recorded as never sent (``NOT_ATTEMPTED``: held back when the run
    stopped, e.g. at the daily reserve), although their batch was listed as about to go."""
    never = IndexSet()
    if errors.exists():
        with errors.open("rb") as handle:
            for line in handle:
                record = _parse(line) if NOT_ATTEMPTED.encode() in line else None
                if record is not None and record.get("category") == NOT_ATTEMPTED:
                    never.add(record["input_index"])
    return never


def _scan_results(path: Path, done: IndexSet) -> int:
    """Add every recorded ``input_index``; return the size of the complete lines in bytes."""
    good = 0
    with path.open("rb") as handle:
        for line in handle:
            record = _parse(line) if line.endswith(b"\n") else None
            if record is None:
                break
            done.add(record["input_index"])
            good += len(line)
    return good


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("input_index"), int):
        return None
    return record
