"""One real Airflow deployment for the whole session (``scripts/airflow_local.py`` on free ports).

It runs the example DAGs and ``dags/hubtix_deployment_checks.py`` against in-process sandboxes
(``hubspot_default`` at 100 requests / 10 s, ``hubspot_slow`` with latency, for the kill test) and a
moto S3 server that counts the requests it serves (``aws_moto``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubtix.sandbox import HubSpotSandbox
from airflow_provider_hubtix.shared_window import STATE_DIR_ENV
from scripts.airflow_local import REPO, LocalAirflow, free_port, hubspot_connection

HERE = Path(__file__).resolve().parent
DAG_IDS = [
    "hubspot_tickets_roundtrip",
    "hubspot_tickets_from_xcom",
    "hubspot_tickets_backfill",
    "hubtix_kill_resume",
    "hubtix_s3_roundtrip",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.deployment)
            item.add_marker(pytest.mark.timeout(900))


class CountingS3:
    """moto's S3 in server mode on a free port, counting ``(method, path)`` of every request."""

    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", free_port(), self._counting(app), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _counting(self, app: Any) -> Any:
        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            with self._lock:
                self.requests[(environ["REQUEST_METHOD"], environ["PATH_INFO"])] += 1
            return app(environ, start_response)

        return counted

    def connection(self) -> str:
        """The ``AIRFLOW_CONN_…`` value of an ``aws`` connection to this server."""
        extra = {"endpoint_url": self.url, "region_name": "us-east-1"}
        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()


@dataclass
class Deployment:
    """The running deployment and what it talks to."""

    airflow: LocalAirflow
    sandbox: HubSpotSandbox
    slow_sandbox: HubSpotSandbox
    s3: CountingS3
    work: Path

    def run(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 300.0) -> str:
        """Trigger ``dag_id``, wait for it, fail with its task states unless it succeeded; the run id."""
        run_id = self.airflow.trigger(dag_id, conf)
        state = self.airflow.wait_for_run(dag_id, run_id, timeout)
        tasks = {
            (t["task_id"], t["map_index"]): t["state"] for t in self.airflow.task_instances(dag_id, run_id)
        }
        assert state == "success", f"{dag_id} {run_id} ended {state}: {tasks}"
        return run_id


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """api-server, scheduler and dag-processor (LocalExecutor, parallelism 8) on free ports."""
    root = tmp_path_factory.mktemp("deployment")
    dags = root / "dags"
    shutil.copytree(REPO / "example_dags", dags)
    shutil.copy(HERE / "dags" / "hubtix_deployment_checks.py", dags)
    # The default sandbox plays the hardest timing: out of order, a slow tail, Remaining when answered.
    with (
        HubSpotSandbox(rate=100, seed=19, timing="answer-time") as sandbox,
        HubSpotSandbox(latency_ms=150, seed=20) as slow,
    ):
        s3 = CountingS3()
        env = {
            "AIRFLOW_CONN_HUBSPOT_DEFAULT": hubspot_connection(sandbox.url),
            "AIRFLOW_CONN_HUBSPOT_SLOW": hubspot_connection(slow.url),
            "AIRFLOW_CONN_AWS_MOTO": s3.connection(),
            STATE_DIR_ENV: str(root / "ratelimit"),  # the tasks' shared rate-limit pictures
        }
        airflow = LocalAirflow(root / "home", dags, free_port(), env)
        try:
            airflow.start()
            airflow.wait_for_dags(DAG_IDS)
            yield Deployment(airflow, sandbox, slow, s3, root / "work")
        finally:
            airflow.stop()
            s3.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed by ``scripts/install-browser.sh`` when missing; its path."""
    script = REPO / "scripts" / "install-browser.sh"
    done = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]
