"""The bad-input catalogue: every way a user can hand the operators bad input, in one table.

Each row names a case, the operator and what it is given, the expected outcome and a fragment of
the message. Files hold 250 valid rows before the bad one. Every case runs against an in-process
sandbox and checks that nothing was sent; a rejected case fails the task with ``HubSpotInputError``
(a missing file may fail retryably, naming the path) and its message names the row or argument.
The accepted controls must create every row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.exceptions import HubSpotInputError
from airflow_provider_hubtix.inputs import iter_file
from airflow_provider_hubtix.operators.tickets import BatchCreateTicketsOperator, BatchReadTicketsOperator
from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.unit.conftest import set_connection

Create, Read = BatchCreateTicketsOperator, BatchReadTicketsOperator
PARSE_TIME = "refused when the DAG is parsed"
REJECTED = "task fails with HubSpotInputError, nothing sent"
RETRYABLE = "task fails retryably, nothing sent"
ACCEPTED = "every row is created"

VALID = 250
ROWS = [{"subject": f"Ticket {i}", "hs_pipeline_stage": "1", "external_id": f"e-{i}"} for i in range(VALID)]
CSV_HEADER = b"subject,hs_pipeline_stage,external_id\n"
LONGEST = "x" * 65_536


@dataclass(frozen=True)
class File:
    """A file the case writes, then passes as ``inputs_path`` / ``ids_path``."""

    name: str
    data: bytes = field(repr=False)


def jsonl(bad: bytes, *, after: bytes = b"") -> File:
    """250 valid lines, then ``bad`` on line 251."""
    return File("in.jsonl", b"".join(json.dumps(row).encode() + b"\n" for row in ROWS) + bad + after)


def json_array(tail: bytes) -> File:
    """``[`` on line 1, 250 valid items on lines 2-251, then ``tail`` (item 250 on line 252)."""
    return File("in.json", b"[\n" + b"".join(json.dumps(row).encode() + b",\n" for row in ROWS) + tail)


def csv_file(bad: bytes, *, after: bytes = b"", head: bytes = CSV_HEADER) -> File:
    """A header, 250 valid rows on lines 2-251, then ``bad`` on line 252."""
    rows = b"".join(f"Ticket {i},1,e-{i}\n".encode() for i in range(VALID))
    return File("in.csv", head + rows + bad + after)


def line(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def item(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n]\n"


IDS = [str(i) for i in range(1, VALID + 1)]
TEN_CSV_ROWS = b"".join(f"Ticket {i},1,e-{i}\n".encode() for i in range(251, 261))


@dataclass(frozen=True)
class Case:
    name: str
    operator: type[Create | Read]
    given: dict[str, Any]
    outcome: str
    fragment: str = ""
    created: int = 0


CATALOGUE = [
    # -- malformed files -------------------------------------------------------------------------
    Case("json: invalid item", Create, {"inputs_path": json_array(b'{"subject": }\n]\n')}, REJECTED,
         "in.json item 250 (line 252) is not valid JSON"),
    Case("json: ']' missing", Create, {"inputs_path": json_array(line(ROWS[0]))}, REJECTED,
         "ends inside the JSON array after item 250: missing ']'"),
    Case("json: ',' missing", Create, {"inputs_path": json_array(line(ROWS[0]) + item(ROWS[1]))}, REJECTED,
         "after item 250 (line 253); expected ',' or ']'"),
    Case("json: not UTF-8", Create, {"inputs_path": json_array(b'{"subject": "caf\xe9"}\n]\n')}, REJECTED,
         "in.json line 252 (byte offset 19048 of the file: invalid continuation byte)"),
    Case("jsonl: line not JSON", Create, {"inputs_path": jsonl(b"{nope}\n")}, REJECTED,
         "in.jsonl line 251 is not valid JSON"),
    Case("jsonl: binary bytes (issue #24)", Create,
         {"inputs_path": jsonl(b'{"subject": "\x89PNG\x00\xff"}\n')}, REJECTED,
         "in.jsonl line 251 (byte offset 18793 of the file: invalid start byte)"),
    Case("csv: quote open to the end (issue #24)", Create,
         {"inputs_path": csv_file(b'Ticket 250,1,"e-250\n', after=TEN_CSV_ROWS)}, REJECTED,
         "in.csv line 252: the row that starts on this line opens a quoted value that is never closed"),
    Case("csv: quote open past csv's field limit", Create,
         {"inputs_path": csv_file(b'Ticket 250,1,"e-250\n', after=TEN_CSV_ROWS * 1000)}, REJECTED,
         "in.csv line 252: the row that starts on this line holds a value of more than 131,072 characters"),
    Case("csv: quote closed mid-value", Create,
         {"inputs_path": csv_file(b'Ticket 250,1,"e-250\n', after=b'Ticket 251,1,"e-251"x\n')}, REJECTED,
         "in.csv line 253 is not valid CSV"),
    Case("csv: Latin-1 byte (issue #24)", Create, {"inputs_path": csv_file(b"Caf\xe9,1,e-250\n")}, REJECTED,
         "in.csv line 252 (byte offset 4571 of the file: invalid continuation byte)"),
    Case("csv: row short of a field", Create, {"inputs_path": csv_file(b"Ticket 250,1\n")}, REJECTED,
         "in.csv line 252 has 2 fields but the header has 3"),
    Case("csv: unquoted comma", Create, {"inputs_path": csv_file(b"Hello, world,1,e-250\n")}, REJECTED,
         "in.csv line 252 has 4 fields"),
    Case("csv: header repeats a column", Create,
         {"inputs_path": csv_file(b"", head=b"subject,subject,external_id\n")}, REJECTED,
         "in.csv line 1 (the header) must name every column once"),
    Case("unknown suffix", Create, {"inputs_path": File("in.txt", b"subject\nx\n")}, REJECTED,
         "the file must end in .json"),
    # -- empty and missing files -----------------------------------------------------------------
    Case("json: empty file", Create, {"inputs_path": File("in.json", b"")}, REJECTED, "in.json is empty"),
    Case("jsonl: blank lines only", Create, {"inputs_path": File("in.jsonl", b"\n\n")}, REJECTED,
         "in.jsonl is empty"),
    Case("csv: empty file", Create, {"inputs_path": File("in.csv", b"")}, REJECTED, "in.csv is empty"),
    Case("missing file", Create, {"inputs_path": "missing.jsonl"}, RETRYABLE, "missing.jsonl"),
    # -- wrong shapes ----------------------------------------------------------------------------
    Case("json: object for the array", Create, {"inputs_path": File("in.json", json.dumps(ROWS[0]).encode())},
         REJECTED, "in.json holds a JSON object, not an array"),
    Case("json: number for an input", Create, {"inputs_path": json_array(item(42))}, REJECTED,
         "Input 250 (item 250 (line 252)) is a int"),
    Case("jsonl: null for an input", Create, {"inputs_path": jsonl(b"null\n")}, REJECTED,
         "Input 250 (line 251) is a NoneType"),
    Case("jsonl: list for an input", Create, {"inputs_path": jsonl(line([ROWS[0]]))}, REJECTED,
         "Input 250 (line 251) is a list"),
    Case("jsonl: properties not an object", Create,
         {"inputs_path": jsonl(line({"properties": "x"}))}, REJECTED,
         "Input 250 (line 251): 'properties' must be an object"),
    Case("jsonl: associations not a list", Create,
         {"inputs_path": jsonl(line({"properties": ROWS[0], "associations": {"to": {"id": "1"}}}))}, REJECTED,
         "Input 250 (line 251): 'associations' must be a list"),
    Case("jsonl: unknown key beside properties", Create,
         {"inputs_path": jsonl(line({"properties": ROWS[0], "property": {}}))}, REJECTED,
         "Input 250 (line 251) has unexpected keys ['property']"),
    Case("jsonl: no properties", Create, {"inputs_path": jsonl(line({}))}, REJECTED,
         "Input 250 (line 251) has no properties"),
    Case("jsonl: empty property name", Create, {"inputs_path": jsonl(line({"": "x"}))}, REJECTED,
         "Input 250 (line 251) has a property name ''"),
    Case("inline: JSON object for the array", Create, {"inputs": json.dumps(ROWS[0])}, REJECTED,
         "inputs is a JSON dict but must be a JSON array"),
    Case("inline: string not JSON", Create, {"inputs": "subject"}, REJECTED,
         "inputs is a string but not valid JSON"),
    # -- values HubSpot refuses ------------------------------------------------------------------
    Case("jsonl: nested object value", Create,
         {"inputs_path": jsonl(line({"subject": {"en": "x"}}))}, REJECTED,
         "Input 250 (line 251): property 'subject' is a dict"),
    Case("jsonl: list value", Create, {"inputs_path": jsonl(line({"subject": ["a", "b"]}))}, REJECTED,
         "Input 250 (line 251): property 'subject' is a list"),
    Case("jsonl: value over 65,536 characters", Create,
         {"inputs_path": jsonl(line({"subject": LONGEST + "x", "hs_pipeline_stage": "1"}))}, REJECTED,
         "Input 250 (line 251): property 'subject' has 65,537 characters"),
    Case("csv: value over 65,536 characters", Create,
         {"inputs_path": csv_file(LONGEST.encode() + b"x,1,e-250\n")}, REJECTED,
         "Input 250 (line 252): property 'subject' has 65,537 characters"),
    Case("inline: nested object value", Create, {"inputs": [*ROWS, {"subject": {"en": "x"}}]}, REJECTED,
         "Input 250 (item 250): property 'subject' is a dict"),
    # -- id_property -----------------------------------------------------------------------------
    Case("jsonl: repeated id_property value", Create,
         {"inputs_path": jsonl(line({**ROWS[3], "subject": "again"})), "id_property": "external_id"},
         REJECTED,
         "Input 250 (line 251) repeats id_property value 'e-3' of input 3"),
    Case("csv: repeated id_property value", Create,
         {"inputs_path": csv_file(b"again,1,e-7\n"), "id_property": "external_id"}, REJECTED,
         "Input 250 (line 252) repeats id_property value 'e-7' of input 7"),
    Case("jsonl: id_property value missing", Create,
         {"inputs_path": jsonl(line({"subject": "x", "hs_pipeline_stage": "1"})),
          "id_property": "external_id"},
         REJECTED, "Input 250 (line 251) has no value for id_property 'external_id'"),
    Case("csv: id_property value empty", Create,
         {"inputs_path": csv_file(b"x,1,\n"), "id_property": "external_id"}, REJECTED,
         "Input 250 (line 252) has no value for id_property 'external_id'"),
    # -- arguments checked at parse time ---------------------------------------------------------
    Case("create: neither inputs nor inputs_path", Create, {}, PARSE_TIME,
         "give exactly one of inputs or inputs_path; got neither"),
    Case("create: both inputs and inputs_path", Create,
         {"inputs": ROWS, "inputs_path": "in.jsonl"}, PARSE_TIME,
         "give exactly one of inputs or inputs_path; got both"),
    Case("create: one input without its list", Create, {"inputs": ROWS[0]}, PARSE_TIME,
         "inputs must be a list, a JSON array string or an XComArg; got a single dict"),
    Case("create: number for inputs", Create, {"inputs": 5}, PARSE_TIME, "inputs must be a list"),
    Case("create: batch_size over 100", Create, {"inputs": ROWS, "batch_size": 101}, PARSE_TIME,
         "batch_size must be an integer from 1 to 100"),
    Case("create: max_concurrency 0", Create, {"inputs": ROWS, "max_concurrency": 0}, PARSE_TIME,
         "max_concurrency must be a positive integer"),
    Case("create: id_property a list", Create, {"inputs": ROWS, "id_property": ["external_id"]}, PARSE_TIME,
         "id_property must be one property name"),
    Case("read: properties one string (issue #24)", Read, {"ids": IDS, "properties": "subject"}, PARSE_TIME,
         "properties must be a list, not the single string 'subject'; write ['subject']"),
    Case("read: properties_with_history one string (issue #24)", Read,
         {"ids": IDS, "properties_with_history": "subject"}, PARSE_TIME,
         "properties_with_history must be a list, not the single string 'subject'"),
    Case("read: property name not a string", Read, {"ids": IDS, "properties": ["subject", 3]}, PARSE_TIME,
         "properties must be a list of property names; 3 is not one"),
    Case("read: one id without its list", Read, {"ids": 12345}, PARSE_TIME,
         "ids must be a list, a JSON array string or an XComArg; got a single int"),
    Case("read: requests_per_10s 0", Read, {"ids": IDS, "requests_per_10s": 0}, PARSE_TIME,
         "requests_per_10s must be a positive integer"),
    # -- the read operator's ids -----------------------------------------------------------------
    Case("read: id not digits", Read, {"ids": [*IDS, "abc"]}, REJECTED,
         "Id 250 (item 250) is 'abc', which is not a HubSpot record id"),
    Case("read: boolean id", Read, {"ids": [*IDS, True]}, REJECTED, "Id 250 (item 250) is a bool"),
    Case("read: empty id", Read, {"ids": [*IDS, " "]}, REJECTED, "Id 250 (item 250) is empty"),
    Case("read: record without id", Read, {"ids": [*IDS, {"properties": {}}]}, REJECTED,
         "Id 250 (item 250) is a record without 'id'"),
    Case("read: list for an id", Read, {"ids": [*IDS, ["1"]]}, REJECTED, "Id 250 (item 250) is a list"),
    Case("read: JSON number for ids", Read, {"ids": "123"}, REJECTED,
         "ids is a JSON int but must be a JSON array"),
    Case("read: ids file, bad line", Read,
         {"ids_path": File("ids.jsonl", b"".join(line(i) for i in IDS) + line("12a"))}, REJECTED,
         "Id 250 (line 251) is '12a'"),
    Case("read: ids csv without an id column", Read, {"ids_path": csv_file(b"")}, REJECTED,
         "Id 0 (line 2) is a record without 'id'"),
    # -- accepted controls -----------------------------------------------------------------------
    Case("csv: UTF-8 byte-order mark", Create,
         {"inputs_path": csv_file(b"", head=b"\xef\xbb\xbf" + CSV_HEADER)}, ACCEPTED, created=250),
    Case("csv: quoted value over several lines", Create,
         {"inputs_path": csv_file(b'"Line one\nline two, ""quoted""",1,e-250\n', after=TEN_CSV_ROWS)},
         ACCEPTED, created=261),
    Case("jsonl: value of exactly 65,536 characters", Create,
         {"inputs_path": jsonl(line({"subject": LONGEST, "hs_pipeline_stage": "1"}))}, ACCEPTED, created=251),
    Case("json: numbers, booleans and null as values", Create,
         {"inputs_path": json_array(item({"subject": 1.5, "hs_pipeline_stage": 1, "content": True,
                                          "source_type": None}))}, ACCEPTED, created=251),
    Case("csv: header only", Create, {"inputs_path": File("in.csv", CSV_HEADER)}, ACCEPTED, created=0),
]  # fmt: skip


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    """One stand-in for the whole catalogue: each case counts the requests it adds."""
    with HubSpotSandbox(unique_property=None) as hubspot:
        yield hubspot


class TaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def materialise(given: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The operator's arguments, with each :class:`File` written into ``folder``."""
    kwargs = dict(given)
    for key, value in given.items():
        if isinstance(value, File):
            (folder / value.name).write_bytes(value.data)
            kwargs[key] = str(folder / value.name)
        elif key.endswith("_path"):
            kwargs[key] = str(folder / value)
    return kwargs


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_bad_input_catalogue(
    case: Case, sandbox: HubSpotSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_connection(monkeypatch, host=sandbox.url, password="sandbox-token")
    before = sandbox.stats()
    kwargs = materialise(case.given, tmp_path)
    if case.outcome == PARSE_TIME:
        with pytest.raises(HubSpotInputError) as refused:
            case.operator(task_id="task", **kwargs)
        assert case.fragment in str(refused.value)
        return
    operator = case.operator(task_id="task", **kwargs)
    ti = TaskInstance()
    if case.outcome == ACCEPTED:
        results = operator.execute({"ti": ti})
        assert (len(results), ti.xcom["errors"]) == (case.created, [])
        assert sandbox.stats().created - before.created == case.created
        return
    with pytest.raises(Exception) as failed:
        operator.execute({"ti": ti})
    assert case.fragment in str(failed.value)
    assert sandbox.stats().requests == before.requests, "a request was sent"
    if case.outcome == REJECTED:
        assert isinstance(failed.value, HubSpotInputError)
    else:
        assert not isinstance(failed.value, AirflowFailException)


def standard_parse(file: File) -> list[Any]:
    """The rows the standard library's json / csv modules see in a file."""
    text = file.data.decode("utf-8-sig")
    if file.name.endswith(".json"):
        return list(json.loads(text))
    if file.name.endswith(".jsonl"):
        return [json.loads(row) for row in text.splitlines() if row.strip()]
    return list(csv.DictReader(io.StringIO(text, newline="")))


def files_read_whole() -> Iterator[File]:
    """Every catalogue file that the reader reads to its end (its rows may still be refused later)."""
    for case in CATALOGUE:
        for value in case.given.values():
            if isinstance(value, File):
                try:
                    list(iter_file(value.name, lambda value=value: io.BytesIO(value.data)))
                except InvalidInputError:
                    continue
                yield value


def test_nothing_lost_from_any_accepted_file() -> None:
    accepted = list(files_read_whole())
    controls = [value for case in CATALOGUE if case.outcome == ACCEPTED for value in case.given.values()]
    assert set(controls) <= set(accepted)
    assert len(accepted) > len(controls)  # files whose rows are refused after reading count too
    for file in accepted:
        read = [record for _, record in iter_file(file.name, lambda file=file: io.BytesIO(file.data))]
        assert read == standard_parse(file), file.name
