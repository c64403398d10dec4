"""The error model: what can go wrong talking to HubSpot, as exceptions a DAG author can catch.

Every class subclasses :class:`HubSpotError`, an :class:`~airflow.exceptions.AirflowException` (and
the core's Airflow-free :class:`~airflow_provider_hubtix.errors.HubtixError`), and carries HubSpot's
``status``, ``category``, ``correlation_id`` and message. None of them ever contains the token.
Invalid input is :class:`HubSpotInputError`, which also fails the task without Airflow retries;
:func:`input_errors` is the one place where the core's ``InvalidInputError`` becomes it.

Three attributes tell the batch engine what to do with a failure without it importing Airflow:

* ``stops_run``: the failure concerns every batch (credentials, scopes, daily limit, wrong base
  URL): stop sending, account for what is left, fail the task.
* ``outcome_unknown``: the request may have reached HubSpot before it failed, so a create may have
  happened.
* ``never_sent``: the request was held back before it left, so its inputs were not attempted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_hubtix.errors import HubtixError, InvalidInputError

__all__ = [
    "MAX_MESSAGE_CHARS",
    "HubSpotAuthError",
    "HubSpotConnectionError",
    "HubSpotDailyLimitError",
    "HubSpotDailyReserveError",
    "HubSpotError",
    "HubSpotInputError",
    "HubSpotMissingScopesError",
    "HubSpotNotFoundError",
    "HubSpotOutcomeUnknownError",
    "HubSpotRateLimitError",
    "HubSpotRecordsFailedError",
    "HubSpotRetryableError",
    "HubSpotServerError",
    "HubSpotValidationError",
    "input_errors",
]

MAX_MESSAGE_CHARS = 500
"""How much of HubSpot's own message an error quotes at most."""


class HubSpotError(HubtixError, AirflowException):
    """Root of the provider's errors: a request to HubSpot failed, or what it was asked was wrong.

    :param message: the full sentence shown to the user.
    :param status: the HTTP status, when HubSpot answered.
    :param category: HubSpot's error category (``VALIDATION_ERROR``, ``RATE_LIMIT``, …) or ours.
    :param correlation_id: HubSpot's ``correlationId``, to quote to HubSpot support.
    :param hubspot_message: HubSpot's own ``message``.
    :param context: HubSpot's ``context`` map, when it sent one.
    """

    stops_run: bool = False
    outcome_unknown: bool = False
    never_sent: bool = False
    default_category: str = "HUBSPOT_ERROR"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
        hubspot_message: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category or self.default_category
        self.correlation_id = correlation_id
        self.hubspot_message = hubspot_message
        self.context: dict[str, Any] = dict(context or {})


class HubSpotAuthError(HubSpotError):
    """401: the access token is missing, wrong or expired (and could not be refreshed)."""

    stops_run = True
    default_category = "INVALID_AUTHENTICATION"


class HubSpotMissingScopesError(HubSpotAuthError):
    """403: the token's app lacks a scope; :attr:`scopes` lists those HubSpot asked for."""

    default_category = "MISSING_SCOPES"

    def __init__(self, message: str, *, scopes: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scopes = list(scopes)


class HubSpotRateLimitError(HubSpotError):
    """429: the rolling 10-second limit was hit; :attr:`retry_after` says how long to wait."""

    default_category = "RATE_LIMIT"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class HubSpotDailyLimitError(HubSpotRateLimitError):
    """429 with policy ``DAILY``: nothing more can be sent until the account's daily reset."""

    stops_run = True


class HubSpotDailyReserveError(HubSpotDailyLimitError):
    """The account's daily requests left came down to ``daily_reserve``: the request was held back.

    The rest of the daily limit is left to the account's other integrations until the daily reset.
    """

    never_sent = True
    default_category = "DAILY_RESERVE"


class HubSpotValidationError(HubSpotError):
    """400: HubSpot rejected the whole request; nothing in it was written.

    Every input carries its own ``objectWriteTraceId`` and is checked before sending, so a 400 on a
    whole batch comes from the request's shape, which every other batch shares: the run stops.
    """

    stops_run = True
    default_category = "VALIDATION_ERROR"


class HubSpotNotFoundError(HubSpotError):
    """404 on an endpoint: the base URL or ``api_version`` of the connection is wrong."""

    stops_run = True
    default_category = "NOT_FOUND"


class HubSpotRetryableError(HubSpotError):
    """A transient failure (423, 5xx, network) that the retry policy may try again."""

    default_category = "TRANSIENT_ERROR"

    def __init__(
        self, message: str, *, outcome_unknown: bool = False, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after


class HubSpotServerError(HubSpotRetryableError):
    """5xx or 423 from HubSpot."""

    default_category = "SERVER_ERROR"


class HubSpotConnectionError(HubSpotRetryableError):
    """No answer: the connection failed, dropped or timed out."""

    default_category = "CONNECTION_ERROR"


class HubSpotOutcomeUnknownError(HubSpotError):
    """A create request may have reached HubSpot but its answer was lost.

    Raised instead of retrying when the caller asked not to re-send blindly (duplicate-safe create):
    the caller checks which inputs exist before creating the rest.
    """

    outcome_unknown = True
    default_category = "OUTCOME_UNKNOWN"


class HubSpotInputError(HubSpotError, AirflowFailException):
    """The input (operator argument, connection or hook call) is invalid; nothing about it was sent.

    Retrying the task cannot help, so it fails without Airflow retries and stops a run.
    """

    stops_run = True
    default_category = "INVALID_INPUT"


class HubSpotRecordsFailedError(HubSpotError, AirflowFailException):
    """Some inputs ended in errors (``fail_on_error=True``); every output was written first.

    It fails the task without Airflow retries: re-sending the same inputs gets the same answer, and
    without ``id_property`` a retry would create the successful ones again.
    """

    default_category = "RECORDS_FAILED"


def as_input_error(exc: BaseException, where: str) -> BaseException:
    """``exc`` as the Airflow-facing error: an :class:`InvalidInputError` becomes a
    :class:`HubSpotInputError` whose message starts with ``where``; anything else is returned as is.

    :param exc: what was raised.
    :param where: who was given the input (``"Task 'create':"``, ``"HubSpotTicketsHook:"``).
    """
    if isinstance(exc, InvalidInputError):
        return HubSpotInputError(f"{where} {exc}")
    return exc


@contextmanager
def input_errors(where: str) -> Iterator[None]:
    """Raise an :class:`InvalidInputError` from the block as :class:`HubSpotInputError` (see
    :func:`as_input_error`).

    :param where: who was given the input, starting the message.
    """
    try:
        yield
    except InvalidInputError as exc:
        raise as_input_error(exc, where) from None
