"""Resuming from an output folder: what counts as maybe sent across several tries."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_hubtix.checkpoint import load_resume_state
from airflow_provider_hubtix.outputs import ERRORS_FILE, SENDING_FILE, TRY_MARK


def write_folder(folder: Path, sending: list[bytes], not_attempted: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SENDING_FILE).write_bytes(b"".join(sending))
    errors = [{"input_index": i, "category": "NOT_ATTEMPTED", "message": "held back"} for i in not_attempted]
    (folder / ERRORS_FILE).write_text("".join(json.dumps(e) + "\n" for e in errors))


def batch(*indexes: int) -> bytes:
    return json.dumps({"batch": list(indexes)}).encode() + b"\n"


def maybe_sent(folder: Path, count: int) -> list[int]:
    state = load_resume_state(folder, "fingerprint")
    return [index for index in range(count) if index in state.maybe_sent]


def test_inputs_the_last_try_held_back_were_never_sent(tmp_path: Path) -> None:
    write_folder(tmp_path, [TRY_MARK, batch(0, 1), batch(2, 3)], not_attempted=[2, 3])
    assert maybe_sent(tmp_path, 4) == [0, 1]


def test_inputs_an_earlier_try_sent_stay_maybe_sent_though_the_last_held_them_back(tmp_path: Path) -> None:
    """errors.jsonl is the last try's alone: it says nothing of what an earlier try sent."""
    write_folder(
        tmp_path, [TRY_MARK, batch(0, 1), TRY_MARK, batch(0, 1), batch(2, 3)], not_attempted=[0, 1, 2, 3]
    )
    assert maybe_sent(tmp_path, 4) == [0, 1]


def test_a_folder_written_before_try_marks_reads_as_one_try(tmp_path: Path) -> None:
    write_folder(tmp_path, [batch(0, 1), batch(2, 3)], not_attempted=[2, 3])
    assert maybe_sent(tmp_path, 4) == [0, 1]
