"""The create and read jobs with a fake HubSpot: accounting, failures, duplicate safety, laziness."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubtix.accounting import NOT_ATTEMPTED, BatchOutcome
from airflow_provider_hubtix.checkpoint import ResumeState
from airflow_provider_hubtix.daily_budget import DailyBudget, DailyReserve
from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.jobs import CreateJob, ReadJob
from airflow_provider_hubtix.outputs import MemorySink
from airflow_provider_hubtix.progress import ProgressLog
from airflow_provider_hubtix.runner import run_batches
from tests.unit.fakes import FakeFailure, FakeHubSpot


def located(items: list[Any]) -> list[tuple[str, Any]]:
    return [(f"item {i}", item) for i, item in enumerate(items)]


def ticket(i: int, *, bad: bool = False) -> dict[str, str]:
    return {"subject": f"{'bad' if bad else 'ok'} {i}", "hs_pipeline_stage": "1", "external_id": f"e{i}"}


def run_create(client: FakeHubSpot, items: list[Any], **options: Any) -> MemorySink:
    sink = MemorySink()
    run_create_into(sink, client, items, **options)
    return sink


def run_create_into(sink: MemorySink, client: FakeHubSpot, items: list[Any], **options: Any) -> None:
    job = CreateJob(client, **options)
    job.validate(located(items))
    job.run(located(items), sink)


def indexes(sink: MemorySink) -> list[int]:
    return sorted([r["input_index"] for r in sink.results] + [e["input_index"] for e in sink.errors])


def test_mixed_207_maps_errors_and_shuffled_results_to_their_inputs() -> None:
    items = [ticket(i, bad=i % 7 == 0) for i in range(250)]
    sink = run_create(FakeHubSpot(), items, batch_size=100)
    assert indexes(sink) == list(range(250))
    assert {e["input_index"] for e in sink.errors} == {i for i in range(250) if i % 7 == 0}
    error = next(e for e in sink.errors if e["input_index"] == 7)
    assert error == {
        "input_index": 7,
        "input": items[7],
        "status": 207,
        "category": "VALIDATION_ERROR",
        "message": "bad subject",
        "context": error["context"],
    }
    for record in sink.results:
        assert record["properties"]["subject"] == items[record["input_index"]]["subject"]
        assert record["new"] is True


def test_results_tie_by_id_property_and_identical_inputs_are_interchangeable() -> None:
    same = [{"subject": "same", "hs_pipeline_stage": "1"} for _ in range(30)]
    sink = run_create(FakeHubSpot(seed=3), same)
    assert indexes(sink) == list(range(30))
    keyed = [ticket(i) for i in range(60)]
    sink = run_create(FakeHubSpot(seed=5), keyed, id_property="external_id")
    assert all(r["properties"]["external_id"] == f"e{r['input_index']}" for r in sink.results)


def test_whole_batch_failure_becomes_error_records_and_other_batches_go_on() -> None:
    client = FakeHubSpot()
    client.failures = [None, FakeFailure("HubSpot answered 503 eight times", status=503)]
    sink = run_create(client, [ticket(i) for i in range(30)], batch_size=10, max_concurrency=1)
    assert indexes(sink) == list(range(30))
    assert sorted(e["input_index"] for e in sink.errors) == list(range(10, 20))
    assert {e["status"] for e in sink.errors} == {503}


def test_run_stopping_failure_accounts_for_every_input_and_reraises() -> None:
    client = FakeHubSpot()
    client.failures = [None, None, FakeFailure("401: fix the token", stops_run=True, status=401)]
    sink = MemorySink()
    job = CreateJob(client, batch_size=10, max_concurrency=1)
    with pytest.raises(FakeFailure, match="fix the token"):
        job.run(located([ticket(i) for i in range(100)]), sink)
    assert indexes(sink) == list(range(100))
    assert client.create_calls == 3
    categories = {e["input_index"]: e["category"] for e in sink.errors}
    assert all(categories[i] == "SERVER_ERROR" for i in range(20, 30))
    assert all(categories[i] == NOT_ATTEMPTED for i in range(30, 100))


def test_a_batch_held_back_before_sending_is_not_attempted() -> None:
    held = FakeFailure("daily_reserve '5%' (2 requests) reached", stops_run=True)
    held.never_sent = True  # type: ignore[attr-defined]
    client = FakeHubSpot()
    client.failures = [None, held]
    sink = MemorySink()
    with pytest.raises(FakeFailure):
        CreateJob(client, batch_size=10, max_concurrency=1).run(located([ticket(i) for i in range(50)]), sink)
    assert indexes(sink) == list(range(50))
    assert {e["category"] for e in sink.errors} == {NOT_ATTEMPTED}
    assert {e["input_index"] for e in sink.errors} == set(range(10, 50))
    assert all("daily_reserve '5%' (2 requests)" in e["message"] for e in sink.errors)


def test_a_stop_after_the_create_left_keeps_what_was_found_and_does_not_call_it_unsent() -> None:
    """A create's answer is lost; the read that checks what exists finds the good inputs; the
    re-create of the rest hits a stop. Found tickets stay results; the rest may exist: not unsent."""
    client = FakeHubSpot(unique_property="external_id")
    client.failures = [
        FakeFailure("answer lost", outcome_unknown=True),
        FakeFailure("token revoked", stops_run=True, status=401),
    ]
    items = [ticket(i, bad=i % 2 == 1) for i in range(10)] + [ticket(i) for i in range(10, 30)]
    sink = MemorySink()
    with pytest.raises(FakeFailure, match="token revoked"):
        run_create_into(sink, client, items, id_property="external_id", batch_size=10, max_concurrency=1)
    assert indexes(sink) == list(range(30))
    assert sorted(r["input_index"] for r in sink.results) == [0, 2, 4, 6, 8]
    assert {r["new"] for r in sink.results} == {False}  # found by the read: they exist
    failed = {e["input_index"]: e for e in sink.errors}
    assert all(
        "token revoked" in failed[i]["message"] and failed[i]["status"] == 401 for i in (1, 3, 5, 7, 9)
    )
    assert {failed[i]["category"] for i in range(10, 30)} == {NOT_ATTEMPTED}


def test_a_check_held_at_the_reserve_after_a_lost_answer_leaves_its_inputs_maybe_created() -> None:
    held = FakeFailure("daily_reserve '5%' (2 requests) reached", stops_run=True)
    held.never_sent = True  # type: ignore[attr-defined]  # the check read was held; the create had left
    client = FakeHubSpot(unique_property="external_id")
    client.failures = [FakeFailure("answer lost", outcome_unknown=True)]
    client.read_failures = [held]
    sink = MemorySink()
    with pytest.raises(FakeFailure, match="daily_reserve"):
        run_create_into(
            sink, client, [ticket(i) for i in range(10)], id_property="external_id", batch_size=10
        )
    assert indexes(sink) == list(range(10)) and len(client.tickets) == 10
    assert NOT_ATTEMPTED not in {e["category"] for e in sink.errors}  # they were sent, and exist
    assert all("daily_reserve" in e["message"] for e in sink.errors)


@pytest.mark.parametrize("with_read", [False, True])
def test_jobs_say_up_front_how_many_requests_they_need(with_read: bool) -> None:
    budget = DailyBudget(DailyReserve.parse(2))
    budget.settle(
        budget.admit(), {"X-HubSpot-RateLimit-Daily": "40", "X-HubSpot-RateLimit-Daily-Remaining": "7"}
    )
    lines: list[str] = []

    class Log:
        def info(self, msg: str, *args: Any) -> None:
            lines.append(msg % args)

        def warning(self, msg: str, *args: Any) -> None:
            lines.append("WARNING " + msg % args)

    client = FakeHubSpot()
    if with_read:
        ReadJob(client, daily_budget=budget, log=Log()).run(located(["1"] * 501), MemorySink(), total=501)
    else:
        job = CreateJob(client, batch_size=50, daily_budget=budget, log=Log())
        job.run(located([ticket(i) for i in range(250)]), MemorySink(), total=250)
    announced = lines[0]
    if with_read:
        assert announced.startswith("WARNING This run needs 6 requests") and "only 5 fit" in announced
    else:
        assert announced.startswith("This run needs 5 requests") and "5 fit" in announced


def test_runner_pulls_batches_lazily() -> None:
    pulled = 0

    def batches() -> Iterator[list[int]]:
        nonlocal pulled
        for i in range(1000):
            pulled += 1
            yield [i]

    seen: list[int] = []

    def process(batch: Any) -> BatchOutcome:
        seen.append(pulled - batch[0])  # how far ahead of this batch the runner has read
        return BatchOutcome(results=[{"input_index": batch[0]}])

    sink = MemorySink()
    run_batches(
        batches(),
        process,
        lambda b, e, a: BatchOutcome(),
        sink,
        max_concurrency=4,
        progress=ProgressLog(logging.getLogger("t"), "x"),
    )
    assert sink.results_count == 1000
    assert max(seen) <= 4


def test_bad_row_mid_stream_keeps_earlier_batches() -> None:
    items = (
        [ticket(i) for i in range(250)]
        + [{"subject": {"nested": True}}]
        + [ticket(i) for i in range(251, 300)]
    )
    sink = MemorySink()
    client = FakeHubSpot()
    with pytest.raises(InvalidInputError, match="Input 250"):
        CreateJob(client, max_concurrency=1).run(located(items), sink)
    assert sink.results_count == 200  # the two full batches before the bad row
    assert client.create_calls == 2


def test_validation_reports_rows_and_duplicate_external_ids() -> None:
    items = [ticket(0), "nope", ticket(2), ticket(0)]
    with pytest.raises(InvalidInputError) as info:
        CreateJob(FakeHubSpot(), id_property="external_id").validate(located(items))
    assert "Input 1 (item 1) is a str" in str(info.value)
    assert "Input 3 (item 3) repeats id_property value 'e0' of input 0" in str(info.value)


def test_unknown_outcome_with_id_property_checks_before_creating_the_rest() -> None:
    client = FakeHubSpot(unique_property="external_id")
    client.failures = [FakeFailure("answer lost", outcome_unknown=True)]
    sink = run_create(client, [ticket(i) for i in range(50)], id_property="external_id")
    assert indexes(sink) == list(range(50)) and not sink.errors
    assert len(client.tickets) == 50
    assert client.read_calls == 1 and client.create_calls == 1  # all existed: nothing re-sent
    assert {r["new"] for r in sink.results} == {False}


class LosingHubSpot(FakeHubSpot):
    """Loses the answer of the first ``losses`` creates before anything was stored."""

    def __init__(self, losses: int) -> None:
        super().__init__(unique_property="external_id")
        self.losses = losses

    def batch_create(self, inputs: Any, *, resend_unknown: bool = True) -> Any:
        if self.losses:
            self.losses -= 1
            self.create_calls += 1
            raise FakeFailure("answer lost", outcome_unknown=True)
        return super().batch_create(inputs, resend_unknown=resend_unknown)


def test_lost_answers_back_off_through_the_injected_sleep_then_create_the_rest() -> None:
    client, waits = LosingHubSpot(losses=3), []
    sink = run_create(client, [ticket(i) for i in range(5)], id_property="external_id", sleep=waits.append)
    assert waits == [0.2, 0.4, 0.8]
    assert client.create_calls == 4 and client.read_calls == 3
    assert indexes(sink) == list(range(5)) and not sink.errors
    assert {r["new"] for r in sink.results} == {True}


def test_answers_lost_every_round_end_in_outcome_unknown_errors() -> None:
    client, waits = LosingHubSpot(losses=100), []
    sink = run_create(client, [ticket(i) for i in range(5)], id_property="external_id", sleep=waits.append)
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]  # between the 8 rounds, at most 5 s
    assert client.create_calls == 8 and not sink.results and not client.tickets
    assert sorted(e["input_index"] for e in sink.errors) == list(range(5))
    assert {e["category"] for e in sink.errors} == {"OUTCOME_UNKNOWN"}


STYLES = ["hubspot", "label", "conflict", "opaque"]


@pytest.mark.parametrize("style", STYLES)
def test_rerun_with_id_property_reads_rejected_inputs_and_records_them_as_existing(style: str) -> None:
    client = FakeHubSpot(unique_property="external_id", duplicate_style=style)
    run_create(client, [ticket(i) for i in range(20)], id_property="external_id")
    client.read_calls = 0
    sink = run_create(client, [ticket(i) for i in range(25)], id_property="external_id")
    assert not sink.errors
    assert len(client.tickets) == 25
    assert sorted(r["input_index"] for r in sink.results if r["new"] is False) == list(range(20))
    assert client.read_calls == 1  # one read for the batch's 20 rejections


@pytest.mark.parametrize("style", STYLES)
def test_resume_reads_inputs_in_flight_before_sending_them_again(style: str) -> None:
    client = FakeHubSpot(unique_property="external_id", duplicate_style=style)
    run_create(client, [ticket(i) for i in range(10)], id_property="external_id")  # the earlier try
    resume = ResumeState()
    for index in range(20):  # 0-19 were in flight when it was killed; 0-9 made it
        resume.maybe_sent.add(index)
    client.read_calls = client.create_calls = 0
    client.sent.clear()
    job = CreateJob(client, id_property="external_id", batch_size=15, max_concurrency=1)
    sink = MemorySink()
    job.run(located([ticket(i) for i in range(30)]), sink, resume=resume)
    assert indexes(sink) == list(range(30)) and not sink.errors
    assert sorted(r["input_index"] for r in sink.results if r["new"] is False) == list(range(10))
    assert client.duplicates_rejected == 0  # nothing that existed was sent again
    assert sorted(value for batch in client.sent for value in batch) == sorted(f"e{i}" for i in range(10, 30))
    assert client.read_calls == 2  # one per batch holding in-flight inputs


def test_a_clean_run_costs_no_read_and_a_batch_with_errors_one() -> None:
    """An error's wording never rules out an existing ticket (HubSpot may name the property by its
    label, or not at all): each batch with rejections costs one read, a clean batch none."""
    items = [{**ticket(i), "missing": "x"} if i % 37 == 0 and i < 500 else ticket(i) for i in range(1000)]
    client = FakeHubSpot(unique_property="external_id")
    sink = run_create(client, items, id_property="external_id")
    assert client.read_calls == 5 and client.create_calls == 10
    assert {e["input_index"] for e in sink.errors} == set(range(0, 500, 37))
    error = sink.errors[0]
    assert error["input"] == items[error["input_index"]] and '"name": "missing"' in error["message"]


@pytest.mark.parametrize("style", STYLES)
def test_a_doubtful_error_for_a_ticket_that_does_not_exist_keeps_its_record(style: str) -> None:
    client = FakeHubSpot(unique_property="external_id", duplicate_style=style)
    items = [ticket(i, bad=i == 3) for i in range(10)]
    sink = run_create(client, items, id_property="external_id")
    assert client.read_calls == 1  # one read for the batch's rejections, whatever they say
    assert sink.errors == [
        {
            "input_index": 3,
            "input": items[3],
            "status": 207,
            "category": "VALIDATION_ERROR",
            "message": "bad subject",
            "context": sink.errors[0]["context"],
        }
    ]


def test_a_failed_check_keeps_the_original_errors_and_the_results() -> None:
    client = FakeHubSpot(unique_property="external_id")
    run_create(client, [ticket(i) for i in range(5)], id_property="external_id")
    client.read_failures = [FakeFailure("read timed out", status=504)]
    sink = run_create(client, [ticket(i) for i in range(10)], id_property="external_id")
    assert sorted(r["input_index"] for r in sink.results) == list(range(5, 10))
    assert sorted(e["input_index"] for e in sink.errors) == list(range(5))
    assert "already has that value" in sink.errors[0]["message"]


@pytest.mark.parametrize("style", STYLES)
def test_whole_batch_400_with_existing_inputs_creates_the_rest(style: str) -> None:
    client = FakeHubSpot(unique_property="external_id", duplicate_style=style, reject_whole=True)
    run_create(client, [ticket(i) for i in range(0, 100, 2)], id_property="external_id")
    client.read_calls = client.create_calls = 0
    sink = run_create(client, [ticket(i) for i in range(200)], id_property="external_id", max_concurrency=1)
    assert indexes(sink) == list(range(200)) and not sink.errors
    assert sorted(r["input_index"] for r in sink.results if r["new"] is False) == list(range(0, 100, 2))
    assert len(client.tickets) == 200
    assert client.read_calls == 1 and client.create_calls == 3  # 400, the other 50, the second batch


def test_whole_batch_400_about_other_properties_stops_the_run_after_one_read() -> None:
    client = FakeHubSpot(unique_property="external_id", reject_whole=True)
    items = [{**ticket(i), "missing": "x"} if i == 150 else ticket(i) for i in range(300)]
    job = CreateJob(client, id_property="external_id", max_concurrency=1)
    sink = MemorySink()
    with pytest.raises(FakeFailure, match="PROPERTY_DOESNT_EXIST"):
        job.run(located(items), sink)
    assert client.read_calls == 1  # none of them exists: the 400 stands
    assert indexes(sink) == list(range(300)) and sink.results_count == 100
    assert {e["category"] for e in sink.errors} == {"VALIDATION_ERROR", NOT_ATTEMPTED}


def test_read_missing_ids_become_one_error_each() -> None:
    client = FakeHubSpot()
    run_create(client, [ticket(i) for i in range(5)])
    job = ReadJob(client)
    ids = located(["1", 2, {"id": "3"}, "98", "99"])
    job.validate(ids)
    sink = MemorySink()
    job.run(ids, sink)
    assert sorted(r["id"] for r in sink.results) == ["1", "2", "3"]
    assert [(e["id"], e["category"], e["input_index"]) for e in sink.errors] == [
        ("98", "OBJECT_NOT_FOUND", 3),
        ("99", "OBJECT_NOT_FOUND", 4),
    ]


def test_read_with_history_uses_batches_of_50() -> None:
    client = FakeHubSpot()
    job = ReadJob(client, properties_with_history=["subject"])
    job.run(located([str(i) for i in range(1, 121)]), MemorySink())
    assert job.batch_size == 50
    assert client.read_calls == 3


def test_progress_lines_are_throttled() -> None:
    now = [0.0]
    lines: list[str] = []

    class Log:
        def info(self, msg: str, *args: Any) -> None:
            lines.append(msg % args)

        def warning(self, msg: str, *args: Any) -> None:
            lines.append(msg % args)

    progress = ProgressLog(Log(), "created", 1000, batch_size=100, interval=5.0, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 1.0
        progress.update(100, 90, 10)
    assert len(lines) == 2
    assert lines[0].startswith("500/1,000 inputs in 5/10 batches: 450 created, 50 failed, 100 inputs/s")
    assert "ETA 5 s" in lines[0]


@settings(max_examples=40, deadline=None)
@given(
    flags=st.lists(st.booleans(), min_size=1, max_size=260),
    batch_size=st.integers(1, 100),
    concurrency=st.integers(1, 8),
    seed=st.integers(0, 1000),
    with_id=st.booleans(),
)
def test_every_input_exactly_once(
    flags: list[bool], batch_size: int, concurrency: int, seed: int, with_id: bool
) -> None:
    items = [ticket(i, bad=bad) for i, bad in enumerate(flags)]
    client = FakeHubSpot(seed=seed, unique_property="external_id" if with_id else None)
    sink = run_create(
        client,
        items,
        batch_size=batch_size,
        max_concurrency=concurrency,
        id_property="external_id" if with_id else None,
    )
    assert indexes(sink) == list(range(len(items)))
    assert {e["input_index"] for e in sink.errors} == {i for i, bad in enumerate(flags) if bad}
    assert all(items[r["input_index"]]["external_id"] == r["properties"]["external_id"] for r in sink.results)
