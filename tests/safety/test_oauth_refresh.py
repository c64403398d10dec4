"""OAuth against the sandbox: one refresh for many threads, and a long create after OAuth v1's sunset."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_hubtix.exceptions import HubSpotRecordsFailedError
from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
from airflow_provider_hubtix.sandbox import HubSpotSandbox
from tests.safety.test_backfill_safety import QUICK_RETRIES, TaskInstance, accounted, operator

OAUTH_EXTRA = {
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "refresh_token": "sandbox-refresh",
}
# every secret the sandbox issues or accepts starts with one of these
SECRET_PREFIXES = ("sandbox-secret", "sandbox-refresh", "sandbox-oauth-", "sandbox-token")


def connect(monkeypatch: pytest.MonkeyPatch, sandbox: HubSpotSandbox, password: str) -> None:
    conn = {"conn_type": "hubspot", "host": sandbox.url, "password": password, "extra": OAUTH_EXTRA}
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))


def test_sixteen_threads_with_an_expired_token_share_one_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    threads = 16
    with HubSpotSandbox(latency_ms=200, oauth_versions=("2026-03",), seed=2) as sandbox:
        connect(monkeypatch, sandbox, "sandbox-token")
        hook = HubSpotTicketsHook(max_concurrency=threads, retry_policy=QUICK_RETRIES)
        sandbox.expire_access_tokens()
        start = threading.Barrier(threads)
        failures: list[BaseException] = []

        def read() -> None:
            start.wait()
            try:
                hook.batch_read(["1"])
            except BaseException as exc:
                failures.append(exc)

        workers = [threading.Thread(target=read) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        stats = sandbox.stats()
        assert failures == []
        assert stats.status_counts[401] > 1  # several threads were refused at once ...
        assert stats.by_endpoint["oauth_token"] == 1  # ... and one token request served them all
        assert stats.by_endpoint["batch_read"] == threads  # answered reads (401s are not counted)


def write_mixed_inputs(path: Path, count: int, invalid_every: int) -> Path:
    """``count`` inputs; every ``invalid_every``-th has a pipeline stage HubSpot refuses."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            stage = "99" if i % invalid_every == 0 else "1"
            out.write(
                json.dumps({"subject": f"OAuth {i}", "hs_pipeline_stage": stage, "external_id": f"o-{i}"})
            )
            out.write("\n")
    return path


def test_create_over_three_token_lifetimes_after_v1_sunset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_hubtix.hooks.tickets.mask_secret", masked.append)
    lifetime, total, invalid_every = 0.4, 4000, 400
    with HubSpotSandbox(
        latency_ms=40,
        seed=3,
        oauth_versions=("2026-03",),
        token_lifetime_seconds=lifetime,
        rotate_refresh_tokens=True,
    ) as sandbox:
        connect(monkeypatch, sandbox, "")  # the three OAuth extras only: the first call refreshes
        ti = TaskInstance()
        op = operator(write_mixed_inputs(tmp_path / "in.jsonl", total, invalid_every), tmp_path / "out")
        op.max_concurrency = 1
        began = time.monotonic()
        with pytest.raises(
            HubSpotRecordsFailedError
        ) as info:  # fail_on_error: the invalid inputs fail the task
            op.execute({"ti": ti})
        elapsed = time.monotonic() - began
        stats = sandbox.stats()
    invalid = total // invalid_every
    assert elapsed > 3 * lifetime
    assert ti.xcom["return_value"]["created"] == total - invalid and sandbox.ticket_count == total - invalid
    assert accounted(tmp_path / "out") == dict.fromkeys(range(total), 1)
    assert stats.by_endpoint["oauth_token"] == stats.by_endpoint["oauth_token_2026-03"] >= 4
    assert "oauth_token_v1" not in stats.by_endpoint
    assert sum(secret.startswith("sandbox-oauth-") for secret in masked) >= 4
    assert sum(secret.startswith("sandbox-refresh-") for secret in masked) >= 4  # rotated ones
    texts = {
        "exception": str(info.value),
        "xcom": json.dumps(ti.xcom),
        "logs": caplog.text,
        "errors": (tmp_path / "out" / "errors.jsonl").read_text(),
    }
    assert "INVALID_OPTION" in texts["errors"]
    assert [(where, p) for where, text in texts.items() for p in SECRET_PREFIXES if p in text] == []
