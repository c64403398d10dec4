"""HubSpot's limits on a batch call and its rate window, and the validators of the numbers a user
gives (plain Python).

Every other module takes these from here, so each limit is written once.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hubtix.errors import InvalidInputError

__all__ = [
    "MAX_BATCH_SIZE",
    "MAX_BATCH_SIZE_WITH_HISTORY",
    "MAX_VALUE_CHARS",
    "SMALLEST_RATE_TIER",
    "WINDOW_SECONDS",
    "check_batch_size",
    "check_inputs_per_request",
    "check_positive",
]

MAX_BATCH_SIZE = 100
"""Inputs per batch create, upsert or read request."""
MAX_BATCH_SIZE_WITH_HISTORY = 50
"""Inputs per batch read request that asks for properties with history."""
MAX_VALUE_CHARS = 65_536
"""Characters in one property value."""
SMALLEST_RATE_TIER = 100
"""Requests per rolling window of HubSpot's smallest tier (Free/Starter private apps)."""
WINDOW_SECONDS = 10.0
"""The rolling window's length, until ``X-HubSpot-RateLimit-Interval-Milliseconds`` tells."""


def check_batch_size(batch_size: Any, limit: int = MAX_BATCH_SIZE) -> int:
    """Reject a ``batch_size`` parameter HubSpot would refuse; return it.

    :param batch_size: the requested size.
    :param limit: HubSpot's limit for this call.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= limit:
        raise InvalidInputError(f"batch_size must be an integer from 1 to {limit}; got {batch_size!r}.")
    return batch_size


def check_inputs_per_request(count: int, limit: int, what: str) -> None:
    """Reject a request with more inputs than HubSpot takes in one call (or none).

    :param count: inputs in the request.
    :param limit: HubSpot's limit for this call.
    :param what: the call, for the message (``batch create``).
    """
    if not 1 <= count <= limit:
        raise InvalidInputError(
            f"A HubSpot {what} takes 1 to {limit} inputs; got {count}. Split the inputs into chunks of "
            f"at most {limit} (the operators do this for you)."
        )


def check_positive(value: Any, name: str) -> int:
    """Reject anything but a positive integer; return it.

    :param value: the given value.
    :param name: the parameter, for the message.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer; got {value!r}.")
    return value
