"""One benchmark client process: runs an operator (or HubSpot's SDK loop, or a create's stages one
by one) and prints its figures.

Run by ``bench/run.py``; prints one JSON line: wall seconds, when it started (monotonic clock),
client CPU seconds, peak RSS (MiB), created/read/failed counts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class _TaskInstance:
    """The one thing ``execute()`` needs from a task instance here: somewhere to push XComs."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def _run_operator(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_provider_hubtix.operators.tickets import (  # imported already, outside the timing
        BatchCreateTicketsOperator,
        BatchReadTicketsOperator,
        BatchUpsertTicketsOperator,
    )

    common = {"output_path": args.output, "max_concurrency": args.concurrency, "fail_on_error": False}
    if args.mode == "create":
        operator: Any = BatchCreateTicketsOperator(
            task_id="bench_create", inputs_path=args.input, id_property=args.id_property, **common
        )
    elif args.mode == "upsert":
        operator = BatchUpsertTicketsOperator(
            task_id="bench_upsert",
            inputs_path=args.input,
            id_property=args.id_property or "external_id",
            **common,
        )
    else:
        operator = BatchReadTicketsOperator(task_id="bench_read", ids_path=args.input, **common)
    result = operator.execute({"ti": _TaskInstance()})
    ok = result.get("created", result.get("upserted", result.get("read", 0)))
    return {"ok": ok, "failed": result["failed"]}


def _run_sdk(args: argparse.Namespace) -> dict[str, Any]:
    """HubSpot's official SDK, batch create in chunks of 100, with its retry set up for 429/5xx."""
    from hubspot import HubSpot
    from hubspot.crm.tickets import BatchInputSimplePublicObjectBatchInputForCreate
    from urllib3.util.retry import Retry

    retry = Retry(
        total=8,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
    )
    batch_api = HubSpot(access_token=args.token, retry=retry).crm.tickets.batch_api  # a new object per access
    batch_api.api_client.configuration.host = args.url
    created = failed = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal created, failed
        body = BatchInputSimplePublicObjectBatchInputForCreate(inputs=batch)
        response = batch_api.create(batch_input_simple_public_object_batch_input_for_create=body)
        created += len(response.results)
        failed += len(batch) - len(response.results)
        batch.clear()

    with open(args.input, encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            batch.append({"properties": item, "associations": []})
            if len(batch) == 100:
                flush()
    if batch:
        flush()
    return {"ok": created, "failed": failed}


def _run_stages(args: argparse.Namespace) -> dict[str, Any]:
    """A create's stages in this one thread, batch by batch as a run streams them, each stage's CPU
    time added up apart: what the CPU of a run is made of, without the hand-offs between the reading
    thread and the sending ones."""
    from airflow_provider_hubtix.checkpoint import InputsFingerprint
    from airflow_provider_hubtix.execution import _fingerprinted
    from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
    from airflow_provider_hubtix.inputs import iter_file
    from airflow_provider_hubtix.jobs import CreateJob
    from airflow_provider_hubtix.outputs import JsonLinesSink

    path, output = Path(args.input), Path(args.output)
    job = CreateJob(HubSpotTicketsHook())
    cpu: dict[str, float] = defaultdict(float)

    def timed(stage: str, work: Callable[..., T], *args: Any) -> T:
        start = time.thread_time()
        result = work(*args)
        cpu[stage] += time.thread_time() - start
        return result

    def items() -> Iterator[tuple[str, Any]]:
        return iter_file(str(path), lambda: path.open("rb"))

    sink = JsonLinesSink(lambda name, mode: (output / name).open(mode))
    count = timed("validate", job.validate, _fingerprinted(items(), InputsFingerprint()))
    located = enumerate(items())

    def read_batch() -> list[Any]:
        return [job.normalise(raw, i, at) for i, (at, raw) in itertools.islice(located, job.batch_size)]

    while batch := timed("read_again", read_batch):
        outcome = timed("send_and_account", job.process, batch)
        timed("write_records", sink.write, outcome.results, outcome.errors)
    sink.close()
    figures: dict[str, Any] = {f"{stage}_us": seconds / count * 1e6 for stage, seconds in cpu.items()}
    figures["sum_us"] = sum(cpu.values()) / count * 1e6
    figures.update(ok=sink.results_count, failed=sink.errors_count)
    return figures


def main() -> None:
    """Parse arguments, run, print the figures as one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["create", "upsert", "read", "sdk-create", "stages"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", default=None)
    parser.add_argument("--concurrency", type=int, default=None, help="default: automatic")
    parser.add_argument("--id-property", default=None)
    parser.add_argument(
        "--share", choices=["true", "false"], default="true", help="the connection's share_rate_limit"
    )
    args = parser.parse_args()
    extra = {"share_rate_limit": args.share}
    os.environ["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = json.dumps(
        {"conn_type": "hubspot", "host": args.url, "password": args.token, "extra": extra}
    )
    if args.output:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    if args.mode == "sdk-create":
        import hubspot.crm.tickets  # noqa: F401  (import time is not what is measured)
    else:
        import airflow_provider_hubtix.operators.tickets  # noqa: F401
    before = resource.getrusage(resource.RUSAGE_SELF)
    started_at = time.monotonic()  # the sandbox's clock too: run.py compares it with its first request
    run = {"sdk-create": _run_sdk, "stages": _run_stages}.get(args.mode, _run_operator)
    figures = run(args)
    wall = time.monotonic() - started_at
    after = resource.getrusage(resource.RUSAGE_SELF)
    figures.update(
        wall_s=wall,
        started_at=started_at,
        cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        peak_rss_mib=after.ru_maxrss / 1024,
    )
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
