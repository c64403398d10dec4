"""Reading operator inputs lazily: inline lists, JSON strings and JSON / JSONL / CSV files.

Every record comes with a *location* ("item 3", "line 17") so that errors name the row.
Plain Python, no Airflow import: files are opened through a callable, so the operators can hand in
object-storage files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import IO, Any

from airflow_provider_hubtix import fastjson

OpenBinary = Callable[[], AbstractContextManager[IO[bytes]]]
"""Opens the file for reading bytes (a context manager)."""

JSON_SUFFIXES = (".json",)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
SUPPORTED_SUFFIXES = JSON_SUFFIXES + JSON_LINES_SUFFIXES + CSV_SUFFIXES

_CHUNK_CHARS = 1 << 16


class InvalidInputError(ValueError):
    """An input cannot be used; the message names the row and what to do."""


def parse_inline(value: Any, what: str) -> list[Any]:
    """Turn an operator's inline value (list, tuple or JSON string of an array) into a list.

    :param value: the rendered parameter value.
    :param what: the parameter name, for messages.
    """
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{what} is a string but not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
                f"Give a list, a JSON array, or a file path through {what}_path."
            ) from None
        if not isinstance(parsed, list):
            raise InvalidInputError(
                f"{what} is a JSON {type(parsed).__name__} but must be a JSON array (a list of items)."
            )
        return parsed
    raise InvalidInputError(
        f"{what} must be a list, a JSON array string or an XComArg; got {type(value).__name__}."
    )


def file_format(path: str) -> str:
    """Return ``json``, ``jsonl`` or ``csv`` from a path's suffix, or raise.

    :param path: the file's path or URI.
    """
    lowered = path.lower()
    if lowered.endswith(JSON_SUFFIXES):
        return "json"
    if lowered.endswith(JSON_LINES_SUFFIXES):
        return "jsonl"
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    raise InvalidInputError(
        f"Cannot read {path!r}: the file must end in {', '.join(SUPPORTED_SUFFIXES)} "
        "(a JSON array, one JSON value per line, or CSV with a header row)."
    )


def iter_file(path: str, open_binary: OpenBinary) -> Iterator[tuple[str, Any]]:
    """Yield ``(location, record)`` from a file, streaming: never the whole file in memory.

    :param path: the file's path or URI (its suffix picks the format).
    :param open_binary: opens the file for reading bytes.
    """
    fmt = file_format(path)
    with open_binary() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="" if fmt == "csv" else None)
        try:
            if fmt == "json":
                yield from _iter_json_array(text, path)
            elif fmt == "jsonl":
                yield from _iter_json_lines(text, path)
            else:
                yield from _iter_csv(text, path)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{path} is not valid UTF-8 (byte {exc.start} of a read chunk: {exc.reason}). "
                "Save the file as UTF-8."
            ) from None
        finally:
            text.detach()


def _iter_json_lines(text: IO[str], path: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text, start=1):
        if line.isspace():  # a line read from a file is never empty; isspace() copies nothing
            continue
        try:
            yield f"line {number}", fastjson.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{path} line {number} is not valid JSON ({exc.msg} at column {exc.colno}). "
                "Each line of a .jsonl/.ndjson file must hold one JSON value."
            ) from None


def _iter_csv(text: IO[str], path: str) -> Iterator[tuple[str, Any]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InvalidInputError(f"{path} line 1 is not valid CSV: {exc}.") from None
    names = [name.strip() for name in header]
    if not all(names) or len(set(names)) != len(names):
        raise InvalidInputError(f"{path} line 1 (the header) must name every column once; got {header!r}.")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInputError(f"{path} line {reader.line_num} is not valid CSV: {exc}.") from None
        if not row:
            continue
        if len(row) != len(names):
            raise InvalidInputError(
                f"{path} line {reader.line_num} has {len(row)} fields but the header has {len(names)}. "
                "Quote values that contain commas, and give every row the header's columns."
            )
        yield f"line {reader.line_num}", dict(zip(names, row, strict=True))


def _iter_json_array(text: IO[str], path: str) -> Iterator[tuple[str, Any]]:
    """Parse a top-level JSON array item by item with the standard library's raw decoder."""
    decoder = json.JSONDecoder()
    buffer = ""
    position = 0
    eof = False
    consumed_lines = 1

    def fill() -> bool:
        nonlocal buffer, position, eof, consumed_lines
        if eof:
            return False
        consumed_lines += buffer.count("\n", 0, position)
        chunk = text.read(_CHUNK_CHARS)
        buffer = buffer[position:] + chunk
        position = 0
        eof = not chunk
        return bool(chunk)

    def skip_space() -> None:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position < len(buffer) or not fill():
                return

    def where() -> str:
        return f"line {consumed_lines + buffer.count(chr(10), 0, position)}"

    skip_space()
    if position >= len(buffer):
        raise InvalidInputError(f"{path} is empty; a .json input file must hold a JSON array.")
    if buffer[position] != "[":
        kind = "object" if buffer[position] == "{" else "value"
        raise InvalidInputError(
            f"{path} holds a JSON {kind}, not an array. Wrap the items in [ ... ], or use a .jsonl "
            "file with one item per line."
        )
    position += 1
    index = 0
    skip_space()
    if position < len(buffer) and buffer[position] == "]":
        return
    while True:
        skip_space()
        start_location = where()
        while True:
            try:
                item, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as exc:
                if fill():
                    continue
                raise InvalidInputError(
                    f"{path} item {index} ({start_location}) is not valid JSON: {exc.msg}."
                ) from None
            # A number or literal cut at the chunk boundary decodes short: read on and decode again.
            if end == len(buffer) and not eof and fill():
                continue
            break
        position = end
        yield f"item {index} ({start_location})", item
        index += 1
        skip_space()
        if position >= len(buffer):
            raise InvalidInputError(f"{path} ends inside the JSON array after item {index - 1}: missing ']'.")
        if buffer[position] == "]":
            return
        if buffer[position] != ",":
            raise InvalidInputError(
                f"{path} has {buffer[position]!r} after item {index - 1} ({where()}); expected ',' or ']'."
            )
        position += 1
