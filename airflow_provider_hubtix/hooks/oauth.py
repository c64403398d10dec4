"""OAuth access tokens for one HubSpot connection: refreshed ahead of expiry and on a 401.

:class:`OAuthTokenSource` knows the current access token and when it expires, and refreshes it with
a form-encoded ``POST {base}/oauth/2026-03/token``. Only when that endpoint answers 404 does it use
``/oauth/v1/token`` instead (HubSpot stops supporting v1 on 16 February 2027), and says so in the log
once per process. Threads share one refresh: whichever asks first refreshes, the others wait for it
and use its token. Every secret it holds or obtains is handed to ``on_new_secret`` (the hook passes
Airflow's secrets masker) and can be removed from a text with :meth:`OAuthTokenSource.redact`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from airflow_provider_hubtix.exceptions import (
    MAX_MESSAGE_CHARS,
    HubSpotAuthError,
    HubSpotConnectionError,
    HubSpotServerError,
)

__all__ = ["LEGACY_TOKEN_PATH", "TOKEN_PATH", "OAuthCredentials", "OAuthTokenSource"]

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/2026-03/token"
LEGACY_TOKEN_PATH = "/oauth/v1/token"
_REFRESH_AHEAD_MAX_SECONDS = 60.0  # refresh this long before expiry at most ...
_REFRESH_AHEAD_SHARE = 0.1  # ... and at most this share of the token's lifetime


@dataclass(frozen=True)
class OAuthCredentials:
    """What is needed to refresh an expired OAuth access token.

    :param client_id: the app's client id.
    :param client_secret: the app's client secret.
    :param refresh_token: the installing account's refresh token.
    """

    client_id: str
    client_secret: str
    refresh_token: str


@dataclass(frozen=True)
class _Grant:
    access_token: str
    expires_in: float | None
    refresh_token: str | None


class _Once:
    """True the first time it is called, then False (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> bool:
        with self._lock:
            first, self._done = not self._done, True
            return first


_FIRST_FALLBACK = _Once()


class OAuthTokenSource:
    """The access token of one OAuth connection, refreshed when due, shared by threads.

    :param session: the HTTP session to send token requests with.
    :param base_url: scheme and host, e.g. ``https://api.hubapi.com``.
    :param credentials: client id, client secret and refresh token.
    :param access_token: a current access token, or ``""`` to refresh before the first call.
    :param conn_id: the Airflow connection id, named in messages.
    :param timeout: seconds to wait for the token endpoint's answer.
    :param on_new_secret: called with every access or refresh token obtained (to mask it in logs).
    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        credentials: OAuthCredentials,
        *,
        access_token: str = "",
        conn_id: str = "hubspot_default",
        timeout: float = 60.0,
        on_new_secret: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._conn_id = conn_id
        self._timeout = timeout
        self._on_new_secret = on_new_secret or (lambda _secret: None)
        self._clock = clock
        self._lock = threading.Lock()
        self._token = access_token
        self._refresh_token = credentials.refresh_token
        self._refresh_at: float | None = None
        known = (credentials.client_secret, credentials.refresh_token, access_token)
        self._secrets = tuple(secret for secret in known if secret)

    def token(self) -> str:
        """The access token to send, refreshed first when there is none or it is about to expire."""
        token = self._token
        refresh_at = self._refresh_at
        if not token or (refresh_at is not None and self._clock() >= refresh_at):
            self.rejected(token)
        return self._token

    def rejected(self, token: str) -> None:
        """Refresh because ``token`` was refused (401) or is due, unless another thread already did.

        :param token: the access token that was sent (``""`` if there was none).
        """
        with self._lock:
            if self._token and self._token != token:
                return  # another thread refreshed it meanwhile
            self._keep(self._request_grant())

    def redact(self, text: str) -> str:
        """``text`` with every secret this source has known replaced by ``***``.

        :param text: any text that may echo a secret (HubSpot messages).
        """
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _request_grant(self) -> _Grant:
        path = TOKEN_PATH
        response = self._post(path)
        if response.status_code == 404:
            path = LEGACY_TOKEN_PATH
            if _FIRST_FALLBACK():
                log.warning(
                    "HubSpot at %s answered 404 to POST %s: OAuth access tokens are refreshed through "
                    "%s instead, which HubSpot stops supporting on 16 February 2027 (logged once per "
                    "process).",
                    self._base_url,
                    TOKEN_PATH,
                    LEGACY_TOKEN_PATH,
                )
            response = self._post(path)
        grant = self._grant_from(response, path)
        log.info("Refreshed the OAuth access token of connection %r through %s.", self._conn_id, path)
        return grant

    def _post(self, path: str) -> requests.Response:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
            "refresh_token": self._refresh_token,
        }
        try:
            return self._session.post(self._base_url + path, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise HubSpotConnectionError(
                f"Could not reach HubSpot at {self._base_url}{path} to refresh the OAuth access token "
                f"of connection {self._conn_id!r}: {type(exc).__name__}. Check the connection's host "
                "and the network.",
                category="CONNECTION_ERROR",
            ) from None

    def _grant_from(self, response: requests.Response, path: str) -> _Grant:
        body = response_json(response)
        token = _either(body, "access_token", "accessToken")
        if response.ok and isinstance(token, str) and token:
            refresh_token = _either(body, "refresh_token", "refreshToken")
            return _Grant(
                token,
                _seconds(_either(body, "expires_in", "expiresIn")),
                refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            )
        status = response.status_code
        message = self.redact(str(body.get("message") or response.reason or "no access token in the answer"))
        where = f"POST {self._base_url}{path} ({status} {body.get('status') or ''}".rstrip() + ")"
        if status >= 500:
            raise HubSpotServerError(
                f"HubSpot failed to refresh the OAuth access token of connection {self._conn_id!r} at "
                f"{where}: {message[:MAX_MESSAGE_CHARS]}.",
                status=status,
            )
        raise HubSpotAuthError(
            f"HubSpot refused to refresh the OAuth access token of connection {self._conn_id!r} at "
            f"{where}: {message[:MAX_MESSAGE_CHARS]}. Check the connection's host, and client_id, "
            "client_secret and refresh_token in its extra.",
            status=status,
        )

    def _keep(self, grant: _Grant) -> None:
        """Make ``grant`` current; called with the lock held."""
        for secret in (grant.access_token, grant.refresh_token):
            if secret and secret not in self._secrets:
                self._on_new_secret(secret)
                self._secrets = (*self._secrets, secret)
        if grant.refresh_token:
            self._refresh_token = grant.refresh_token  # HubSpot rotated it: the old one may be dead
        lifetime = grant.expires_in
        ahead = min(_REFRESH_AHEAD_MAX_SECONDS, _REFRESH_AHEAD_SHARE * lifetime) if lifetime else 0.0
        self._refresh_at = None if lifetime is None else self._clock() + lifetime - ahead
        self._token = grant.access_token


def _either(body: Mapping[str, Any], snake: str, camel: str) -> Any:
    """A field of the token answer, spelt either way (HubSpot documents both)."""
    value = body.get(snake)
    return body.get(camel) if value is None else value


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def response_json(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object, or ``{}`` when it has none (HubSpot's error bodies are objects)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
