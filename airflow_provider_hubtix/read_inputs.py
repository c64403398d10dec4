"""Validating the ids given to the batch read (plain Python).

An id is a string or an integer, or a record with an ``"id"`` key (create's results chain directly).
With ``id_property`` set, a record's ``properties[id_property]`` (or its ``id_property`` key, as in a
CSV column) is used instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_hubtix.errors import InvalidInputError

__all__ = ["ReadInput", "normalise_read_input"]


@dataclass(slots=True, frozen=True)
class ReadInput:
    """One id to read.

    :param index: 0-based position in the operator's ids.
    :param id: the record id, or the ``id_property`` value.
    """

    index: int
    id: str


def normalise_read_input(
    item: Any, index: int, location: str, *, id_property: str | None = None
) -> ReadInput:
    """Check one id (or record) and return the id to send.

    :param item: the id or record as given.
    :param index: its 0-based position.
    :param location: where it came from, for messages.
    :param id_property: the unique property the ids refer to, or ``None`` for record ids.
    """
    where = f"Id {index} ({location})"
    value = item
    if isinstance(item, Mapping):
        value = _id_from_record(item, id_property)
        if value is None:
            key = id_property or "id"
            raise InvalidInputError(
                f"{where} is a record without {key!r}; give ids, or records with an {key!r} key"
                + (f" or properties.{key}" if id_property else "")
                + "."
            )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(f"{where} is a {type(value).__name__}; ids must be strings or integers.")
    text = str(value).strip()
    if not text:
        raise InvalidInputError(f"{where} is empty; every id must be a non-empty string or an integer.")
    if id_property is None and not text.isdigit():
        raise InvalidInputError(
            f"{where} is {text!r}, which is not a HubSpot record id (digits only). To read by another "
            "unique property, set id_property."
        )
    return ReadInput(index=index, id=text)


def _id_from_record(record: Mapping[str, Any], id_property: str | None) -> Any:
    if id_property is None:
        return record.get("id")
    properties = record.get("properties")
    if isinstance(properties, Mapping) and properties.get(id_property) is not None:
        return properties[id_property]
    return record.get(id_property)
