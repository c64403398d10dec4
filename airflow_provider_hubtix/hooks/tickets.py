"""HubSpotTicketsHook: a HubSpot connection turned into batch create / upsert / read calls."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_hubtix import fastjson
from airflow_provider_hubtix.batch_response import BatchResponse
from airflow_provider_hubtix.daily_budget import DEFAULT_DAILY_RESERVE, DailyBudget, DailyReserve
from airflow_provider_hubtix.exceptions import HubSpotError, HubSpotInputError, input_errors
from airflow_provider_hubtix.hooks.oauth import OAuthCredentials
from airflow_provider_hubtix.hooks.transport import DEFAULT_TIMEOUT_SECONDS, HubSpotTransport, RetryPolicy
from airflow_provider_hubtix.inputs import as_list, as_names
from airflow_provider_hubtix.limits import (
    MAX_BATCH_SIZE,
    MAX_BATCH_SIZE_WITH_HISTORY,
    check_inputs_per_request,
    check_positive,
)
from airflow_provider_hubtix.ratelimit import AUTO_MAX_CONCURRENCY, RateLimiter
from airflow_provider_hubtix.shared_window import shared_window_for

__all__ = ["API_VERSIONS", "DEFAULT_BASE_URL", "ConnectionSettings", "HubSpotTicketsHook"]

DEFAULT_BASE_URL = "https://api.hubapi.com"
_HOOK = "HubSpotTicketsHook:"
API_VERSIONS = {
    "v3": "/crm/v3/objects/tickets",
    "2026-03": "/crm/objects/2026-03/tickets",
}


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook reads from the Airflow connection.

    :param base_url: scheme and host.
    :param access_token: the bearer token (may be empty with OAuth refresh credentials).
    :param api_version: ``v3`` or ``2026-03``.
    :param requests_per_10s: the connection's rate budget, or ``None`` to learn it.
    :param timeout: seconds to wait for one answer.
    :param oauth: refresh credentials, or ``None``.
    :param daily_reserve: requests of the account's daily limit to leave unused.
    :param share_rate_limit: whether the processes on this machine that use the same app share one
        picture of the rate window (see ``shared_window.py``).
    """

    base_url: str
    access_token: str
    api_version: str
    requests_per_10s: int | None
    timeout: float
    oauth: OAuthCredentials | None
    daily_reserve: DailyReserve
    share_rate_limit: bool = True

    @property
    def credentials(self) -> str:
        """What identifies the app whose rate window the requests count in (never logged)."""
        if self.oauth is not None:
            return f"oauth\n{self.oauth.client_id}\n{self.oauth.refresh_token}"
        return self.access_token


