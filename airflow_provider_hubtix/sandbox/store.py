"""The sandbox's tickets and the batch operations (create, upsert, read), with HubSpot's semantics.

Thread-safety is the caller's (the server holds one lock around each operation). Each operation
returns ``(status, body)``: the HTTP status and the JSON body HubSpot would send.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_provider_hubtix.limits import MAX_BATCH_SIZE, MAX_BATCH_SIZE_WITH_HISTORY
from airflow_provider_hubtix.sandbox.schema import (
    DEFAULT_READ_PROPERTIES,
    TICKET_PROPERTIES,
    PropertyDef,
    invalid_properties_message,
    property_problem,
    validate_properties,
)

__all__ = [
    "DUPLICATE_STYLES",
    "Body",
    "TicketStore",
    "check_duplicate_style",
    "error_body",
]

_FIRST_ID = 1_000_000_001
DUPLICATE_STYLES = ("hubspot", "label", "conflict", "opaque")
"""How a duplicate unique value is reported (HubSpot leaves it undocumented): ``hubspot`` as public
reports show it (a ``VALIDATION_ERROR`` embedding the property's result, "already has that value"),
``conflict`` a ``CONFLICT`` like contacts' email, ``opaque`` a message nobody could recognise."""

Body = dict[str, Any]


def _now_iso() -> str:
    """The current UTC time as HubSpot writes it (milliseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error_body(category: str, message: str, **extra: Any) -> Body:
    """HubSpot's StandardError body for a whole-request error."""
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def _batch_inputs(
    body: Any, shape_problem: Callable[[Any, int], str | None]
) -> tuple[list[Body], Body | None]:
    """A write's ``inputs``, or the 400 body refusing the request (HubSpot checks the shape first)."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return [], error_body("VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a non-empty array.")
    too_many = _too_many_inputs(len(inputs), history=False)
    if too_many is not None:
        return [], error_body("VALIDATION_ERROR", too_many)
    for position, item in enumerate(inputs):
        problem = shape_problem(item, position)
        if problem is not None:
            return [], error_body("VALIDATION_ERROR", problem)
    return inputs, None


def _create_shape_problem(item: Any, position: int) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
        return f"Invalid input JSON: inputs[{position}].properties is required."
    if not isinstance(item.get("associations"), list):
        return f"Invalid input JSON: inputs[{position}].associations is required."
    return None


def check_duplicate_style(style: str) -> str:
    """Return ``style`` if it is one of :data:`DUPLICATE_STYLES`, else raise :class:`ValueError`.

    :param style: the requested style.
    """
    if style not in DUPLICATE_STYLES:
        raise ValueError(f"duplicate_style must be one of {', '.join(DUPLICATE_STYLES)}; got {style!r}")
    return style


class TicketStore:
    """Tickets in memory, indexed by id and by the unique property's value.

    :param unique_property: the property with ``hasUniqueValue`` (``None`` for none).
    :param rng: shuffles results.
    :param duplicate_style: how a duplicate unique value is reported, one of :data:`DUPLICATE_STYLES`.
    """

    def __init__(
        self, unique_property: str | None, rng: random.Random, duplicate_style: str = "hubspot"
    ) -> None:
        self.unique_property = unique_property
        self.duplicate_style = check_duplicate_style(duplicate_style)
        self.schema: dict[str, PropertyDef] = dict(TICKET_PROPERTIES)
        if unique_property:
            self.schema.setdefault(unique_property, PropertyDef())
        self._rng = rng
        self.tickets: dict[str, Body] = {}
        self._by_unique: dict[str, str] = {}
        self._next_id = _FIRST_ID

    def reset(self) -> None:
        """Forget every ticket."""
        self.tickets.clear()
        self._by_unique.clear()
        self._next_id = _FIRST_ID

    def create(self, body: Any) -> tuple[int, Body]:
        """``POST …/tickets/batch/create``."""
        inputs, refusal = _batch_inputs(body, _create_shape_problem)
        if refusal is not None:
            return 400, refusal
        traced = _all_traced(inputs)
        accepted: list[dict[str, str]] = []
        errors: list[Body] = []
        taken: dict[str, str] = {}
        for item in inputs:
            values, problem = validate_properties(item["properties"], self.schema)
            trace = _trace_context(item, traced)
            if problem is not None:
                errors.append(_input_error(problem, trace))
                continue
            conflict = self._conflict(values, taken)
            if conflict is not None:
                errors.append(self._duplicate_error(*conflict, trace))
                continue
            if self.unique_property and values.get(self.unique_property):
                taken[values[self.unique_property]] = "(this batch)"
            accepted.append(values)
        return self._answer(errors, traced, 201, lambda stamp: [self._store(v, stamp) for v in accepted])

    def upsert(self, body: Any) -> tuple[int, Body]:
        """``POST …/tickets/batch/upsert``: create the tickets whose ``id`` no ticket holds in
        ``idProperty``, update the others; results carry ``new``."""
        inputs, refusal = _batch_inputs(body, self._upsert_shape_problem)
        if refusal is not None:
            return 400, refusal
        ids = [item["id"] for item in inputs]
        repeated = sorted(value for value, count in Counter(ids).items() if count > 1)
        if repeated:
            return 400, error_body(
                "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {repeated}. IDs must be unique"
            )
        traced = _all_traced(inputs)
        accepted: list[tuple[dict[str, str], str | None]] = []
        errors: list[Body] = []
        for item in inputs:
            existing = self._by_unique.get(item["id"])
            sent = {**item["properties"], item["idProperty"]: item["id"]}
            values, problem = validate_properties(sent, self.schema, creating=existing is None)
            if problem is not None:
                errors.append(_input_error(problem, _trace_context(item, traced)))
                continue
            accepted.append((values, existing))
        return self._answer(
            errors,
            traced,
            200,
            lambda stamp: [
                {**self._store(values, stamp), "new": True}
                if existing is None
                else {**self._update(existing, values, stamp), "new": False}
                for values, existing in accepted
            ],
        )

    def _answer(
        self, errors: list[Body], traced: bool, ok_status: int, write: Callable[[str], list[Body]]
    ) -> tuple[int, Body]:
        """A write's answer. With a trace id on every input the valid ones are written and the errors
        come per input (207); else the first error refuses the whole batch (400, nothing written)."""
        if errors and not traced:
            first = errors[0]
            return 400, error_body(first["category"], first["message"], context=first.get("context") or {})
        started = _now_iso()
        results = write(started)
        self._rng.shuffle(results)
        envelope: Body = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _now_iso(),
        }
        if not errors:
            return ok_status, envelope
        for error in errors:
            error.setdefault("errors", [])
        envelope.update(numErrors=len(errors), errors=errors)
        return 207, envelope

    def _upsert_shape_problem(self, item: Any, position: int) -> str | None:
        if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
            return f"Invalid input JSON: inputs[{position}].properties is required."
        if not isinstance(item.get("id"), str) or not item["id"]:
            return f"Invalid input JSON: inputs[{position}].id is required."
        if item.get("idProperty") != self.unique_property or not self.unique_property:
            return f"{item.get('idProperty')} is not a unique identifier property"
        if "associations" in item:
            return f"Invalid input JSON: inputs[{position}].associations is not a field of an upsert input."
        return None

    def _update(self, ticket_id: str, values: dict[str, str], stamp: str) -> Body:
        """Set ``values`` on a stored ticket, keeping each changed property's history."""
        ticket = self.tickets[ticket_id]
        properties, history = ticket["properties"], ticket.setdefault("history", {})
        for name, value in values.items():
            old = properties.get(name)
            if old == value:
                continue
            entries = history.setdefault(name, [] if old is None else [(old, ticket["createdAt"])])
            entries.insert(0, (value, stamp))
            properties[name] = value
        properties["hs_lastmodifieddate"] = ticket["updatedAt"] = stamp
        return self.public(ticket, list(properties))

    def _conflict(self, values: dict[str, str], taken: dict[str, str]) -> tuple[str, str, str] | None:
        name = self.unique_property
        value = values.get(name) if name else None
        if not name or not value:
            return None
        existing = self._by_unique.get(value) or taken.get(value)
        return (name, value, existing) if existing else None

    def _duplicate_error(self, name: str, value: str, existing: str, trace: dict[str, list[str]]) -> Body:
        """The per-input error for a unique value another ticket holds, in :attr:`duplicate_style`."""
        if self.duplicate_style == "conflict":
            category = "CONFLICT"
            message = f'A ticket with {name} "{value}" already exists (id {existing})'
            context = {**trace, "propertyName": [name], "existingObjectId": [existing]}
        elif self.duplicate_style == "opaque":
            category, message, context = "VALIDATION_ERROR", "Request rejected (reference 0x7f3a).", trace
        else:  # "label" names the property as the UI does, not by its internal name
            category, context = "VALIDATION_ERROR", trace
            named = name.replace("_", " ").capitalize() if self.duplicate_style == "label" else name
            problem = f'{value} already has that value for the unique property "{named}" (ticket {existing})'
            message = invalid_properties_message([property_problem(named, "INVALID_PROPERTY_VALUE", problem)])
        return {"status": "error", "category": category, "message": message, "context": context}

    def _store(self, values: dict[str, str], stamp: str) -> Body:
        ticket_id = str(self._next_id)
        self._next_id += 1
        properties = {"hs_pipeline": "0", **values}
        properties.update(
            hs_object_id=ticket_id, createdate=values.get("createdate") or stamp, hs_lastmodifieddate=stamp
        )
        ticket = {
            "id": ticket_id,
            "properties": properties,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
        self.tickets[ticket_id] = ticket
        if self.unique_property and values.get(self.unique_property):
            self._by_unique[values[self.unique_property]] = ticket_id
        return self.public(ticket, list(properties))

    @staticmethod
    def public(ticket: Body, properties: Sequence[str], history: Sequence[str] = ()) -> Body:
        """The record as HubSpot returns it: the asked properties (unset ones ``null``)."""
        record: Body = {
            "id": ticket["id"],
            "properties": {name: ticket["properties"].get(name) for name in properties},
            "createdAt": ticket["createdAt"],
            "updatedAt": ticket["updatedAt"],
            "archived": ticket["archived"],
        }
        if ticket["archived"]:
            record["archivedAt"] = ticket.get("archivedAt")
        if history:  # newest first; a property never updated has the value it was created with
            values, changes = ticket["properties"], ticket.get("history", {})
            record["propertiesWithHistory"] = {
                name: [
                    {"value": value, "timestamp": stamp, "sourceType": "API", "sourceId": "sandbox"}
                    for value, stamp in changes.get(name) or [(values[name], ticket["createdAt"])]
                ]
                for name in history
                if name in values
            }
        return record

    def read(self, body: Any, archived: bool) -> tuple[int, Body]:
        """``POST …/tickets/batch/read``."""
        problem = self._read_problem(body)
        if problem is not None:
            return 400, error_body("VALIDATION_ERROR", problem)
        id_property = body.get("idProperty")
        properties = body["properties"] or list(DEFAULT_READ_PROPERTIES)
        results: list[Body] = []
        missing: list[str] = []
        seen: set[str] = set()
        for item in body["inputs"]:
            key = str(item.get("id")) if isinstance(item, dict) else ""
            if key in seen:
                continue
            seen.add(key)
            ticket_id = self._by_unique.get(key) if id_property else key
            ticket = self.tickets.get(ticket_id or "")
            if ticket is None or ticket["archived"] != archived:
                missing.append(key)
                continue
            results.append(self.public(ticket, properties, body["propertiesWithHistory"]))
        self._rng.shuffle(results)
        return _read_answer(results, missing)

    def _read_problem(self, body: Any) -> str | None:
        """Why HubSpot refuses a batch read as a whole (400), or ``None``."""
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            return "Invalid input JSON: 'inputs' must be an array."
        for key in ("properties", "propertiesWithHistory"):
            if not isinstance(body.get(key), list):
                return f"Invalid input JSON: '{key}' is required."
        too_many = _too_many_inputs(len(body["inputs"]), history=bool(body["propertiesWithHistory"]))
        if too_many is not None:
            return too_many
        id_property = body.get("idProperty")
        if id_property and id_property != self.unique_property:
            return f"{id_property} is not a unique identifier property"
        return None

    def list_page(self, limit: int) -> Body:
        """``GET …/tickets?limit=N``: the first active tickets."""
        active = list(
            itertools.islice((t for t in self.tickets.values() if not t["archived"]), max(limit, 0))
        )
        body: Body = {"results": [self.public(t, DEFAULT_READ_PROPERTIES) for t in active]}
        if len(self.tickets) > len(active):
            body["paging"] = {"next": {"after": str(len(active))}}
        return body

    def archive(self, ticket_id: str) -> None:
        """Archive one ticket (it then reads only with ``archived=true``)."""
        ticket = self.tickets[ticket_id]
        ticket["archived"] = True
        ticket["archivedAt"] = _now_iso()


def _too_many_inputs(count: int, *, history: bool) -> str | None:
    """HubSpot's message for a batch over its limit (100 inputs, 50 with history), or ``None``."""
    if count > MAX_BATCH_SIZE:
        return f"The maximum number of inputs supported in a batch request is {MAX_BATCH_SIZE}"
    if history and count > MAX_BATCH_SIZE_WITH_HISTORY:
        return (
            "The maximum number of inputs supported in a batch request for property histories is "
            f"{MAX_BATCH_SIZE_WITH_HISTORY}"
        )
    return None


def _read_answer(results: list[Body], missing: list[str]) -> tuple[int, Body]:
    """A batch read's answer: 200, or 207 with one OBJECT_NOT_FOUND error naming the missing ids."""
    envelope: Body = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": _now_iso(),
        "completedAt": _now_iso(),
    }
    if not missing:
        return 200, envelope
    envelope.update(
        numErrors=1,
        errors=[
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some TICKET objects, they may be deleted or not exist. "
                "Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
            }
        ],
    )
    return 207, envelope


def _all_traced(inputs: list[dict[str, Any]]) -> bool:
    """Whether every input carries an ``objectWriteTraceId`` (then one bad input fails alone)."""
    return all(isinstance(item.get("objectWriteTraceId"), str) for item in inputs)


def _trace_context(item: dict[str, Any], traced: bool) -> dict[str, list[str]]:
    """The ``context`` of an input's error: its trace id, when every input carries one."""
    return {"objectWriteTraceId": [item["objectWriteTraceId"]]} if traced else {}


def _input_error(problem: str, context: dict[str, list[str]]) -> Body:
    """One input's ``VALIDATION_ERROR``."""
    return {"status": "error", "category": "VALIDATION_ERROR", "message": problem, "context": context}
