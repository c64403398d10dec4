"""Reading operator inputs lazily: inline lists, JSON strings and JSON / JSONL / CSV files.

Every record comes with a *location* ("item 3", "line 17") so that errors name the row.
Plain Python, no Airflow import: files are opened through a callable, so the operators can hand in
object-storage files.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import IO, Any

from airflow_provider_hubtix import fastjson
from airflow_provider_hubtix.errors import InvalidInputError

__all__ = [
    "CSV_SUFFIXES",
    "JSON_LINES_SUFFIXES",
    "JSON_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "OpenBinary",
    "as_list",
    "as_names",
    "check_inline_shape",
    "check_optional_name",
    "iter_file",
    "parse_inline",
]

OpenBinary = Callable[[], AbstractContextManager[IO[bytes]]]
"""Opens the file for reading bytes (a context manager)."""

JSON_SUFFIXES = (".json",)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
SUPPORTED_SUFFIXES = JSON_SUFFIXES + JSON_LINES_SUFFIXES + CSV_SUFFIXES

_CHUNK_CHARS = 1 << 16
_CHUNK_BYTES = 1 << 16


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


def check_inline_shape(value: Any, what: str) -> None:
    """Refuse, before rendering, an inline value that no template or XComArg can turn into a list.

    Strings are rendered and parsed as JSON at run time (see :func:`parse_inline`) and XComArgs
    resolved, so only numbers, booleans, bytes and mappings (one item given without its list) are
    refused here.

    :param value: the argument's value as given to the operator.
    :param what: the argument's name, for messages.
    """
    if isinstance(value, bool | int | float | bytes | Mapping):
        raise InvalidInputError(
            f"{what} must be a list, a JSON array string or an XComArg; got a single "
            f"{type(value).__name__}. Give one item as a one-item list."
        )


def check_optional_name(value: Any, what: str) -> None:
    """Refuse a property name that is neither ``None`` nor a non-empty string.

    :param value: the argument's value.
    :param what: the argument's name, for messages.
    """
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidInputError(f"{what} must be one property name (a non-empty string); got {value!r}.")


def as_list(value: Any, what: str) -> list[Any]:
    """Return a collection of items as a list; refuse one value that would iterate into pieces.

    A string iterates into its letters and a mapping into its keys, so neither is ever taken as a
    list of items.

    :param value: the argument's value.
    :param what: the argument's name, for messages.
    """
    if isinstance(value, str | bytes):
        raise InvalidInputError(
            f"{what} must be a list, not the single string {value!r}; write [{value!r}] for one item."
        )
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InvalidInputError(f"{what} must be a list; got a {type(value).__name__}.")
    return list(value)


def as_names(value: Any, what: str) -> list[str]:
    """Return a list of property names; a single string is refused, never split into letters.

    :param value: the argument's value.
    :param what: the argument's name, for messages.
    """
    names = as_list(value, what)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"{what} must be a list of property names; {name!r} is not one.")
    return names


def _file_format(path: str) -> str:
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
    fmt = _file_format(path)
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
            raise InvalidInputError(_not_utf8_message(path, open_binary, exc.reason)) from None
        finally:
            text.detach()


def _not_utf8_message(path: str, open_binary: OpenBinary, reason: str) -> str:
    """Where the file stops being UTF-8, found by reading it afresh (the reader's error only knows
    a position within its read buffer)."""
    found = _first_invalid_utf8(open_binary)
    where = f" line {found[0]} (byte offset {found[1]} of the file: {found[2]})" if found else f" ({reason})"
    return f"{path}{where} is not valid UTF-8. Save the file as UTF-8."


def _first_invalid_utf8(open_binary: OpenBinary) -> tuple[int, int, str] | None:
    """The line, 0-based byte offset and reason of the first bytes that are not UTF-8, if any."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with open_binary() as raw:
        while True:
            chunk = raw.read(_CHUNK_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's undecoded tail of the last chunk (no newline) + this chunk.
                start = offset + len(chunk) - len(exc.object) + exc.start
                return line + exc.object.count(b"\n", 0, exc.start), start, exc.reason
            if not chunk:
                return None
            offset += len(chunk)
            line += chunk.count(b"\n")


def _iter_json_lines(text: IO[str], path: str) -> Iterator[tuple[str, Any]]:
    empty = True
    for number, line in enumerate(text, start=1):
        if line.isspace():  # a line read from a file is never empty; isspace() copies nothing
            continue
        empty = False
        try:
            yield f"line {number}", fastjson.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{path} line {number} is not valid JSON ({exc.msg} at column {exc.colno}). "
                "Each line of a .jsonl/.ndjson file must hold one JSON value."
            ) from None
    if empty:
        raise InvalidInputError(_empty_message(path, "one JSON value per line"))


def _empty_message(path: str, expected: str) -> str:
    return (
        f"{path} is empty; it must hold {expected}. An empty file usually means that the export "
        "which wrote it failed; if there is really nothing to send, skip the task instead."
    )


