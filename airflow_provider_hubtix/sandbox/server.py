"""HubSpotSandbox: the HTTP server, auth, rate limits and fault injection around the store."""

from __future__ import annotations

import dataclasses
import json
import random
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from airflow_provider_hubtix.sandbox.limits import RateLimits
from airflow_provider_hubtix.sandbox.store import Body, TicketStore, check_duplicate_style, error_body
from airflow_provider_hubtix.sandbox.timing import Timing

__all__ = ["HubSpotSandbox", "SandboxStats"]

_OBJECT_PREFIXES = ("/crm/v3/objects/tickets", "/crm/objects/2026-03/tickets")
_TOKEN_PATHS = {"/oauth/v1/token": "v1", "/oauth/2026-03/token": "2026-03"}
_OAUTH_TOKEN_PREFIX = "sandbox-oauth-"
"""Access tokens the sandbox issues start so: calls made with them count against no daily limit."""

_Reply = tuple[int, dict[str, str], Body | None]
"""An answer: status, headers and JSON body (``None``: drop the connection)."""
_ENDPOINTS = {
    "": "list",
    "/batch/create": "batch_create",
    "/batch/upsert": "batch_upsert",
    "/batch/read": "batch_read",
}
"""Path below an object prefix → endpoint name (counted in ``SandboxStats.by_endpoint``)."""

_UNAUTHENTICATED = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


@dataclass
class SandboxStats:
    """What the sandbox has seen (a snapshot).

    :param requests: authenticated API requests, refused ones included.
    :param by_endpoint: requests per endpoint (``batch_create``, ``batch_upsert``, ``batch_read``, ``list``,
        ``oauth_token`` for every token request, ``oauth_token_v1`` and ``oauth_token_2026-03`` for each
        endpoint's, 404s included).
    :param status_counts: answers per HTTP status.
    :param rate_limited: 429 answers.
    :param faults_5xx: injected 5xx answers (nothing was done).
    :param faults_lost: injected lost answers (the operation was done).
    :param created: tickets created (by create or upsert).
    :param first_request_at: ``time.monotonic()`` of the first batch request.
    :param last_request_at: ``time.monotonic()`` of the last batch request.
    :param first_read_at: ``time.monotonic()`` of the first batch read.
    :param daily_used: requests counted against the daily limit (429s are not, as at HubSpot).
    :param updated: tickets updated by upsert (each time, changed or not).
    """

    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    status_counts: dict[int, int] = field(default_factory=dict)
    rate_limited: int = 0
    faults_5xx: int = 0
    faults_lost: int = 0
    created: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None
    first_read_at: float | None = None
    daily_used: int = 0
    updated: int = 0


