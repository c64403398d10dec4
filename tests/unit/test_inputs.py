"""Reading inputs: inline values, JSON / JSONL / CSV files (streamed), normalisation, validation."""

from __future__ import annotations

import io
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubtix import inputs
from airflow_provider_hubtix.create_inputs import check_create_input, normalise_create_input
from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.inputs import iter_file, parse_inline
from airflow_provider_hubtix.read_inputs import normalise_read_input


def read_bytes(name: str, data: bytes) -> list[tuple[str, Any]]:
    return list(iter_file(name, lambda: nullcontext(io.BytesIO(data))))


def test_inline_list_and_json_string() -> None:
    assert parse_inline([{"a": 1}], "inputs") == [{"a": 1}]
    assert parse_inline('[{"a": 1}, 2]', "inputs") == [{"a": 1}, 2]
    with pytest.raises(InvalidInputError, match="JSON dict but must be a JSON array"):
        parse_inline('{"a": 1}', "inputs")
    with pytest.raises(InvalidInputError, match="line 1, column 2"):
        parse_inline("[oops]", "inputs")
    with pytest.raises(InvalidInputError, match="got int"):
        parse_inline(5, "ids")


def test_json_array_streams_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"n": i, "s": "x" * (i % 11), "nested": {"k": [i, 1.5e3]}} for i in range(2000)] + [
        12345,
        -7.25,
        "end",
    ]
    monkeypatch.setattr(inputs, "_CHUNK_CHARS", 13)
    got = read_bytes("big.json", json.dumps(items, indent=2).encode())
    assert [item for _, item in got] == items
    assert got[1][0].startswith("item 1 (line ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b'{"subject": "x"}', "holds a JSON object, not an array"),
        (b"[1, 2", "missing ']'"),
        (b"[1 2]", "expected ',' or ']'"),
        (b'[1, {"a": }]', "item 1"),
    ],
)
def test_malformed_json_files_are_named(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        read_bytes("in.json", data)


def test_jsonl_and_ndjson_skip_blank_lines_and_name_bad_lines() -> None:
    assert read_bytes("a.jsonl", b'{"a": 1}\n\n{"a": 2}\n') == [("line 1", {"a": 1}), ("line 3", {"a": 2})]
    assert read_bytes("a.ndjson", b"1\n") == [("line 1", 1)]
    with pytest.raises(InvalidInputError, match="line 2 is not valid JSON"):
        read_bytes("a.jsonl", b'{"a": 1}\n{nope}\n')


def test_csv_header_quotes_bom_and_ragged_rows() -> None:
    data = '\ufeffsubject,hs_pipeline_stage\n"Hello, world",1\nPlain,2\n'.encode()
    assert read_bytes("t.csv", data) == [
        ("line 2", {"subject": "Hello, world", "hs_pipeline_stage": "1"}),
        ("line 3", {"subject": "Plain", "hs_pipeline_stage": "2"}),
    ]
    with pytest.raises(InvalidInputError, match="line 3 has 1 fields but the header has 2"):
        read_bytes("t.csv", b"a,b\n1,2\n3\n")
    with pytest.raises(InvalidInputError, match="must name every column once"):
        read_bytes("t.csv", b"a,a\n1,2\n")


CSV_HEADER = b"external_id,hs_pipeline_stage,subject\n"


def csv_rows(first: int, last: int) -> bytes:
    return b"".join(b"c-%d,1,Ticket %d\n" % (i, i) for i in range(first, last))


def test_csv_quoted_values_may_span_lines() -> None:
    data = CSV_HEADER + csv_rows(0, 2) + b'c-2,1,"first line\nsecond, line\n"\nc-3,1,x\n'
    got = read_bytes("t.csv", data)
    assert got[2] == (
        "line 4",
        {"external_id": "c-2", "hs_pipeline_stage": "1", "subject": "first line\nsecond, line\n"},
    )
    assert got[3][0] == "line 7"


def test_csv_quote_open_at_the_end_of_the_file_names_the_row() -> None:
    data = CSV_HEADER + csv_rows(0, 250) + b'c-250,1,"never closed\n' + csv_rows(251, 261)
    with pytest.raises(InvalidInputError, match=r"t\.csv line 252: .* never closed") as info:
        read_bytes("t.csv", data)
    assert "end of the file (line 262)" in str(info.value)


def test_csv_quote_closed_in_the_wrong_place_names_the_line() -> None:
    data = CSV_HEADER + csv_rows(0, 250) + b'c-250,1,"open\nc-251,1,"x"\n'
    with pytest.raises(InvalidInputError, match=r"line 253 is not valid CSV: ',' expected after '\"'"):
        read_bytes("t.csv", data)


def test_csv_open_quote_past_the_field_limit_names_the_row() -> None:
    data = CSV_HEADER + csv_rows(0, 250) + b'c-250,1,"never closed\n' + csv_rows(251, 10_000)
    with pytest.raises(InvalidInputError, match=r"line 252: .* more than 131,072 characters"):
        read_bytes("t.csv", data)


@pytest.mark.parametrize("chunk_bytes", [3, 7, 1 << 16])
@pytest.mark.parametrize(
    ("name", "rows", "bad_row", "line"),
    [
        (
            "t.jsonl",
            b"".join(b'{"subject": "\xc3\xa9t\xc3\xa9 %d"}\n' % i for i in range(250)),
            b'{"s": "\xff"}\n',
            251,
        ),
        ("t.json", b"[\n" + b"".join(b'"\xe2\x82\xac %d",\n' % i for i in range(250)), b'"\xe9"]\n', 252),
        ("t.csv", CSV_HEADER + csv_rows(0, 250), b"c-250,1,caf\xe9\n", 252),
    ],
)
def test_non_utf8_names_line_and_file_offset(
    monkeypatch: pytest.MonkeyPatch, chunk_bytes: int, name: str, rows: bytes, bad_row: bytes, line: int
) -> None:
    monkeypatch.setattr(inputs, "_CHUNK_BYTES", chunk_bytes)
    data = rows + bad_row + rows
    offset = len(rows) + bad_row.index(next(b for b in bad_row if b >= 0x80).to_bytes())
    with pytest.raises(InvalidInputError) as info:
        read_bytes(name, data)
    assert str(info.value).startswith(f"{name} line {line} (byte offset {offset} of the file: ")
    assert "not valid UTF-8" in str(info.value)


def test_truncated_utf8_at_the_end_of_the_file() -> None:
    with pytest.raises(
        InvalidInputError, match=r"line 2 \(byte offset 6 of the file: unexpected end of data\)"
    ):
        read_bytes("t.jsonl", b'"ab"\n"\xe2\x82')


@pytest.mark.parametrize("name", ["t.json", "t.jsonl", "t.csv"])
@pytest.mark.parametrize("data", [b"", b"\n\n"])
def test_empty_files_are_refused(name: str, data: bytes) -> None:
    with pytest.raises(InvalidInputError, match=f"{name} is empty"):
        read_bytes(name, data)


def test_explicitly_empty_files_are_zero_inputs() -> None:
    assert read_bytes("t.json", b"[]") == []
    assert read_bytes("t.csv", b"subject,hs_pipeline_stage\n") == []


def test_unknown_suffix() -> None:
    with pytest.raises(InvalidInputError, match=r"must end in \.json"):
        read_bytes("t.parquet", b"")


def test_local_and_object_storage_files(tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n')
    assert list(iter_file(str(path), lambda: path.open("rb"))) == [("line 1", {"a": 1})]
    remote = ObjectStoragePath(f"file://{path}")
    assert list(iter_file(str(remote), lambda: remote.open("rb"))) == [("line 1", {"a": 1})]


def test_create_input_normalisation() -> None:
    plain = normalise_create_input(
        {"subject": "s", "hs_pipeline_stage": 1, "flag": True, "ratio": 0.5, "gone": None},
        3,
        "item 3",
        trace_prefix="p",
    )
    assert plain.payload == {
        "properties": {"subject": "s", "hs_pipeline_stage": "1", "flag": "true", "ratio": "0.5"},
        "associations": [],
        "objectWriteTraceId": "p-3",
    }
    shaped = normalise_create_input(
        {
            "properties": {"subject": "s"},
            "associations": [{"to": {"id": "1"}, "types": []}],
            "objectWriteTraceId": "mine",
        },
        0,
        "item 0",
        trace_prefix="p",
    )
    assert shaped.payload["associations"] == [{"to": {"id": "1"}, "types": []}]
    assert shaped.trace_id == "mine"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("text", "is a str; each input must be an object"),
        ({"subject": {"nested": 1}}, "property 'subject' is a dict"),
        ({"subject": ["a"]}, "property 'subject' is a list"),
        ({"properties": {"a": "b"}, "property": {}}, "unexpected keys"),
        ({"properties": "x"}, "'properties' must be an object"),
        ({"properties": {"a": "b"}, "associations": "x"}, "'associations' must be a list"),
        ({}, "has no properties"),
        ({"subject": "x" * 65_537}, "65,537 characters"),
        ({"subject": "no id"}, "no value for id_property 'external_id'"),
    ],
)
def test_create_input_errors_name_the_row(item: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        normalise_create_input(item, 7, "line 9", trace_prefix="p", id_property="external_id")
    assert "Input 7 (line 9)" in str(info.value)
    with pytest.raises(InvalidInputError) as checked:
        check_create_input(item, 7, "line 9", id_property="external_id")
    assert str(checked.value) == str(info.value)


def test_check_create_input_returns_the_id_property_value() -> None:
    item = {"properties": {"subject": "s", "external_id": 12}}
    assert check_create_input(item, 0, "item 0", id_property="external_id") == "12"
    assert check_create_input(item, 0, "item 0") == ""


def test_read_inputs() -> None:
    assert normalise_read_input(42, 0, "item 0").id == "42"
    assert normalise_read_input({"id": "7", "properties": {}}, 1, "item 1").id == "7"
    by_property = normalise_read_input(
        {"id": "7", "properties": {"ext": "E-1"}}, 2, "item 2", id_property="ext"
    )
    assert by_property.id == "E-1"
    assert normalise_read_input({"ext": "E-2"}, 3, "line 4", id_property="ext").id == "E-2"
    for bad, message in [
        ("", "is empty"),
        ("abc", "not a HubSpot record id"),
        (True, "is a bool"),
        ({"x": 1}, "without 'id'"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            normalise_read_input(bad, 5, "item 5")
