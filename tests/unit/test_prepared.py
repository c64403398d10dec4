"""Prepared JSON requests from a per-URL template: the same request as Session.prepare_request."""

from __future__ import annotations

import pytest
import requests
import requests_mock as rm

from airflow_provider_hubtix.hooks.prepared import JsonRequests

URL = "http://127.0.0.1:8765/crm/v3/objects/tickets/batch/read"
BODY = b'{"inputs":[{"id":"1"}],"properties":[],"propertiesWithHistory":[]}'


def session() -> requests.Session:
    made = requests.Session()
    made.headers.update({"Accept": "application/json", "User-Agent": "airflow-provider-hubtix"})
    return made


def by_requests(made: requests.Session, params: dict[str, str] | None) -> requests.PreparedRequest:
    headers = {"Authorization": "Bearer tok", "Content-Type": "application/json"}
    request = requests.Request("POST", URL, headers=headers, params=params, data=BODY)
    return made.prepare_request(request)


@pytest.mark.parametrize("params", [None, {"archived": "false"}])
@pytest.mark.parametrize("with_cookies", [False, True])
def test_the_same_request_as_prepare_request(
    monkeypatch: pytest.MonkeyPatch, params: dict[str, str] | None, with_cookies: bool
) -> None:
    monkeypatch.setenv("NETRC", "/nonexistent")  # no ~/.netrc credentials in the reference either
    made = session()
    if with_cookies:
        made.cookies.set("__cf_bm", "abc", domain="127.0.0.1", path="/")
    factory = JsonRequests(made)
    for token in ("tok", "tok"):  # the second request comes from the cached template
        ours = factory.prepare("POST", URL, token, BODY, params)
        expected = by_requests(made, params)
        assert (ours.method, ours.url, ours.body) == (expected.method, expected.url, expected.body)
        assert list(ours.headers.items()) == list(expected.headers.items())
        assert ours.hooks == expected.hooks
        assert [c.name for c in ours._cookies] == [c.name for c in expected._cookies]  # type: ignore[attr-defined]
    assert ("Cookie" in ours.headers) is with_cookies


def test_copies_do_not_share_headers() -> None:
    factory = JsonRequests(session())
    first = factory.prepare("POST", URL, "one", BODY)
    second = factory.prepare("POST", URL, "two", b"{}")
    assert first.headers["Authorization"] == "Bearer one"
    assert (second.headers["Authorization"], second.headers["Content-Length"]) == ("Bearer two", "2")


def test_requests_mock_sees_the_request(requests_mock: rm.Mocker) -> None:
    made = session()
    requests_mock.post(URL, json={"results": []})
    response = made.send(JsonRequests(made).prepare("POST", URL, "tok", BODY, {"archived": "false"}))
    assert response.json() == {"results": []}
    sent = requests_mock.last_request
    assert sent.qs == {"archived": ["false"]}
    assert sent.body == BODY
    assert sent.headers["Authorization"] == "Bearer tok"
    assert sent.headers["Content-Type"] == "application/json"


def test_hooks_of_one_request_are_not_shared_with_the_next() -> None:
    factory = JsonRequests(session())
    first = factory.prepare("POST", URL, "tok", BODY)
    first.register_hook("response", lambda response, **kwargs: response)
    assert factory.prepare("POST", URL, "tok", BODY).hooks == {"response": []}
