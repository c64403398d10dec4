"""A fake HubSpot client with HubSpot's batch semantics, for the jobs' tests (no HTTP)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_hubtix.batch_response import BatchResponse


class FakeFailure(Exception):
    """An exception shaped like the hook's (``stops_run``, ``outcome_unknown``, ``status``)."""

    def __init__(
        self, message: str, *, stops_run: bool = False, outcome_unknown: bool = False, status: int = 503
    ):
        super().__init__(message)
        self.stops_run = stops_run
        self.outcome_unknown = outcome_unknown
        self.status = status
        self.category = "SERVER_ERROR"


class FakeHubSpot:
    """Stores tickets; rejects inputs whose subject starts with "bad"; shuffles results.

    :param unique_property: values of this property must be unique (CONFLICT otherwise).
    :param failures: exceptions to raise on the next create calls (``None`` entries: answer normally);
        an exception with ``outcome_unknown`` is raised *after* the tickets were stored.
    """

    rate_budget = 100

    def __init__(self, *, unique_property: str | None = None, seed: int = 0) -> None:
        self.unique_property = unique_property
        self.tickets: dict[str, dict[str, Any]] = {}
        self.failures: list[Exception | None] = []
        self.create_calls = 0
        self.read_calls = 0
        self._rng = random.Random(seed)

    def batch_create(self, inputs: Sequence[dict[str, Any]], *, resend_unknown: bool = True) -> BatchResponse:
        self.create_calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None and not getattr(failure, "outcome_unknown", False):
            raise failure
        results, errors = [], []
        for item in inputs:
            props = item["properties"]
            trace = {"objectWriteTraceId": [item["objectWriteTraceId"]]}
            unique = props.get(self.unique_property or "")
            if props.get("subject", "").startswith("bad"):
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "bad subject",
                        "context": trace,
                    }
                )
            elif unique and any(
                t["properties"].get(self.unique_property) == unique for t in self.tickets.values()
            ):
                errors.append(
                    {"status": "error", "category": "CONFLICT", "message": "exists", "context": trace}
                )
            else:
                ticket_id = str(len(self.tickets) + 1)
                self.tickets[ticket_id] = {"id": ticket_id, "properties": dict(props)}
                results.append({"id": ticket_id, "properties": dict(props), "archived": False})
        if failure is not None:
            raise failure
        self._rng.shuffle(results)
        return BatchResponse(207 if errors else 201, results, errors)

    def batch_read(
        self,
        ids: Iterable[str | int],
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> BatchResponse:
        self.read_calls += 1
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
