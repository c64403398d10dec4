"""HubSpot's batch response envelope, parsed (plain Python, no Airflow import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchResponse"]


@dataclass
class BatchResponse:
    """What one batch call returned.

    :param status_code: the HTTP status (any 2xx; 207 means some inputs failed).
    :param results: HubSpot's records (``SimplePublicObject``), in HubSpot's order (not the inputs').
    :param errors: HubSpot's per-input errors (``StandardError``), empty when all succeeded.
    :param status: the envelope's ``status`` (``COMPLETE`` …).
    :param attempts: how many times the request was sent.
    :param outcome_uncertain: an earlier attempt of this create failed after it may have reached
        HubSpot, and it was sent again: its inputs may exist twice.
    """

    status_code: int
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: str | None = None
    attempts: int = 1
    outcome_uncertain: bool = False

    @classmethod
    def from_body(cls, status_code: int, body: Any) -> BatchResponse:
        """Parse a 2xx body; tolerate missing keys, reject a body that is not an object.

        :param status_code: the HTTP status.
        :param body: the decoded JSON body.
        """
        if not isinstance(body, dict):
            raise ValueError(f"HubSpot answered {status_code} with a body that is not a JSON object")
        results = body.get("results") or []
        errors = body.get("errors") or []
        return cls(
            status_code=status_code,
            results=[r for r in results if isinstance(r, dict)],
            errors=[e for e in errors if isinstance(e, dict)],
            status=body.get("status"),
        )