def _iter_csv(text: IO[str], path: str) -> Iterator[tuple[str, Any]]:
    # strict: a quote left open would otherwise swallow every following line into one value.
    rows = _csv_rows(csv.reader(text, strict=True), path)
    first = next(rows, None)
    if first is None:
        raise InvalidInputError(_empty_message(path, "a header row naming the properties"))
    header_line, header = first
    names = [name.strip() for name in header]
    if not all(names) or len(set(names)) != len(names):
        raise InvalidInputError(
            f"{path} line {header_line} (the header) must name every column once; got {header!r}."
        )
    for start, row in rows:
        if len(row) != len(names):
            raise InvalidInputError(
                f"{path} line {start} has {len(row)} fields but the header has {len(names)}. "
                "Quote values that contain commas, and give every row the header's columns."
            )
        yield f"line {start}", dict(zip(names, row, strict=True))


def _csv_rows(reader: Any, path: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows, each with the line it starts on; malformed CSV raises, naming the line."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInputError(_csv_error_message(path, start, reader.line_num, str(exc))) from None
        if row:
            yield start, row


def _csv_error_message(path: str, start: int, line: int, error: str) -> str:
    quoting = 'write a quote inside a value as two quotes ("")'
    if error == "unexpected end of data":
        return (
            f"{path} line {start}: the row that starts on this line opens a quoted value that is never "
            f"closed, so every line up to the end of the file (line {line}) would be read as that one "
            f"value. Close the quote; {quoting}."
        )
    if error.startswith("field larger than field limit"):
        return (
            f"{path} line {start}: the row that starts on this line holds a value of more than "
            f"{csv.field_size_limit():,} characters (read up to line {line}), usually because a quote is "
            f"never closed. Close the quote; {quoting}."
        )
    return (
        f"{path} line {line} is not valid CSV: {error}. A quoted value ends with a quote followed by a "
        f"comma or the end of the line; {quoting}."
    )


def _iter_json_array(text: IO[str], path: str) -> Iterator[tuple[str, Any]]:
    """Parse a top-level JSON array item by item with the standard library's raw decoder."""
    scan = _ArrayScanner(text)
    first = scan.peek()
    if first is None:
        raise InvalidInputError(_empty_message(path, "a JSON array"))
    if first != "[":
        kind = "object" if first == "{" else "value"
        raise InvalidInputError(
            f"{path} holds a JSON {kind}, not an array. Wrap the items in [ ... ], or use a .jsonl "
            "file with one item per line."
        )
    scan.position += 1
    if scan.peek() == "]":
        return
    index = 0
    while True:
        scan.skip_space()
        location = f"item {index} ({scan.where()})"
        try:
            item = scan.decode()
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path} {location} is not valid JSON: {exc.msg}.") from None
        yield location, item
        after = scan.peek()
        if after is None:
            raise InvalidInputError(f"{path} ends inside the JSON array after item {index}: missing ']'.")
        if after == "]":
            return
        if after != ",":
            raise InvalidInputError(
                f"{path} has {after!r} after item {index} ({scan.where()}); expected ',' or ']'."
            )
        scan.position += 1
        index += 1


class _ArrayScanner:
    """JSON text read in chunks, with a position in the current buffer and the line it is on."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._eof = False
        self._line = 1
        self._counted_to = 0
        """The buffer position up to which ``_line`` has counted the newlines."""
        self.position = 0

    def fill(self) -> bool:
        """Append the next chunk (dropping what was consumed); whether there was one."""
        if self._eof:
            return False
        self._count_lines()
        self._counted_to = 0
        chunk = self._text.read(_CHUNK_CHARS)
        self._buffer = self._buffer[self.position :] + chunk
        self.position = 0
        self._eof = not chunk
        return bool(chunk)

    def skip_space(self) -> None:
        """Move past JSON whitespace, reading on as needed."""
        while True:
            while self.position < len(self._buffer) and self._buffer[self.position] in " \t\r\n":
                self.position += 1
            if self.position < len(self._buffer) or not self.fill():
                return

    def peek(self) -> str | None:
        """The next character that is not whitespace, or ``None`` at the end of the text."""
        self.skip_space()
        return self._buffer[self.position] if self.position < len(self._buffer) else None

    def where(self) -> str:
        """The current line, for messages."""
        self._count_lines()
        return f"line {self._line}"

    def _count_lines(self) -> None:
        """Count the newlines up to the position, from where the last count stopped (the position
        only moves forward within a buffer)."""
        self._line += self._buffer.count("\n", self._counted_to, self.position)
        self._counted_to = self.position

    def decode(self) -> Any:
        """Decode the value at the position and move past it.

        :raises json.JSONDecodeError: when the rest of the text does not start with a JSON value.
        """
        while True:
            try:
                item, end = self._decoder.raw_decode(self._buffer, self.position)
            except json.JSONDecodeError:
                if self.fill():
                    continue
                raise
            # A number or literal cut at the chunk boundary decodes short: read on and decode again.
            if end == len(self._buffer) and not self._eof and self.fill():
                continue
            self.position = end
            return item
