"""JSON Lines sink: the bytes it writes are the text the json module would write, encoded as UTF-8."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubtix.outputs import ERRORS_FILE, RESULTS_FILE, SENDING_FILE, TRY_MARK, JsonLinesSink

_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)

RESULTS = [
    {"id": "1", "properties": {"subject": "é \u2028 😀", "n": None}, "archived": False, "input_index": 0},
    {"id": "2", "properties": {"ratio": 1e-05, "big": 2**70}, "input_index": 1, "new": True},
]
ERRORS = [
    {
        "input_index": 2,
        "input": {"subject": "x", "when": datetime.date(2026, 1, 2), "tags": ("a", "b")},
        "status": 207,
        "category": "VALIDATION_ERROR",
        "message": "bad",
        "context": {"objectWriteTraceId": ["t-2"]},
    }
]


def open_in(folder: Path) -> Any:
    return lambda name, mode: (folder / name).open(mode)


def text_of(records: list[dict[str, Any]]) -> bytes:
    return "".join(_LINE.encode(record) + "\n" for record in records).encode("utf-8")


def test_lines_are_the_json_modules_text_in_utf_8(tmp_path: Path) -> None:
    sink = JsonLinesSink(open_in(tmp_path), track_sending=True)
    sink.sending([0, 1, 2])
    sink.write(RESULTS, ERRORS)
    sink.close()
    assert (tmp_path / RESULTS_FILE).read_bytes() == text_of(RESULTS)
    assert (tmp_path / ERRORS_FILE).read_bytes() == text_of(ERRORS)
    assert (tmp_path / SENDING_FILE).read_bytes() == TRY_MARK + b'{"batch":[0,1,2]}\n'
    assert (sink.results_count, sink.errors_count) == (2, 1)


def test_resumed_results_are_appended(tmp_path: Path) -> None:
    (tmp_path / RESULTS_FILE).write_bytes(b'{"id":"0","input_index":9}\n')
    sink = JsonLinesSink(open_in(tmp_path), resumed_results=1)
    sink.write(RESULTS[:1], [])
    sink.close()
    assert (tmp_path / RESULTS_FILE).read_bytes() == b'{"id":"0","input_index":9}\n' + text_of(RESULTS[:1])
    assert sink.results_count == 2


def test_a_lone_surrogate_fails_the_write_as_a_utf_8_text_file_would(tmp_path: Path) -> None:
    sink = JsonLinesSink(open_in(tmp_path))
    with pytest.raises(UnicodeEncodeError):
        sink.write([{"id": "1", "properties": {"subject": "\ud800"}}], [])
    sink.close()
