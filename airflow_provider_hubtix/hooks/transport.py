"""HTTP transport to HubSpot: bearer auth, rate limiting, retries and error model.

The retry policy is data (:class:`RetryPolicy`) turned into one tenacity ``Retrying`` around one
call. Failures are classified into :mod:`airflow_provider_hubtix.exceptions` first, so the policy
sees the status before anything is wrapped:

============================  ==========================================  =====================
what happened                 what the transport does                     exception at the end
============================  ==========================================  =====================
2xx (200/201/207 …)           returns the response                        —
429 ``TEN_SECONDLY_ROLLING``  pauses every thread until the window frees  HubSpotRateLimitError
/ ``SECONDLY``                (``Retry-After`` when sent), retries
429 ``DAILY``                 stops at once, no retry                     HubSpotDailyLimitError
``Daily-Remaining`` at or     holds the request back, stops the run       HubSpotDailyReserveError
below ``daily_reserve``       (see ``daily_budget.py``)
423, 5xx                      exponential backoff with jitter, retries    HubSpotServerError
connect error / timeout       backoff, retries                            HubSpotConnectionError
401                           with OAuth extras: refresh once (see        HubSpotAuthError
                              :mod:`.oauth`), resend; else stops
403                           stops, names the missing scopes             HubSpotMissingScopesError
400                           stops the run (nothing in it was written)   HubSpotValidationError
404                           stops (wrong base URL or api_version)       HubSpotNotFoundError
other 4xx                     stops                                       HubSpotError
============================  ==========================================  =====================

Retries stop after ``max_attempts`` sends or ``max_elapsed_seconds``, whichever comes first.
A create that failed *after* its request may have reached HubSpot (read timeout, dropped
connection, 5xx) has an unknown outcome: with ``idempotent=False, resend_unknown=False`` the
transport raises :class:`~airflow_provider_hubtix.exceptions.HubSpotOutcomeUnknownError` instead of
re-sending, so the caller can check what exists first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import requests
import requests.auth
import tenacity
from requests.adapters import HTTPAdapter
from tenacity.retry import RetryBaseT
from tenacity.stop import StopBaseT
from tenacity.wait import WaitBaseT
from urllib3.exceptions import NewConnectionError

from airflow_provider_hubtix import fastjson
from airflow_provider_hubtix.daily_budget import DAILY_HEADER, DailyBudget, DailyReserveReached
from airflow_provider_hubtix.exceptions import (
    MAX_MESSAGE_CHARS,
    HubSpotAuthError,
    HubSpotConnectionError,
    HubSpotDailyLimitError,
    HubSpotDailyReserveError,
    HubSpotError,
    HubSpotMissingScopesError,
    HubSpotNotFoundError,
    HubSpotOutcomeUnknownError,
    HubSpotRateLimitError,
    HubSpotRetryableError,
    HubSpotServerError,
    HubSpotValidationError,
)
from airflow_provider_hubtix.hooks.oauth import OAuthCredentials, OAuthTokenSource, response_json
from airflow_provider_hubtix.hooks.prepared import JsonRequests
from airflow_provider_hubtix.ratelimit import RateLimiter, read_view

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "HubSpotTransport",
    "RetryPolicy",
    "TransportResult",
    "is_retryable",
    "wait_retry_after",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry transient failures: the pieces of one tenacity ``Retrying``.

    The defaults stop after ``max_attempts`` sends or ``max_elapsed_seconds``, wait as HubSpot asks
    (:class:`wait_retry_after` over an exponential backoff with jitter) and retry the failures the
    table above marks as retried. Like ``HttpHook``'s ``retry_args``, any of tenacity's ``stop``,
    ``wait`` and ``retry`` strategies given here replaces the default one.

    :param max_attempts: sends per call at most (the first one included).
    :param max_elapsed_seconds: stop retrying once this much time has passed since the first send.
    :param backoff_initial: first backoff in seconds (then doubled, with jitter).
    :param backoff_max: longest single backoff in seconds.
    :param stop: a tenacity stop strategy replacing the two limits above.
    :param wait: a tenacity wait strategy replacing :class:`wait_retry_after` and the backoff.
    :param retry: a tenacity retry strategy replacing the choice of what is retried.
    """

    max_attempts: int = 8
    max_elapsed_seconds: float = 300.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    stop: StopBaseT | None = None
    wait: WaitBaseT | None = None
    retry: RetryBaseT | None = None

    def retrying(
        self,
        *,
        sleep: Callable[[float], None] = tenacity.nap.sleep,
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
    ) -> tenacity.Retrying:
        """The tenacity ``Retrying`` this policy describes.

        :param sleep: how to wait between attempts (injectable for tests).
        :param before_sleep: called before each wait (to log the retry).
        """
        stop = tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_after_delay(
            self.max_elapsed_seconds
        )
        backoff = tenacity.wait_exponential_jitter(initial=self.backoff_initial, max=self.backoff_max)
        return tenacity.Retrying(
            stop=self.stop or stop,
            wait=self.wait or wait_retry_after(backoff),
            retry=self.retry or tenacity.retry_if_exception(is_retryable),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


class wait_retry_after(tenacity.wait.wait_base):  # spelt like tenacity's own strategies
    """Wait as HubSpot asks: after a 429, exactly until its rolling window frees (``retry_after``);
    after any other failure, ``backoff``, but never less than a ``Retry-After`` HubSpot sent.

    :param backoff: the wait for failures that are not rate limits.
    """

    def __init__(self, backoff: tenacity.wait.wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, HubSpotRateLimitError) and retry_after is not None:
            return float(retry_after)
        return max(float(self.backoff(retry_state)), float(retry_after or 0.0))


@dataclass
class TransportResult:
    """A successful (2xx) answer and how it was obtained.

    :param response: the ``requests`` response.
    :param attempts: sends it took.
    :param outcome_uncertain: an earlier send failed after it may have been processed.
    """

    response: requests.Response
    attempts: int
    outcome_uncertain: bool


@dataclass
class _Call:
    method: str
    path: str
    body: Any
    params: Mapping[str, str] | None
    idempotent: bool
    resend_unknown: bool
    attempts: int = 0
    outcome_uncertain: bool = False
    maybe_processed: bool = False
    """An earlier send may have reached HubSpot and been processed (a lost answer, a 5xx)."""


class HubSpotTransport:
    """Sends requests to one HubSpot base URL with one credential.

    :param base_url: scheme and host, e.g. ``https://api.hubapi.com``.
    :param access_token: the bearer token (may be empty when OAuth refresh credentials are given).
    :param conn_id: the Airflow connection id, named in error messages.
    :param timeout: seconds to wait for one answer.
    :param max_concurrency: requests in flight at most: the HTTP connections kept open.
    :param retry_policy: see :class:`RetryPolicy`.
    :param rate_limiter: shared by every request of this transport.
    :param daily_budget: keeps the account's daily reserve; default: ``"5%"`` of its daily limit.
    :param oauth: refresh credentials, or ``None``.
    :param on_new_token: called with every access or refresh token obtained by refresh (to mask it
        in logs).
    :param sleep: how to wait between retries (injectable for tests).
    """

    def __init__(  # noqa: PLR0913 (one keyword-only argument per setting)
        self,
        base_url: str,
        access_token: str,
        *,
        conn_id: str = "hubspot_default",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_concurrency: int = 16,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        daily_budget: DailyBudget | None = None,
        oauth: OAuthCredentials | None = None,
        on_new_token: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.conn_id = conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self.rate_limiter = rate_limiter or RateLimiter()
        self.daily_budget = daily_budget or DailyBudget()
        self._token = access_token
        self._sleep = sleep or tenacity.nap.sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(max_concurrency, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "airflow-provider-hubtix"})
        self._oauth = (
            None
            if oauth is None
            else OAuthTokenSource(
                self.session,
                self.base_url,
                oauth,
                access_token=access_token,
                conn_id=conn_id,
                timeout=timeout,
                on_new_secret=on_new_token,
            )
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        resend_unknown: bool = True,
    ) -> TransportResult:
        """Send one request with rate limiting and retries; return the 2xx answer or raise.

        :param method: HTTP method.
        :param path: path below the base URL, starting with ``/``.
        :param body: JSON body, or ``None``.
        :param params: query parameters.
        :param idempotent: whether re-sending can never duplicate anything (reads, upserts).
        :param resend_unknown: for a non-idempotent call, whether to re-send after an unknown
            outcome (``False`` raises :class:`HubSpotOutcomeUnknownError` instead).
        """
        call = _Call(method, path, body, params, idempotent, resend_unknown)
        retrying = self.retry_policy.retrying(sleep=self._sleep, before_sleep=self._log_retry)
        response = retrying(self._send_once, call)
        return TransportResult(response, call.attempts, call.outcome_uncertain)

    def _send_once(self, call: _Call) -> requests.Response:
        call.attempts += 1
        refreshed = False
        while True:
            token = self._current_token()
            prepared = self._prepare(call, token)  # before the slot is taken: it counts from now
            ticket = self._admit_daily(call)
            try:
                permit = self.rate_limiter.acquire()
            except BaseException:
                self.daily_budget.settle(ticket, None)
                raise
            try:
                response = self.session.send(prepared, timeout=self.timeout, **self._send_settings)
            except BaseException as exc:  # give both places back, whatever went wrong
                self.rate_limiter.release(permit)
                self.daily_budget.settle(ticket, None)
                if isinstance(exc, requests.RequestException):
                    raise self._classify_network_error(exc, call) from None
                raise
            if response.status_code >= 500 and read_view(response.headers) is None:
                self.rate_limiter.release(permit)  # an edge's 5xx shows nothing of the account
            else:
                self.rate_limiter.release(permit, response.headers, counted=response.status_code != 429)
            self.daily_budget.settle(ticket, response.headers)
            if response.ok:
                return response
            if response.status_code == 401 and self._oauth is not None and not refreshed:
                self._oauth.rejected(token)
                refreshed = True
                continue
            error = self._classify_response(response, call)
            if isinstance(error, HubSpotRateLimitError) and error.retry_after is not None:
                self.rate_limiter.pause(error.retry_after)  # every thread waits for the window
            raise error

    def _admit_daily(self, call: _Call) -> int:
        """Wait until the daily budget lets one more request go; stop the run at the reserve."""
        try:
            return self.daily_budget.admit()
        except DailyReserveReached as reached:
            error = HubSpotDailyReserveError(
                f"Stopped before HubSpot's daily request limit: {reached}, so no more requests were "
                f"sent ({call.method} {call.path} was held back"
                + ("; an earlier send of it may have been processed" if call.maybe_processed else "")
                + "). The limit resets at midnight in the account's time zone: re-run the task then "
                "(with the same output_path it resumes where it stopped), or lower daily_reserve to "
                "use more of today's limit."
            )
            error.never_sent = not call.maybe_processed
            raise error from None

    def _prepare(self, call: _Call, token: str) -> requests.PreparedRequest:
        """The request as ``Session.request`` would send it; the body encoded by orjson when exact."""
        data = fastjson.dumps_bytes(call.body) if call.body is not None else None
        if data is not None:  # the batch calls: prepared from a per-URL template (see prepared.py)
            return self._json_requests.prepare(
                call.method, self.base_url + call.path, token, data, call.params
            )
        request = requests.Request(
            call.method, self.base_url + call.path, params=call.params, json=call.body, auth=_Bearer(token)
        )
        return self.session.prepare_request(request)

    @cached_property
    def _json_requests(self) -> JsonRequests:
        return JsonRequests(self.session)

    @cached_property
    def _send_settings(self) -> dict[str, Any]:
        """Proxies and certificates from the environment, as ``Session.request`` reads them (once)."""
        return dict(self.session.merge_environment_settings(self.base_url, {}, None, None, None))

    def _classify_network_error(self, exc: requests.RequestException, call: _Call) -> HubSpotError:
        never_sent = isinstance(exc, requests.ConnectTimeout) or _is_refused(exc)
        call.maybe_processed = call.maybe_processed or not never_sent
        unknown = not never_sent and not call.idempotent
        what = type(exc).__name__
        if isinstance(exc, requests.Timeout):
            what = f"no answer within {self.timeout:g} s ({what})"
        message = f"Could not reach HubSpot at {self.base_url}{call.path}: {what}. " + (
            "The request may have been processed."
            if unknown
            else "Check the connection's host and the network."
        )
        return self._maybe_unknown(
            HubSpotConnectionError(message, outcome_unknown=unknown, category="CONNECTION_ERROR"), call
        )

    def _classify_response(self, response: requests.Response, call: _Call) -> HubSpotError:
        """The exception for a non-2xx answer (see the module's table); nothing is paused or sent."""
        body = response_json(response)
        hubspot_message = self._redact(str(body.get("message") or response.reason or ""))
        answer = _Answer(
            response,
            body,
            where=f"{call.method} {call.path}",
            fields={
                "status": response.status_code,
                "category": body.get("category"),
                "correlation_id": body.get("correlationId"),
                "hubspot_message": hubspot_message[:MAX_MESSAGE_CHARS],
                "context": body.get("context") if isinstance(body.get("context"), dict) else None,
            },
        )
        status = response.status_code
        if status == 429:
            return self._rate_limit_error(answer)
        if status in (401, 403, 404):
            return self._setup_error(answer)
        if status == 400:
            return HubSpotValidationError(
                f"HubSpot rejected {answer.where} as a whole (400 {answer.category or 'VALIDATION_ERROR'})"
                f"{answer.suffix}: {answer.message} Nothing in this request was written.",
                **answer.fields,
            )
        if status == 423 or status >= 500:
            return self._server_error(answer, call)
        return HubSpotError(
            f"HubSpot answered {status} to {answer.where}{answer.suffix}: {answer.message}", **answer.fields
        )

    def _rate_limit_error(self, answer: _Answer) -> HubSpotRateLimitError:
        """429: the daily limit (stops the run) or the rolling window (waits until it frees)."""
        policy = str(answer.body.get("policyName") or "")
        answer.fields["category"] = answer.category or answer.body.get("errorType") or "RATE_LIMIT"
        if policy.upper() == "DAILY":
            daily = answer.response.headers.get(DAILY_HEADER, "?")
            return HubSpotDailyLimitError(
                f"HubSpot's daily request limit for this account is used up ({daily} requests per "
                f"day, policy DAILY){answer.suffix}. It resets at midnight in the account's time zone; "
                "retrying before then is pointless. Re-run the task after the reset, or raise the "
                "account's limit (API limit increase add-on).",
                **answer.fields,
            )
        wait = _retry_after(answer.response) or self.rate_limiter.seconds_until_free()
        return HubSpotRateLimitError(
            f"HubSpot's rate limit was hit on {answer.where} (429, policy {policy or 'unknown'})"
            f"{answer.suffix}; waiting {wait:.1f} s for the window. If this persists, lower "
            "requests_per_10s or the number of tasks sharing this HubSpot account.",
            retry_after=wait,
            **answer.fields,
        )

    def _setup_error(self, answer: _Answer) -> HubSpotError:
        """401, 403, 404: the token, its scopes or the base URL are wrong (every request would fail)."""
        status, category = answer.fields["status"], answer.category
        if status == 401:
            return HubSpotAuthError(
                f"HubSpot rejected the access token of connection {self.conn_id!r} (401 "
                f"{category or 'INVALID_AUTHENTICATION'}){answer.suffix}: {answer.message} "
                "Put a valid private-app token, service key or OAuth access token in the connection's "
                "'Access token' (password) field, or add client_id, client_secret and refresh_token to "
                "its extra so expired OAuth tokens are refreshed.",
                **answer.fields,
            )
        if status == 403:
            scopes = _required_scopes(answer.body)
            named = ", ".join(scopes) if scopes else "not named by HubSpot"
            return HubSpotMissingScopesError(
                f"The HubSpot app behind connection {self.conn_id!r} lacks required scopes ({named}) "
                f"for {answer.where} (403 {category or 'MISSING_SCOPES'}){answer.suffix}. Grant them to "
                "the app (batch create and read of tickets need 'tickets'), then use the new token.",
                scopes=scopes,
                **answer.fields,
            )
        return HubSpotNotFoundError(
            f"HubSpot answered 404 for {answer.where} at {self.base_url}{answer.suffix}: {answer.message} "
            "Check the connection's host (base URL) and extra api_version ('v3' or '2026-03').",
            **answer.fields,
        )

    def _server_error(self, answer: _Answer, call: _Call) -> HubSpotError:
        """423 or 5xx: transient; a create's outcome is unknown unless the answer was 423 (locked)."""
        status = answer.fields["status"]
        call.maybe_processed = call.maybe_processed or status != 423
        unknown = status != 423 and not call.idempotent
        error = HubSpotServerError(
            f"HubSpot answered {status} to {answer.where}{answer.suffix}: {answer.message or 'server error'}."
            + (" The request may have been processed." if unknown else ""),
            outcome_unknown=unknown,
            retry_after=_retry_after(answer.response) or (2.0 if status == 423 else None),
            **answer.fields,
        )
        return self._maybe_unknown(error, call)

    def _maybe_unknown(self, error: HubSpotRetryableError, call: _Call) -> HubSpotError:
        if not error.outcome_unknown:
            return error
        if call.resend_unknown:
            call.outcome_uncertain = True
            return error
        return HubSpotOutcomeUnknownError(
            f"{error} It was not re-sent, to avoid creating duplicates.",
            status=error.status,
            correlation_id=error.correlation_id,
            hubspot_message=error.hubspot_message,
        )

    def _current_token(self) -> str:
        return self._token if self._oauth is None else self._oauth.token()

    def _redact(self, text: str) -> str:
        """``text`` without the access token (and, with OAuth, without any secret of the refresh)."""
        text = text.replace(self._token, "***") if self._token else text
        return text if self._oauth is None else self._oauth.redact(text)

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        of = "" if self.retry_policy.stop is not None else f" of {self.retry_policy.max_attempts}"
        log.warning(
            "HubSpot call failed (attempt %d%s), retrying in %.1f s: %s",
            retry_state.attempt_number,
            of,
            wait,
            exc,
        )


@dataclass
class _Answer:
    """A non-2xx answer as the error messages quote it."""

    response: requests.Response
    body: Mapping[str, Any]
    where: str
    fields: dict[str, Any]

    @property
    def category(self) -> Any:
        return self.fields["category"]

    @property
    def message(self) -> str:
        return str(self.fields["hubspot_message"])

    @property
    def suffix(self) -> str:
        correlation_id = self.fields["correlation_id"]
        return f" (correlationId {correlation_id})" if correlation_id else ""


class _Bearer(requests.auth.AuthBase):
    """The bearer token as the request's auth, so that ``requests`` never puts ``~/.netrc``
    credentials in its place."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def is_retryable(exc: BaseException) -> bool:
    """Whether the default policy retries ``exc``: transient failures and the rolling rate limit.

    :param exc: what the send raised.
    """
    if isinstance(exc, HubSpotDailyLimitError):
        return False
    return isinstance(exc, HubSpotRetryableError | HubSpotRateLimitError)


def _is_refused(exc: requests.RequestException) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _required_scopes(body: Mapping[str, Any]) -> list[str]:
    scopes: list[str] = []
    contexts = [body.get("context")] + [
        e.get("context") for e in body.get("errors") or [] if isinstance(e, dict)
    ]
    for context in contexts:
        if not isinstance(context, dict):
            continue
        for key in ("requiredGranularScopes", "requiredScopes", "requiredScope"):
            for scope in context.get(key) or []:
                if isinstance(scope, str) and scope not in scopes:
                    scopes.append(scope)
    return scopes
