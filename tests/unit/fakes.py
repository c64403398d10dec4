"""A fake HubSpot client with HubSpot's batch semantics, for the jobs' tests (no HTTP)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_hubtix.batch_response import BatchResponse


class FakeFailure(Exception):
    """An exception shaped like the hook's (``stops_run``, ``outcome_unknown``, ``status``)."""

    def __init__(
        self,
        message: str,
        *,
        stops_run: bool = False,
        outcome_unknown: bool = False,
        status: int = 503,
        category: str | None = None,
    ):
        super().__init__(message)
        self.stops_run = stops_run
        self.outcome_unknown = outcome_unknown
        self.status = status
        self.category = category or ("VALIDATION_ERROR" if status == 400 else "SERVER_ERROR")
        self.hubspot_message = message


def embedded(name: str, code: str, message: str) -> str:
    """HubSpot's VALIDATION_ERROR message with one embedded per-property result."""
    problem = {"isValid": False, "message": message, "error": code, "name": name}
    return "Property values were not valid: " + json.dumps([problem])


def duplicate_error(style: str, name: str, value: str) -> dict[str, Any]:
    """A duplicate unique value, worded as the sandbox's ``duplicate_style`` would."""
    if style == "conflict":
        return {"category": "CONFLICT", "message": f"A ticket with {name} {value} already exists"}
    if style == "opaque":
        return {"category": "VALIDATION_ERROR", "message": "Request rejected (reference 0x7f3a)."}
    named = name.replace("_", " ").capitalize() if style == "label" else name
    return {
        "category": "VALIDATION_ERROR",
        "message": embedded(named, "INVALID_PROPERTY_VALUE", f"{value} already has that value"),
    }


class FakeHubSpot:
    """Stores tickets; rejects inputs whose subject starts with "bad" (an opaque message) or that
    carry a property named ``missing`` (HubSpot's embedded ``PROPERTY_DOESNT_EXIST``); shuffles results.

    :param unique_property: values of this property must be unique (rejected in ``duplicate_style``).
    :param duplicate_style: ``hubspot``, ``label``, ``conflict`` or ``opaque``, as in the sandbox.
    :param reject_whole: answer any rejected input by failing the whole batch (400, nothing created),
        as HubSpot does for a batch without trace ids.
    :param failures: exceptions to raise on the next create calls (``None`` entries: answer normally);
        an exception with ``outcome_unknown`` is raised *after* the tickets were stored.
    """

    rate_budget = 100

    def __init__(
        self,
        *,
        unique_property: str | None = None,
        seed: int = 0,
        duplicate_style: str = "hubspot",
        reject_whole: bool = False,
    ) -> None:
        self.unique_property = unique_property
        self.duplicate_style = duplicate_style
        self.reject_whole = reject_whole
        self.tickets: dict[str, dict[str, Any]] = {}
        self.failures: list[Exception | None] = []
        self.read_failures: list[Exception] = []
        self.create_calls = 0
        self.read_calls = 0
        self.sent: list[list[str]] = []
        self.duplicates_rejected = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def batch_create(self, inputs: Sequence[dict[str, Any]], *, resend_unknown: bool = True) -> BatchResponse:
        with self._lock:  # the jobs call from several threads
            return self._create(inputs)

    def _create(self, inputs: Sequence[dict[str, Any]]) -> BatchResponse:
        self.create_calls += 1
        self.sent.append([str(item["properties"].get(self.unique_property or "")) for item in inputs])
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None and not getattr(failure, "outcome_unknown", False):
            raise failure
        results, errors = [], []
        batch_values: set[str] = set()  # a value twice in one batch is a duplicate too
        for item in inputs:
            props = item["properties"]
            error = self._rejection(props, batch_values)
            if error is not None:
                errors.append(
                    {
                        "status": "error",
                        **error,
                        "context": {"objectWriteTraceId": [item["objectWriteTraceId"]]},
                    }
                )
            elif not self.reject_whole:
                results.append(self._store(props))
        if errors and self.reject_whole:
            raise FakeFailure(
                errors[0]["message"], stops_run=True, status=400, category=errors[0]["category"]
            )
        if self.reject_whole:
            results = [self._store(item["properties"]) for item in inputs]
        if failure is not None:
            raise failure
        self._rng.shuffle(results)
        return BatchResponse(207 if errors else 201, results, errors)

    def _rejection(self, props: dict[str, str], batch_values: set[str]) -> dict[str, Any] | None:
        if props.get("subject", "").startswith("bad"):
            return {"category": "VALIDATION_ERROR", "message": "bad subject"}
        if "missing" in props:
            return {
                "category": "VALIDATION_ERROR",
                "message": embedded("missing", "PROPERTY_DOESNT_EXIST", 'Property "missing" does not exist'),
            }
        unique = props.get(self.unique_property or "")
        if not unique:
            return None
        stored = any(t["properties"].get(self.unique_property) == unique for t in self.tickets.values())
        if stored or unique in batch_values:
            self.duplicates_rejected += 1
            return duplicate_error(self.duplicate_style, self.unique_property or "", unique)
        batch_values.add(unique)
        return None

    def _store(self, props: dict[str, str]) -> dict[str, Any]:
        ticket_id = str(len(self.tickets) + 1)
        self.tickets[ticket_id] = {"id": ticket_id, "properties": dict(props)}
        return {"id": ticket_id, "properties": dict(props), "archived": False}

    def batch_read(
        self,
        ids: Iterable[str | int],
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> BatchResponse:
        with self._lock:
            return self._read(ids, id_property)

    def _read(self, ids: Iterable[str | int], id_property: str | None) -> BatchResponse:
        self.read_calls += 1
        if self.read_failures:
            raise self.read_failures.pop(0)
        found, missing = [], []
        for key in map(str, ids):
            if id_property:
                match = [t for t in self.tickets.values() if t["properties"].get(id_property) == key]
            else:
                match = [self.tickets[key]] if key in self.tickets else []
            if match:
                found.append({"id": match[0]["id"], "properties": dict(match[0]["properties"])})
            else:
                missing.append(key)
        errors = (
            [{"category": "OBJECT_NOT_FOUND", "message": "not found", "context": {"ids": missing}}]
            if missing
            else []
        )
        self._rng.shuffle(found)
        return BatchResponse(207 if missing else 200, found, errors)
