"""Validating and normalising write inputs into HubSpot's batch-create and batch-upsert shapes.

An input is HubSpot's shape ``{"properties": {...}, "associations": [...], "objectWriteTraceId": "…"}``
or a plain properties dict. Values are turned into the strings HubSpot stores (booleans as
``"true"``/``"false"``); ``None`` values are left out; nested objects are rejected. Create and upsert
check inputs alike; an upsert input takes no associations, and its ``id`` is its own ``id_property``
value. Plain Python, no Airflow import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.limits import MAX_VALUE_CHARS

__all__ = [
    "WriteInput",
    "check_create_input",
    "check_upsert_input",
    "normalise_create_input",
    "normalise_upsert_input",
]

_SHAPE_KEYS = frozenset({"properties", "associations", "objectWriteTraceId"})


@dataclass(slots=True)
class WriteInput:
    """One create or upsert input, ready to send.

    :param index: 0-based position in the operator's inputs.
    :param original: the input as given, echoed in error records.
    :param payload: HubSpot's create or upsert shape, with an ``objectWriteTraceId`` unique within the run.
    """

    index: int
    original: Any
    payload: dict[str, Any]

    @property
    def properties(self) -> dict[str, str]:
        """The properties that are sent."""
        props: dict[str, str] = self.payload["properties"]
        return props

    @property
    def trace_id(self) -> str:
        """The ``objectWriteTraceId`` HubSpot echoes in this input's errors."""
        trace_id: str = self.payload["objectWriteTraceId"]
        return trace_id


def normalise_create_input(
    item: Any, index: int, location: str, *, trace_prefix: str, id_property: str | None = None
) -> WriteInput:
    """Check one create input and return it in HubSpot's shape.

    :param item: the input as given.
    :param index: its 0-based position.
    :param location: where it came from ("item 3", "line 17"), for messages.
    :param trace_prefix: prefix of generated trace ids, unique per run.
    :param id_property: a unique-value property every input must carry, or ``None``.
    """
    properties, associations, trace_id = _checked(item, index, location, id_property)
    payload = {
        "properties": properties,
        "associations": associations,
        "objectWriteTraceId": trace_id or f"{trace_prefix}-{index}",
    }
    return WriteInput(index, item, payload)  # positional: cheaper, and this runs once per input


def normalise_upsert_input(
    item: Any, index: int, location: str, *, trace_prefix: str, id_property: str
) -> WriteInput:
    """Check one upsert input and return it in HubSpot's upsert shape (``id`` = its ``id_property``
    value, which stays among the properties so that HubSpot's result echoes it).

    :param item: the input as given.
    :param index: its 0-based position.
    :param location: where it came from, for messages.
    :param trace_prefix: prefix of generated trace ids, unique per run.
    :param id_property: the unique-value property every input carries.
    """
    properties, _, trace_id = _checked_upsert(item, index, location, id_property)
    payload = {
        "id": properties[id_property],
        "idProperty": id_property,
        "properties": properties,
        "objectWriteTraceId": trace_id or f"{trace_prefix}-{index}",
    }
    return WriteInput(index, item, payload)


def check_create_input(item: Any, index: int, location: str, *, id_property: str | None = None) -> str:
    """Check one create input like :func:`normalise_create_input`, without building it.

    :param item: the input as given.
    :param index: its 0-based position.
    :param location: where it came from, for messages.
    :param id_property: a unique-value property every input must carry, or ``None``.
    :return: the input's ``id_property`` value, or ``""`` without ``id_property``.
    """
    properties = _checked(item, index, location, id_property)[0]
    return properties[id_property] if id_property else ""


def check_upsert_input(item: Any, index: int, location: str, *, id_property: str) -> str:
    """Check one upsert input like :func:`normalise_upsert_input`, without building it.

    :param item: the input as given.
    :param index: its 0-based position.
    :param location: where it came from, for messages.
    :param id_property: the unique-value property every input carries.
    :return: the input's ``id_property`` value.
    """
    return _checked_upsert(item, index, location, id_property)[0][id_property]


def _checked_upsert(
    item: Any, index: int, location: str, id_property: str
) -> tuple[dict[str, str], list[Any], str | None]:
    """:func:`_checked`, refusing associations: HubSpot's upsert cannot set them."""
    checked = _checked(item, index, location, id_property)
    if checked[1]:
        raise InvalidInputError(
            f"{_where(index, location)} has associations; a HubSpot upsert cannot set them. Remove "
            "'associations' (or leave it empty) and associate the tickets in a separate step."
        )
    return checked


def _checked(
    item: Any, index: int, location: str, id_property: str | None
) -> tuple[dict[str, str], list[Any], str | None]:
    """The checked properties, a copy of the associations and the given trace id, or raise."""
    raw_properties, associations, trace_id = _parts(item, _where(index, location))
    properties: dict[str, str] = {}
    for name, value in raw_properties.items():
        if type(value) is str and type(name) is str and name and len(value) <= MAX_VALUE_CHARS:
            properties[name] = value  # the common case without a call: ~3 us per ticket at the ceiling
            continue
        checked = _property_value(index, location, name, value)
        if checked is not None:
            properties[name] = checked
    if not properties:
        raise InvalidInputError(
            f"{_where(index, location)} has no properties; a ticket needs at least hs_pipeline_stage."
        )
    if id_property and not properties.get(id_property):
        raise InvalidInputError(
            f"{_where(index, location)} has no value for id_property {id_property!r}; every input must carry "
            "its unique external id (it tells which ticket the input is)."
        )
    return properties, list(associations), trace_id


def _parts(item: Any, where: str) -> tuple[Mapping[Any, Any], list[Any], str | None]:
    """An input's raw properties, associations and trace id (a plain properties dict, or HubSpot's
    shape), each checked for its type (``dict`` first: a plain dict skips the ABC check, ~1 us per
    ticket at the ceiling)."""
    if not isinstance(item, dict | Mapping):
        raise InvalidInputError(
            f"{where} is a {type(item).__name__}; each input must be an object: "
            'a properties dict or {"properties": {...}, "associations": [...]}.'
        )
    if "properties" not in item:
        return item, [], None
    unknown = set(item) - _SHAPE_KEYS
    if unknown:
        raise InvalidInputError(
            f"{where} has unexpected keys {sorted(unknown)}; an input in HubSpot's "
            "shape takes only properties, associations and objectWriteTraceId."
        )
    raw_properties, associations = item["properties"], item.get("associations", [])
    trace_id = item.get("objectWriteTraceId")
    if not isinstance(raw_properties, dict | Mapping):
        raise InvalidInputError(
            f"{where}: 'properties' must be an object; got {type(raw_properties).__name__}."
        )
    if not isinstance(associations, list) or not all(isinstance(a, Mapping) for a in associations):
        raise InvalidInputError(f"{where}: 'associations' must be a list of association objects.")
    if trace_id is not None and not isinstance(trace_id, str):
        raise InvalidInputError(f"{where}: 'objectWriteTraceId' must be a string.")
    return raw_properties, associations, trace_id


def _where(index: int, location: str) -> str:
    return f"Input {index} ({location})"


def _property_value(index: int, location: str, name: Any, value: Any) -> str | None:
    where = _where(index, location)
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{where} has a property name {name!r}; names must be non-empty strings.")
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{where}: property {name!r} is a {type(value).__name__}; HubSpot property values are "
            "strings, numbers or booleans (join multi-select values with ';')."
        )
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidInputError(
            f"{where}: property {name!r} has {len(value):,} characters; HubSpot stores at most "
            f"{MAX_VALUE_CHARS:,}."
        )
    return value
