"""fastjson gives the json module's values, errors and lines."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hubtix.fastjson import dumps_bytes, dumps_line, loads

_STDLIB_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_same_text_and_values_as_the_json_module(value: Any) -> None:
    text = _STDLIB_LINE.encode(value) + "\n"
    line = dumps_line(value)
    assert line == text.encode()
    assert loads(text) == json.loads(text)
    assert loads(line) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        "123456789012345678901234567890",
        '{"n": -9223372036854775809}',
        "NaN",
        "[Infinity, -Infinity]",
        "1e400",
        '"\\ud800"',
        '{"a": 1, "a": 2}',
    ],
)
def test_loads_where_orjson_differs(text: str) -> None:
    expected = json.loads(text)
    got = loads(text)
    assert repr(got) == repr(expected)
    assert type(got) is type(expected)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1,}', "[1] x", "\ufeff{}", '{"a": NaN'])
def test_loads_raises_the_json_modules_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        loads(text)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


@dataclasses.dataclass
class _Point:
    x: int


class _Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"small": 1e-05, "tiny": -2.5e-9, "big": 1e22},
        {1: "non-string key"},
        {"when": datetime.datetime(2026, 1, 2, 3, 4, 5), "day": datetime.date(2026, 1, 2)},
        {"point": _Point(1)},
        {"sub": _Text("x")},
        {"big": 2**80},
        {"bytes": b"raw"},
        {"text": 'é \u2028 \x00 " \\ / \U0001f600'},
    ],
)
def test_dumps_line_where_orjson_differs(value: Any) -> None:
    assert dumps_line(value) == (_STDLIB_LINE.encode(value) + "\n").encode()


def test_loads_text_with_a_lone_surrogate_character() -> None:
    assert loads('"\ud800"') == json.loads('"\ud800"')


def test_dumps_bytes_is_compact_json_or_left_to_the_json_module() -> None:
    body = {"inputs": [{"properties": {"subject": "é"}, "associations": [], "objectWriteTraceId": "t-0"}]}
    data = dumps_bytes(body)
    assert data is not None and json.loads(data) == body and b" " not in data
    unsure: list[Any] = [{"a": None}, {"a": float("nan")}, {"a": 2**70}, {1: "a"}, {"a": _Point(1)}]
    assert [dumps_bytes(value) for value in unsure] == [None] * len(unsure)


@pytest.mark.parametrize(
    "value",
    [
        {"note": "send an e-mail to re-open it"},
        {"external_id": "cpu-a1b2ce-17", "other": "cpu-a1b23e-17", "third": "cpu-12.5e-3"},
        {"text": "code-e-5", "list": ["re-e-open", "x-e-", "3e-5", "-3e-5", "e-1"]},
        ["e-", "-e-", "E-5", ",-e-", "[e-"],
    ],
)
def test_dumps_line_keeps_orjson_for_text_with_e_minus(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = (_STDLIB_LINE.encode(value) + "\n").encode()
    monkeypatch.setattr("airflow_provider_hubtix.fastjson._LINE_ENCODER", None)  # json's path would fail
    assert dumps_line(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        1.5e-7,
        -1.5e-7,
        1e-05,
        [1e-05, 2.5e-9],
        {"small": 1.5e-7, "text": "e-mail"},
        {"tiny": -1e-300, "n": 0.00012},
        {"a": [1, {"b": 1.234e-5}]},
        [-1.5e-7, 1e-300, "e-mail", 2.5e-9],
    ],
)
def test_dumps_line_of_small_floats_equals_the_json_modules(value: Any) -> None:
    assert dumps_line(value) == (_STDLIB_LINE.encode(value) + "\n").encode()
