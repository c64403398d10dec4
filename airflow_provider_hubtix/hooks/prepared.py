"""JSON requests prepared as ``Session.prepare_request`` would, without its per-call merging.

``Session.prepare_request`` merges the session's settings into every request, parses and quotes
the URL, checks every header and looks for a ``~/.netrc``: about 0.3 ms of CPU per call, as much as
the rest of a batch call's requests machinery. For the transport's JSON posts everything but the
token, body and session cookies is the same on every call, so :class:`JsonRequests` prepares the
method, URL and session headers once per URL and copies that for each request.

The result is the request ``prepare_request`` builds for ``Request(method, url, headers={
"Authorization": …, "Content-Type": "application/json"}, data=body)``, headers in the same order,
session cookies included, with one difference: credentials for the host in ``~/.netrc`` are not
looked up (``requests`` would send them as Basic auth in place of the bearer token).
"""

from __future__ import annotations

from collections.abc import Mapping

import requests
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks

__all__ = ["JsonRequests"]


class JsonRequests:
    """Builds the prepared JSON requests of one session.

    :param session: the session whose headers and cookies every request carries.
    """

    def __init__(self, session: requests.Session) -> None:
        self._session = session
        self._templates: dict[tuple[str, str, tuple[tuple[str, str], ...]], requests.PreparedRequest] = {}

    def prepare(
        self, method: str, url: str, token: str, body: bytes, params: Mapping[str, str] | None = None
    ) -> requests.PreparedRequest:
        """A request carrying ``body`` (encoded JSON) and the bearer ``token``.

        :param method: HTTP method.
        :param url: the full URL, without query.
        :param token: the bearer token.
        :param body: the JSON body, encoded.
        :param params: query parameters.
        """
        prepared = self._template(method, url, params).copy()
        prepared.hooks = {event: list(hooks) for event, hooks in prepared.hooks.items()}  # not shared
        headers = prepared.headers
        headers["Authorization"] = f"Bearer {token}"
        headers["Content-Type"] = "application/json"
        jar = RequestsCookieJar()  # a copy of the session's cookies, as prepare_request merges them
        if len(self._session.cookies):
            jar.update(self._session.cookies)
            prepared.prepare_cookies(jar)
        else:  # what prepare_cookies keeps for an empty jar, without asking it for a Cookie header
            prepared._cookies = jar  # type: ignore[attr-defined]
        prepared.body = body
        headers["Content-Length"] = str(len(body))
        return prepared

    def _template(self, method: str, url: str, params: Mapping[str, str] | None) -> requests.PreparedRequest:
        key = (method, url, tuple(params.items()) if params else ())
        template = self._templates.get(key)
        if template is None:
            template = requests.PreparedRequest()
            template.prepare_method(method)
            template.prepare_url(url, params)
            template.prepare_headers(self._session.headers)
            template.hooks = default_hooks()
            template.prepare_hooks(self._session.hooks)
            self._templates[key] = template  # two threads may both build it: either is right
        return template
