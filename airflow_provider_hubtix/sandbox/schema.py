"""The sandbox's ticket property schema and per-input validation (HubSpot's rules and messages)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_hubtix.limits import MAX_VALUE_CHARS

__all__ = [
    "DEFAULT_READ_PROPERTIES",
    "TICKET_PROPERTIES",
    "PropertyDef",
    "invalid_properties_message",
    "property_problem",
    "validate_properties",
]


@dataclass(frozen=True)
class PropertyDef:
    """One ticket property.

    :param options: allowed internal values, or ``None`` for free text.
    :param required: must be set on create.
    """

    options: frozenset[str] | None = None
    required: bool = False


TICKET_PROPERTIES: dict[str, PropertyDef] = {
    "subject": PropertyDef(),
    "content": PropertyDef(),
    "hs_pipeline": PropertyDef(options=frozenset({"0"})),
    "hs_pipeline_stage": PropertyDef(options=frozenset({"1", "2", "3", "4"}), required=True),
    "hs_ticket_priority": PropertyDef(options=frozenset({"LOW", "MEDIUM", "HIGH"})),
    "hs_ticket_category": PropertyDef(),
    "source_type": PropertyDef(),
    "hubspot_owner_id": PropertyDef(),
    "createdate": PropertyDef(),
    "external_id": PropertyDef(),
    "external_ref": PropertyDef(),
}
"""Known properties; the configured unique property is added to these if missing. Extend freely."""

_READ_ONLY_PROPERTIES = frozenset({"hs_object_id", "hs_lastmodifieddate"})

DEFAULT_READ_PROPERTIES = (
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
    "hs_pipeline",
    "hs_pipeline_stage",
    "hs_ticket_category",
    "hs_ticket_priority",
    "subject",
    "content",
)


def validate_properties(
    properties: dict[str, Any], schema: dict[str, PropertyDef], *, creating: bool = True
) -> tuple[dict[str, str], str | None]:
    """Coerce values to strings and check them; return ``(values, error message or None)``.

    :param properties: the input's properties as sent.
    :param schema: the known properties.
    :param creating: the input creates a ticket, so required properties must be set (an update
        leaves the others as they are).
    """
    problems: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    for name, raw in properties.items():
        value, problem = _check_value(name, raw, schema.get(name))
        if problem is not None:
            problems.append(problem)
        else:
            values[name] = value
    for name, definition in schema.items():
        if (
            creating
            and definition.required
            and not values.get(name)
            and name not in {p["name"] for p in problems}
        ):
            problems.append(property_problem(name, "REQUIRED_PROPERTY", f'Property "{name}" is required'))
    if problems:
        return values, invalid_properties_message(problems)
    return values, None


def _check_value(name: str, raw: Any, definition: PropertyDef | None) -> tuple[str, dict[str, Any] | None]:
    """One property's value as HubSpot stores it (a string), or the problem HubSpot reports."""
    if definition is None:
        return "", property_problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if isinstance(raw, bool):
        value = "true" if raw else "false"
    elif isinstance(raw, int | float):
        value = str(raw)
    elif isinstance(raw, str) or raw is None:
        value = raw or ""
    else:
        return "", property_problem(name, "INVALID_STRING", f'Property "{name}" must be a string')
    if len(value) > MAX_VALUE_CHARS:
        message = f'Property "{name}" is longer than {MAX_VALUE_CHARS} characters'
        return "", property_problem(name, "INVALID_STRING", message)
    if definition.options is not None and value and value not in definition.options:
        message = f'{value} was not one of the allowed options for property "{name}"'
        return "", property_problem(name, "INVALID_OPTION", message)
    return value, None


def invalid_properties_message(problems: list[dict[str, Any]]) -> str:
    """HubSpot's message for property problems: the per-property results embedded as JSON.

    :param problems: :func:`property_problem` entries.
    """
    return "Property values were not valid: " + json.dumps(problems, separators=(",", ":"))


def property_problem(name: str, code: str, message: str) -> dict[str, Any]:
    """One per-property result as HubSpot embeds it in a ``VALIDATION_ERROR`` message.

    :param name: the property.
    :param code: HubSpot's code (``PROPERTY_DOESNT_EXIST``, ``INVALID_OPTION`` …).
    :param message: the sentence for this property.
    """
    return {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
    }