class HubSpotSandbox:
    """A local HubSpot-compatible tickets API (see README, "The sandbox").

    :param token: the valid private-app token.
    :param rate: requests per rolling 10 s; ``None`` for no limit.
    :param daily: requests per day.
    :param latency_ms: delay before each API answer (the base of ``timing``).
    :param fail_rate: share of batch requests answered 5xx before anything is done.
    :param lose_rate: share of batch requests done, then answered by closing the connection.
    :param unique_property: the ticket property with unique values (``None`` for none).
    :param seed: seeds result shuffling, fault decisions and timing (each its own stream).
    :param port: TCP port on 127.0.0.1 (0: a free one).
    :param host: the address to listen on.
    :param scopeless_token: a token whose app lacks the ``tickets`` scope (403).
    :param oauth_client_id: OAuth client id accepted by ``POST /oauth/2026-03/token`` and ``/oauth/v1/token``.
    :param oauth_client_secret: its secret.
    :param oauth_refresh_token: the refresh token it accepts.
    :param window_seconds: the rate window (10 s like HubSpot; shorter only for fast tests).
    :param timing: how answers are timed: a mode name of
        :data:`~airflow_provider_hubtix.sandbox.timing.TIMING_MODES` (on top of ``latency_ms``) or a
        :class:`~airflow_provider_hubtix.sandbox.timing.Timing`, which then wins over ``latency_ms``.
    :param oauth_versions: the token endpoints served (``"v1"``, ``"2026-03"``); the others answer 404.
    :param token_lifetime_seconds: ``expires_in`` of refreshed access tokens, refused (401) after it.
    :param rotate_refresh_tokens: each refresh answers a new refresh token and retires the one used.
    :param camel_case_tokens: token answers spelt ``accessToken`` / ``expiresIn`` / ``refreshToken``.
    :param duplicate_style: how a duplicate unique value is reported: ``hubspot`` (default),
        ``conflict`` or ``opaque`` (see :data:`~airflow_provider_hubtix.sandbox.store.DUPLICATE_STYLES`).
    """

    def __init__(  # noqa: PLR0913 (one keyword-only argument per sandbox option)
        self,
        token: str = "sandbox-token",
        *,
        rate: int | None = None,
        daily: int = 1_000_000,
        latency_ms: int = 0,
        fail_rate: float = 0.0,
        lose_rate: float = 0.0,
        unique_property: str | None = "external_id",
        seed: int | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        scopeless_token: str = "no-scope-token",
        oauth_client_id: str = "sandbox-client",
        oauth_client_secret: str = "sandbox-secret",
        oauth_refresh_token: str = "sandbox-refresh",
        window_seconds: float = 10.0,
        timing: str | Timing = "fixed",
        oauth_versions: tuple[str, ...] = ("v1", "2026-03"),
        token_lifetime_seconds: float = 1800,
        rotate_refresh_tokens: bool = False,
        camel_case_tokens: bool = False,
        duplicate_style: str = "hubspot",
    ) -> None:
        self._lock = threading.Lock()
        self._rng = _stream(seed, "faults")
        self._timing_rng = _stream(seed, "timing")
        self.timing = timing if isinstance(timing, Timing) else Timing(latency_ms).with_mode(timing)
        self._store = TicketStore(unique_property, _stream(seed, "results"), duplicate_style)
        self._limits = RateLimits(rate, daily, window_seconds)
        self._tokens: dict[str, bool] = {token: True, scopeless_token: False}
        self._expired: set[str] = set()
        self._oauth = (oauth_client_id, oauth_client_secret, oauth_refresh_token)
        self._oauth_mode = _OAuthMode(
            oauth_versions, token_lifetime_seconds, rotate_refresh_tokens, camel_case_tokens
        )
        self._token_deadlines: dict[str, float] = {}
        self.fail_rate = fail_rate
        self.lose_rate = lose_rate
        self._stats = SandboxStats()
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> HubSpotSandbox:
        """Start serving in a background thread."""
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        server = _Server((self._host, self._port), handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8765``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- state for assertions --------------------------------------------------------------------
    def tickets(self) -> list[Body]:
        """Every stored ticket (copies), with all properties."""
        with self._lock:
            return [self._store.public(t, list(t["properties"])) for t in self._store.tickets.values()]

    @property
    def ticket_count(self) -> int:
        """How many tickets are stored."""
        with self._lock:
            return len(self._store.tickets)

    def stats(self) -> SandboxStats:
        """A snapshot of the counters."""
        with self._lock:
            s = self._stats
            return dataclasses.replace(
                s,
                by_endpoint=dict(s.by_endpoint),
                status_counts=dict(s.status_counts),
                daily_used=self._limits.daily_used,
            )

    def duplicates(self, property_name: str) -> dict[str, list[str]]:
        """Values of ``property_name`` held by more than one ticket, with those tickets' ids."""
        with self._lock:
            holders: dict[str, list[str]] = {}
            for ticket in self._store.tickets.values():
                value = ticket["properties"].get(property_name)
                if value:
                    holders.setdefault(value, []).append(ticket["id"])
        return {value: ids for value, ids in holders.items() if len(ids) > 1}

    # -- knobs -----------------------------------------------------------------------------------
    def set_faults(
        self, *, fail_rate: float | None = None, lose_rate: float | None = None, latency_ms: int | None = None
    ) -> None:
        """Change fault injection or latency while running."""
        with self._lock:
            if fail_rate is not None:
                self.fail_rate = fail_rate
            if lose_rate is not None:
                self.lose_rate = lose_rate
            if latency_ms is not None:
                self.timing = dataclasses.replace(self.timing, latency_ms=latency_ms)

    def set_timing(self, timing: str | Timing) -> None:
        """Change how answers are timed while running (a mode name keeps the base latency)."""
        with self._lock:
            self.timing = timing if isinstance(timing, Timing) else self.timing.with_mode(timing)

    @property
    def latency_ms(self) -> int:
        """The base delay before each API answer."""
        return self.timing.latency_ms

    def arrival_delay(self) -> float:
        """Seconds before the next request is counted (see :class:`Timing`)."""
        with self._lock:
            return self.timing.arrival_delay(self._timing_rng)

    def answer_delay(self) -> float:
        """Seconds before the next answer goes out (see :class:`Timing`)."""
        with self._lock:
            return self.timing.answer_delay(self._timing_rng)

    def answer_headers(self, counted: dict[str, str]) -> dict[str, str]:
        """The rate-limit headers of an answer: as counted, or as of now when the timing says so."""
        if not counted or self.timing.remaining_at == "count":
            return counted
        with self._lock:
            return {**counted, **self._limits.headers(daily="X-HubSpot-RateLimit-Daily" in counted)}

    def set_rate(self, *, rate: int | None = None, daily: int | None = None) -> None:
        """Change the rate limits while running."""
        with self._lock:
            if rate is not None:
                self._limits.rate = rate
            if daily is not None:
                self._limits.daily = daily

    def set_duplicate_style(self, style: str) -> None:
        """Change how a duplicate unique value is reported while running (``hubspot``, ``conflict``,
        ``opaque``)."""
        with self._lock:
            self._store.duplicate_style = check_duplicate_style(style)

    def expire_access_tokens(self) -> None:
        """Expire every valid access token: calls answer 401 until a token is refreshed."""
        with self._lock:
            self._expired.update(token for token, scoped in self._tokens.items() if scoped)

    def archive(self, ticket_id: str) -> None:
        """Archive one ticket."""
        with self._lock:
            self._store.archive(ticket_id)

    def reset(self) -> None:
        """Clear tickets, counters and rate windows."""
        with self._lock:
            self._store.reset()
            self._limits.reset()
            self._stats = SandboxStats()

    # -- request handling (called by the handler threads) ----------------------------------------
    def handle(self, method: str, target: str, headers: Any, body: bytes) -> _Reply:
        """Answer one request: ``(status, headers, JSON body)``; a ``None`` body drops the connection."""
        split = urlsplit(target)
        path, query = split.path.rstrip("/"), parse_qs(split.query)
        if path in _TOKEN_PATHS:
            return self._oauth_token(method, _TOKEN_PATHS[path], body)
        endpoint, refusal = self._route(method, path, headers)
        if refusal is not None:
            return refusal
        oauth = headers.get("Authorization", "").startswith("Bearer " + _OAUTH_TOKEN_PREFIX)
        return self._serve(endpoint, body, query, oauth=oauth)

    def _route(self, method: str, path: str, headers: Any) -> tuple[str, _Reply | None]:
        """The endpoint of a request, and the 404 / 405 / 401 answer refusing it, if any."""
        prefix = next((p for p in _OBJECT_PREFIXES if path.startswith(p)), None)
        endpoint = _ENDPOINTS.get(path[len(prefix) :] if prefix else "?")
        if endpoint is None:
            return "", (404, {}, error_body("OBJECT_NOT_FOUND", f"No route for {method} {path}"))
        if (endpoint == "list") != (method == "GET"):
            return endpoint, (405, {}, error_body("METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}"))
        return endpoint, self._authenticate(headers.get("Authorization", ""))

    def _serve(self, endpoint: str, body: bytes, query: dict[str, list[str]], *, oauth: bool) -> _Reply:
        """Count the request against the rate limits, inject the configured faults, then operate.

        :param oauth: made with an OAuth access token: no daily limit, no daily headers.
        """
        with self._lock:
            verdict = self._count(endpoint, daily=not oauth)
            if not verdict.allowed:
                self._stats.rate_limited += 1
                return 429, verdict.headers, self._rate_limit_body(verdict.policy)
            fault = self._fault() if endpoint != "list" else None
            if fault == "5xx":  # from HubSpot itself (its headers), or from an edge server (none)
                self._stats.faults_5xx += 1
                headers = verdict.headers if self._rng.random() < 0.5 else {}
                return self._rng.choice((502, 503, 504)), headers, error_body("INTERNAL_ERROR", "Bad gateway")
        status, answer = self._operate(endpoint, body, query)
        if fault == "lost":
            with self._lock:
                self._stats.faults_lost += 1
            return status, verdict.headers, None
        return status, verdict.headers, answer

    def _count(self, endpoint: str, *, daily: bool) -> Any:
        now = time.monotonic()
        stats = self._stats
        stats.requests += 1
        stats.by_endpoint[endpoint] = stats.by_endpoint.get(endpoint, 0) + 1
        if endpoint != "list":
            stats.first_request_at = stats.first_request_at or now
            stats.last_request_at = now
        if endpoint == "batch_read":
            stats.first_read_at = stats.first_read_at or now
        return self._limits.count(daily=daily)

    def _fault(self) -> str | None:
        roll = self._rng.random()
        if roll < self.fail_rate:
            return "5xx"
        if roll < self.fail_rate + self.lose_rate:
            return "lost"
        return None

    def _operate(self, endpoint: str, raw: bytes, query: dict[str, list[str]]) -> tuple[int, Body]:
        if endpoint == "list":
            limit = int((query.get("limit") or ["10"])[0] or 10)
            with self._lock:
                return 200, self._store.list_page(limit)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return 400, error_body("VALIDATION_ERROR", "Invalid input JSON: the body could not be parsed.")
        with self._lock:
            if endpoint == "batch_create":
                status, answer = self._store.create(body)
                self._stats.created += len(answer.get("results") or [])
            elif endpoint == "batch_upsert":
                status, answer = self._store.upsert(body)
                new = sum(1 for result in answer.get("results") or [] if result.get("new"))
                self._stats.created += new
                self._stats.updated += len(answer.get("results") or []) - new
            else:
                archived = (query.get("archived") or ["false"])[0] == "true"
                status, answer = self._store.read(body, archived)
        return status, answer

    def _authenticate(self, header: str) -> tuple[int, dict[str, str], Body] | None:
        token = header[7:] if header.startswith("Bearer ") else ""
        with self._lock:
            scoped = self._tokens.get(token)
            deadline = self._token_deadlines.get(token, float("inf"))
            expired = token in self._expired or time.monotonic() >= deadline
        if scoped is None:
            return 401, {}, error_body("INVALID_AUTHENTICATION", _UNAUTHENTICATED)
        if expired:
            return (
                401,
                {},
                error_body(
                    "EXPIRED_AUTHENTICATION",
                    "The OAuth token used to make this call expired 0 second(s) ago.",
                ),
            )
        if not scoped:
            return (
                403,
                {},
                error_body(
                    "MISSING_SCOPES",
                    "This app hasn't been granted all required scopes to make this call. Read more about "
                    "required scopes here: https://developers.hubspot.com/scopes.",
                    errors=[
                        {
                            "message": "One or more of the following scopes are required.",
                            "context": {"requiredGranularScopes": ["tickets"]},
                        }
                    ],
                    links={"scopes": "https://developers.hubspot.com/scopes"},
                ),
            )
        return None

    def _oauth_token(self, method: str, version: str, raw: bytes) -> tuple[int, dict[str, str], Body]:
        if method != "POST":
            return 405, {}, error_body("METHOD_NOT_ALLOWED", "Use POST")
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        mode = self._oauth_mode
        with self._lock:
            by_endpoint = self._stats.by_endpoint
            for key in ("oauth_token", f"oauth_token_{version}"):
                by_endpoint[key] = by_endpoint.get(key, 0) + 1
            if version not in mode.versions:
                return 404, {}, error_body("OBJECT_NOT_FOUND", f"No route for POST /oauth/{version}/token")
            sent = (form.get("client_id"), form.get("client_secret"), form.get("refresh_token"))
            if form.get("grant_type") != "refresh_token" or sent != self._oauth:
                return 400, {}, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}
            token = _OAUTH_TOKEN_PREFIX + secrets.token_hex(12)
            self._tokens[token] = True
            self._token_deadlines[token] = time.monotonic() + mode.lifetime
            if mode.rotate:
                self._oauth = (*self._oauth[:2], "sandbox-refresh-" + secrets.token_hex(12))
            refresh_token = self._oauth[2]
        return 200, {}, mode.answer(token, refresh_token)

    @staticmethod
    def _rate_limit_body(policy: str | None) -> Body:
        daily = policy == "DAILY"
        return {
            "status": "error",
            "message": "You have reached your daily limit."
            if daily
            else "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        }

    def record_status(self, status: int) -> None:
        """Count one answer's status."""
        with self._lock:
            counts = self._stats.status_counts
            counts[status] = counts.get(status, 0) + 1


@dataclass(frozen=True)
class _OAuthMode:
    """How the token endpoints behave (see :class:`HubSpotSandbox`'s last parameters)."""

    versions: tuple[str, ...]
    lifetime: float
    rotate: bool
    camel_case: bool

    def answer(self, access_token: str, refresh_token: str) -> Body:
        """A token answer in this mode's spelling."""
        if self.camel_case:
            return {
                "tokenType": "bearer",
                "refreshToken": refresh_token,
                "accessToken": access_token,
                "expiresIn": self.lifetime,
            }
        return {
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "access_token": access_token,
            "expires_in": self.lifetime,
        }


class _Server(ThreadingHTTPServer):
    """One thread per connection; a listen backlog deep enough for bursts of concurrent clients."""

    daemon_threads = True
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into :meth:`HubSpotSandbox.handle` calls."""

    protocol_version = "HTTP/1.1"
    sandbox: HubSpotSandbox

    def setup(self) -> None:
        """Send each write at once: headers and body go out in two writes, and with Nagle's
        algorithm the body would wait for the client's delayed ACK (some 40 ms per answer)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        timed = self.path.split("?")[0] not in _TOKEN_PATHS
        if timed and (delay := self.sandbox.arrival_delay()):
            time.sleep(delay)
        status, headers, body = self.sandbox.handle(method, self.path, self.headers, raw)
        if timed and (delay := self.sandbox.answer_delay()):
            time.sleep(delay)
            headers = self.sandbox.answer_headers(headers)
        if body is None:  # an answer lost after the work was done
            self.close_connection = True
            return
        self.sandbox.record_status(status)
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and benchmarks send thousands of requests."""


def _stream(seed: int | None, name: str) -> random.Random:
    """One seeded stream of randomness per purpose (the same seed for all would make, say, every
    lost answer also the fastest); unseeded, each is random."""
    return random.Random(None if seed is None else f"{seed}:{name}")
