"""Tying create results back to inputs: the grouped matching against its plain definition."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubtix.accounting import _match_results, account_write
from airflow_provider_hubtix.batch_response import BatchResponse
from airflow_provider_hubtix.create_inputs import WriteInput


def make_input(index: int, properties: dict[str, str]) -> WriteInput:
    payload = {"properties": properties, "associations": [], "objectWriteTraceId": f"t-{index}"}
    return WriteInput(index, dict(properties), payload)


def reference_match(pending: list[WriteInput], results: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The matching by echoed properties as first written: value tuples in sorted-name order."""
    candidates: dict[tuple[str, ...], dict[tuple[Any, ...], list[WriteInput]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for item in pending:
        names = tuple(sorted(item.properties))
        candidates[names][tuple(item.properties[name] for name in names)].append(item)
    pairs = []
    for number, result in enumerate(results):
        props = result.get("properties") or {}
        for names, by_values in candidates.items():
            bucket = by_values.get(tuple(props.get(name) for name in names))
            if bucket:
                pairs.append((bucket.pop(0).index, number))
                break
    return pairs


names = st.sampled_from(["subject", "content", "hs_pipeline_stage", "priority"])
values = st.sampled_from(["a", "b", "1"])
property_dicts = st.dictionaries(names, values, min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    inputs=st.lists(property_dicts, min_size=1, max_size=12),
    echoed=st.lists(
        st.tuples(st.integers(min_value=0, max_value=11), st.booleans(), st.booleans()), max_size=12
    ),
)
def test_grouped_matching_pairs_exactly_like_the_plain_definition(
    inputs: list[dict[str, str]], echoed: list[tuple[int, bool, bool]]
) -> None:
    pending = [make_input(i, props) for i, props in enumerate(inputs)]
    results = []
    for target, drop_one, null_one in echoed:
        props: dict[str, Any] = dict(inputs[target % len(inputs)])
        names_sent = sorted(props)
        if drop_one:
            del props[names_sent[0]]  # a result missing a property cannot match that input
        elif null_one:
            props[names_sent[-1]] = None  # HubSpot echoes unset properties as null
        props["hs_object_id"] = str(len(results))  # HubSpot adds its own properties
        results.append({"id": str(len(results)), "properties": dict(reversed(props.items()))})
    expected = reference_match(pending, results)
    matched, _ = _match_results(pending, results, None)
    pairs = [(item.index, results.index(result)) for item, result in matched]
    assert pairs[: len(expected)] == expected  # the exact matches, then best-overlap ones
    assert {number for _, number in pairs[len(expected) :]}.isdisjoint(n for _, n in expected)


def test_account_create_ties_shuffled_results_with_any_key_order() -> None:
    pending = [
        make_input(0, {"subject": "x", "hs_pipeline_stage": "1"}),
        make_input(1, {"hs_pipeline_stage": "1", "subject": "x"}),  # same set, other order
        make_input(2, {"subject": "y"}),  # a group of one name
    ]
    results = [
        {"id": "12", "properties": {"subject": "y", "hs_object_id": "12"}},
        {"id": "10", "properties": {"hs_pipeline_stage": "1", "subject": "x"}},
        {"id": "11", "properties": {"subject": "x", "hs_pipeline_stage": "1"}},
    ]
    outcome = account_write(pending, BatchResponse(201, results, []), None)
    assert outcome.errors == []
    assert [(r["input_index"], r["id"]) for r in outcome.results] == [(2, "12"), (0, "10"), (1, "11")]
    assert results[0] == {"id": "12", "properties": {"subject": "y", "hs_object_id": "12"}}  # not changed