class HubSpotTicketsHook(BaseHook):
    """Batch create, upsert and read HubSpot tickets through an Airflow connection of type ``hubspot``.

    The connection's ``password`` is the access token (private-app token, service key or OAuth access
    token) and its ``host`` the base URL (default ``https://api.hubapi.com``; scheme required).
    Extras, all optional: ``api_version`` (``v3`` default, or ``2026-03``), ``requests_per_10s``,
    ``timeout``, ``daily_reserve`` (default ``"5%"``), ``share_rate_limit`` (default ``true``: the
    processes on this machine that use the same app share one picture of the rate window) and
    ``client_id`` / ``client_secret`` /
    ``refresh_token``. When the three OAuth extras are set they win over an expired or missing
    ``password``: the hook refreshes the access token through ``/oauth/2026-03/token``
    (``/oauth/v1/token`` only if that answers 404) on the first 401 and before it expires, and goes
    on (see :mod:`~airflow_provider_hubtix.hooks.oauth`). ``requests_per_10s`` and ``daily_reserve``
    given to the hook win over the connection's.

    :param hubspot_conn_id: the connection id.
    :param requests_per_10s: rate budget overriding the connection's.
    :param daily_reserve: requests of the account's daily limit to leave unused (an integer or
        ``"N%"`` of ``X-HubSpot-RateLimit-Daily``; ``0`` off), overriding the connection's.
    :param max_concurrency: requests in flight at most, the HTTP connections kept open (``None``:
        enough for automatic concurrency).
    :param retry_policy: how to retry transient failures (see the transport's table).
    :param rate_limiter: share one limiter between hooks; default: one per hook.

    .. seealso:: README.md, sections "Connection" and "Errors".
    """

    conn_name_attr = "hubspot_conn_id"
    default_conn_name = "hubspot_default"
    conn_type = "hubspot"
    hook_name = "HubSpot"

    def __init__(
        self,
        hubspot_conn_id: str = default_conn_name,
        *,
        requests_per_10s: int | None = None,
        max_concurrency: int | None = None,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        daily_reserve: int | str | None = None,
    ) -> None:
        super().__init__()
        self.hubspot_conn_id = hubspot_conn_id
        self.requests_per_10s = requests_per_10s
        self.daily_reserve = None if daily_reserve is None else _daily_reserve(daily_reserve, _HOOK)
        self.max_concurrency = max_concurrency or AUTO_MAX_CONCURRENCY
        self.retry_policy = retry_policy or RetryPolicy()
        self._rate_limiter = rate_limiter

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, parsed and validated (tokens registered for masking)."""
        conn = self.get_connection(self.hubspot_conn_id)
        extra = _extra_dict(conn.extra, self.hubspot_conn_id)
        host = (conn.host or DEFAULT_BASE_URL).strip()
        if "://" not in host:
            raise HubSpotInputError(
                f"Connection {self.hubspot_conn_id!r} has host {host!r} without a scheme: use e.g. "
                "'https://api.hubapi.com' or 'http://127.0.0.1:8765' for the sandbox."
            )
        api_version = str(extra.get("api_version") or "v3")
        if api_version not in API_VERSIONS:
            raise HubSpotInputError(
                f"Connection {self.hubspot_conn_id!r} has extra api_version {api_version!r}; "
                f"use one of {', '.join(API_VERSIONS)}."
            )
        oauth = None
        if all(extra.get(k) for k in ("client_id", "client_secret", "refresh_token")):
            oauth = OAuthCredentials(
                str(extra["client_id"]), str(extra["client_secret"]), str(extra["refresh_token"])
            )
            mask_secret(oauth.client_secret)
            mask_secret(oauth.refresh_token)
        token = conn.password or ""
        if token:
            mask_secret(token)
        elif oauth is None:
            raise HubSpotInputError(
                f"Connection {self.hubspot_conn_id!r} has no access token: put the HubSpot private-app "
                "token, service key or OAuth access token in its 'Access token' (password) field."
            )
        return ConnectionSettings(
            base_url=host.rstrip("/"),
            access_token=token,
            api_version=api_version,
            requests_per_10s=_extra_positive_int(
                extra.get("requests_per_10s"), "requests_per_10s", self.hubspot_conn_id
            ),
            timeout=float(extra.get("timeout") or DEFAULT_TIMEOUT_SECONDS),
            oauth=oauth,
            daily_reserve=_daily_reserve(
                _or_default(extra.get("daily_reserve"), DEFAULT_DAILY_RESERVE),
                f"Connection {self.hubspot_conn_id!r}: extra",
            ),
            share_rate_limit=_extra_bool(
                extra.get("share_rate_limit"), True, "share_rate_limit", self.hubspot_conn_id
            ),
        )

    @cached_property
    def daily_budget(self) -> DailyBudget:
        """Keeps the daily reserve for every request of this hook (see ``daily_budget.py``)."""
        return DailyBudget(self.daily_reserve or self.settings.daily_reserve)

    @cached_property
    def transport(self) -> HubSpotTransport:
        """The HTTP transport (session, retries, rate limiter) built from :attr:`settings`."""
        settings = self.settings
        limiter = self._rate_limiter or self._new_rate_limiter(settings)
        return HubSpotTransport(
            settings.base_url,
            settings.access_token,
            conn_id=self.hubspot_conn_id,
            timeout=settings.timeout,
            max_concurrency=self.max_concurrency,
            retry_policy=self.retry_policy,
            rate_limiter=limiter,
            daily_budget=self.daily_budget,
            oauth=settings.oauth,
            on_new_token=mask_secret,
        )

    def _new_rate_limiter(self, settings: ConnectionSettings) -> RateLimiter:
        """This hook's limiter, sharing its picture of the window with the machine's other processes
        that use the same app unless the connection says not to."""
        budget = self.requests_per_10s or settings.requests_per_10s
        share = settings.share_rate_limit
        shared = shared_window_for(settings.base_url, settings.credentials, budget) if share else None
        return RateLimiter(budget, shared=shared)

    @property
    def rate_budget(self) -> int:
        """Requests per 10 s this hook may send: as configured, else as HubSpot's headers tell."""
        return self.transport.rate_limiter.budget

    def get_conn(self) -> HubSpotTransport:
        """Return the transport (Airflow's conventional accessor)."""
        return self.transport

    @property
    def objects_path(self) -> str:
        """The tickets path for the connection's API version."""
        return API_VERSIONS[self.settings.api_version]

    def batch_create(
        self, inputs: Sequence[Mapping[str, Any]], *, resend_unknown: bool = True
    ) -> BatchResponse:
        """Create up to 100 tickets in one call (``POST …/tickets/batch/create``).

        Inputs are sent as given (HubSpot's shape: ``properties``, ``associations``,
        ``objectWriteTraceId``); give each a unique ``objectWriteTraceId`` to get per-input errors
        (207) instead of a whole-batch 400.

        :param inputs: 1 to 100 create inputs.
        :param resend_unknown: re-send after a failure whose outcome is unknown (may duplicate);
            ``False`` raises :class:`~airflow_provider_hubtix.exceptions.HubSpotOutcomeUnknownError`.
        :return: the parsed response; 207 is a response, not an exception.
        """
        return self._write("create", inputs, idempotent=False, resend_unknown=resend_unknown)

    def batch_upsert(self, inputs: Sequence[Mapping[str, Any]]) -> BatchResponse:
        """Create or update up to 100 tickets by a unique property (``POST …/tickets/batch/upsert``).

        Inputs are sent as given (HubSpot's shape: ``id`` = the unique value, ``idProperty``,
        ``properties``, ``objectWriteTraceId``; no associations). An upsert can be re-sent safely, so
        lost answers and 5xx are retried like a read's. Each result carries ``"new": true|false``.

        :param inputs: 1 to 100 upsert inputs.
        :return: the parsed response; 207 is a response, not an exception.
        """
        return self._write("upsert", inputs, idempotent=True, resend_unknown=True)

    def _write(
        self, action: str, inputs: Sequence[Mapping[str, Any]], *, idempotent: bool, resend_unknown: bool
    ) -> BatchResponse:
        """``POST …/tickets/batch/<action>`` with the inputs, checked for HubSpot's batch size."""
        with input_errors(_HOOK):
            inputs = as_list(inputs, "inputs")
            check_inputs_per_request(len(inputs), MAX_BATCH_SIZE, f"batch {action}")
        result = self.transport.request(
            "POST",
            f"{self.objects_path}/batch/{action}",
            body={"inputs": inputs},
            idempotent=idempotent,
            resend_unknown=resend_unknown,
        )
        response = _parse(result.response)
        response.attempts = result.attempts
        response.outcome_uncertain = result.outcome_uncertain
        return response

    def batch_read(
        self,
        ids: Iterable[str | int],
        *,
        properties: Sequence[str] = (),
        properties_with_history: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> BatchResponse:
        """Read up to 100 tickets (50 with history) in one call (``POST …/tickets/batch/read``).

        :param ids: record ids, or values of ``id_property``.
        :param properties: properties to return (empty: HubSpot's defaults).
        :param properties_with_history: properties to return with their history.
        :param id_property: a unique-value property the ids refer to; ``None`` for record ids.
        :param archived: read archived tickets instead of active ones.
        :return: the parsed response; ids that do not exist come back as one OBJECT_NOT_FOUND error.
        """
        with input_errors(_HOOK):
            inputs = [{"id": str(i)} for i in as_list(ids, "ids")]
            properties = as_names(properties, "properties")
            properties_with_history = as_names(properties_with_history, "properties_with_history")
            limit = MAX_BATCH_SIZE_WITH_HISTORY if properties_with_history else MAX_BATCH_SIZE
            what = "batch read" + (" with history" if properties_with_history else "")
            check_inputs_per_request(len(inputs), limit, what)
        body: dict[str, Any] = {
            "inputs": inputs,
            "properties": properties,
            "propertiesWithHistory": properties_with_history,
        }
        if id_property:
            body["idProperty"] = id_property
        result = self.transport.request(
            "POST",
            f"{self.objects_path}/batch/read",
            body=body,
            params={"archived": "true" if archived else "false"},
        )
        response = _parse(result.response)
        response.attempts = result.attempts
        return response

    def test_connection(self) -> tuple[bool, str]:
        """Check the token and base URL with one cheap ``GET …/tickets?limit=1``."""
        try:
            self.transport.request("GET", self.objects_path, params={"limit": "1"})
        except HubSpotError as exc:
            return False, str(exc)
        return True, f"Connected to HubSpot at {self.settings.base_url}: the token can read tickets."


def _parse(response: Any) -> BatchResponse:
    try:
        body = _json(response)
    except ValueError:
        body = None
    try:
        return BatchResponse.from_body(response.status_code, body)
    except ValueError as exc:
        raise HubSpotError(
            f"{exc}; HubSpot's answer could not be used.", status=response.status_code
        ) from None


def _json(response: Any) -> Any:
    """``response.json()``, through :mod:`~airflow_provider_hubtix.fastjson` when the charset is known."""
    if response.encoding:  # then requests' .json() parses .text with the json module
        return fastjson.loads(response.text)
    return response.json()


def _extra_dict(extra: str | dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    if not extra:
        return {}
    if isinstance(extra, dict):
        return extra
    try:
        parsed = json.loads(extra)
    except ValueError:
        raise HubSpotInputError(f"Connection {conn_id!r} has an extra that is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise HubSpotInputError(f"Connection {conn_id!r} has an extra that is not a JSON object.")
    return parsed


def _daily_reserve(value: Any, where: str) -> DailyReserve:
    with input_errors(where):
        return DailyReserve.parse(value)


def _or_default(value: Any, default: Any) -> Any:
    return default if value in (None, "") else value


def _extra_bool(value: Any, default: bool, name: str, conn_id: str) -> bool:
    """An extra's yes or no, given as JSON ``true``/``false`` or as text; ``default`` when not set."""
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise HubSpotInputError(f"Connection {conn_id!r}: extra {name} is {value!r}; use true or false.")


def _extra_positive_int(value: Any, name: str, conn_id: str) -> int | None:
    """An extra's positive integer, given as a number or as text; ``None`` when not set."""
    if value in (None, ""):
        return None
    with contextlib.suppress(TypeError, ValueError):  # else refused below, named as given
        value = int(value)
    with input_errors(f"Connection {conn_id!r}:"):
        return check_positive(value, f"extra {name}")
