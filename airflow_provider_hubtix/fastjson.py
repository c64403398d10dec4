"""JSON through orjson where it gives exactly the ``json`` module's answer, else through ``json``.

orjson parses and writes JSON several times faster than the standard library, which matters when
every ticket is parsed from the inputs twice (validation, then sending), decoded from HubSpot's
answer and written to ``results.jsonl``. It differs from ``json`` in a few corners, and each one
is routed to ``json`` so that values, error messages and written lines stay the same:

- it reads integers beyond 64 bits as floats: text with a run of 19 or more digits is parsed by
  ``json`` (which keeps them exact);
- it rejects ``NaN``, ``Infinity``, numbers that overflow a float and lone surrogates, which
  ``json`` accepts: what orjson rejects is parsed again by ``json`` (which also raises the same
  ``JSONDecodeError`` as before for invalid text);
- it writes floats below 1e-4 in another spelling (``0.00001`` for ``1e-05``, ``1.5e-7`` for
  ``1.5e-07``) and refuses non-string keys: such lines are written by ``json``. A line is suspected
  of such a float where it holds ``0.0000`` or a number spelt with ``e-``, so text like
  ``"e-mail"``, ``"re-open"`` or ``"cpu-12e-7"`` keeps orjson's line.

:func:`dumps_line` is meant for data decoded from JSON (plus ints and booleans). Two differences
are not routed there: a ``NaN`` or infinite float (only possible when the text held the non-JSON
literals) is written as ``null`` rather than ``NaN`` / ``Infinity``, and an ``enum.Enum`` member by
its value rather than its ``str()``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["dumps_bytes", "dumps_line", "loads"]

_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
"""A run of digits orjson may read as a float (an integer beyond 64 bits), once digits are zeros."""
_NUMBER_WITH_E_MINUS = re.compile(rb"[:,\[]-?[0-9.]+e-")
"""A number spelt with ``e-`` (``1.5e-7``) where a value starts inside compact orjson output: text
such as ``"e-mail"`` or ``"cpu-12e-7"`` is not one; a string that looks like JSON (``"a:1e-5"``) is
taken for one, which only costs json's slower line. (No ``^`` alternative: it makes every search
about 3x slower; a line that is not an object or array is left to json instead.)"""
_PLAIN_TYPES_ONLY = (
    orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def loads(text: str | bytes) -> Any:
    """Parse JSON text exactly like :func:`json.loads`: the same value, or the same error.

    :param text: the JSON text (bytes are read as UTF-8).
    :raises json.JSONDecodeError: when the text is not valid JSON.
    """
    data = text.encode(errors="surrogatepass") if isinstance(text, str) else text
    if _LONG_DIGITS not in data.translate(_DIGITS_AS_ZEROS):  # a C-speed scan; a regex costs 8x
        try:
            return orjson.loads(data)  # the bytes already made: orjson would encode a str again
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dumps_line(record: Any) -> bytes:
    """One JSON line (compact, UTF-8 characters unescaped, ``str()`` of anything else) plus ``"\\n"``,
    encoded as UTF-8.

    The same bytes as ``json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)``
    writes to a text file opened with ``encoding="utf-8"``, for data decoded from JSON (see the
    module's notes for the two exceptions).

    :param record: the value to write.
    :raises UnicodeEncodeError: for a string holding a lone surrogate, as the text file would.
    """
    line = _orjson_line(record)
    return (_LINE_ENCODER.encode(record) + "\n").encode() if line is None else line


def _orjson_line(record: Any) -> bytes | None:
    """orjson's line for ``record``, or ``None`` where it may differ from the json module's."""
    try:
        line = orjson.dumps(record, default=_refuse, option=_PLAIN_TYPES_ONLY | orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # not plain JSON data (non-string keys, datetimes …): json's own rules
        return None
    if b"0.0000" in line or (b"e-" in line and (line[:1] not in b"{[" or _NUMBER_WITH_E_MINUS.search(line))):
        return None  # maybe a float below 1e-4
    return line


def dumps_bytes(value: Any) -> bytes | None:
    """Compact JSON bytes of a request body or an input, or ``None`` where only ``json`` can tell.

    ``None`` (encode with ``json.dumps(value, allow_nan=False)``, as requests does, which raises for
    NaN) for a body holding ``null`` (orjson writes NaN as ``null``), an integer beyond 64 bits or a
    value that is not plain JSON data.

    :param value: plain JSON data.
    """
    try:
        data = orjson.dumps(value, default=_refuse, option=_PLAIN_TYPES_ONLY)
    except TypeError:
        return None
    return None if b"null" in data else data


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is left to the json module")
