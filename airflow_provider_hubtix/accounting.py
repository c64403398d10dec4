"""Tying HubSpot's batch answers back to the inputs: every input exactly once, result or error.

HubSpot returns results shuffled and without ``objectWriteTraceId``. A create or upsert result is tied to its
input by the ``id_property`` value when one is set, else by the properties HubSpot echoes (inputs
with identical properties are interchangeable). Per-input errors carry the input's trace id.
Anything HubSpot left unaccounted for becomes an error record, never a silent loss.
Plain Python, no Airflow import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from airflow_provider_hubtix.batch_response import BatchResponse
from airflow_provider_hubtix.create_inputs import WriteInput
from airflow_provider_hubtix.read_inputs import ReadInput

__all__ = [
    "MISSING_FROM_RESPONSE",
    "NOT_ATTEMPTED",
    "BatchOutcome",
    "Record",
    "account_failure",
    "account_read",
    "account_write",
    "read_error",
    "write_error",
]

Record = dict[str, Any]

MISSING_FROM_RESPONSE = "MISSING_FROM_RESPONSE"
NOT_ATTEMPTED = "NOT_ATTEMPTED"


@dataclass
class BatchOutcome:
    """The records one batch produced.

    :param results: result records.
    :param errors: error records.
    """

    results: list[Record] = field(default_factory=list)
    errors: list[Record] = field(default_factory=list)


def write_error(
    item: WriteInput,
    *,
    status: int | None,
    category: str,
    message: str,
    context: Mapping[str, Any] | None = None,
) -> Record:
    """The error record of one create or upsert input (DESIGN's shape).

    :param item: the input.
    :param status: the HTTP status that reported it, if any.
    :param category: HubSpot's category, or ours.
    :param message: what went wrong.
    :param context: HubSpot's context map.
    """
    return {
        "input_index": item.index,
        "input": item.original,
        "status": status,
        "category": category,
        "message": message,
        "context": dict(context or {}),
    }


def read_error(
    item: ReadInput,
    *,
    status: int | None,
    category: str,
    message: str,
    context: Mapping[str, Any] | None = None,
) -> Record:
    """The error record of one id (DESIGN's shape, plus ``input_index`` and ``context``).

    :param item: the id.
    :param status: the HTTP status that reported it, if any.
    :param category: HubSpot's category (``OBJECT_NOT_FOUND`` …), or ours.
    :param message: what went wrong.
    :param context: HubSpot's context map.
    """
    return {
        "id": item.id,
        "input_index": item.index,
        "status": status,
        "category": category,
        "message": message,
        "context": dict(context or {}),
    }


def account_write(
    batch: Sequence[WriteInput], response: BatchResponse, id_property: str | None
) -> BatchOutcome:
    """Turn one batch-create or batch-upsert answer into one record per input.

    :param batch: the inputs sent, in order.
    :param response: HubSpot's answer.
    :param id_property: the unique property tying results to inputs, or ``None``.
    """
    outcome = BatchOutcome()
    by_trace = {item.trace_id: item for item in batch} if response.errors else {}
    failed: set[int] = set()
    for error in response.errors:
        context = error.get("context") or {}
        trace_ids = context.get("objectWriteTraceId") or [] if isinstance(context, Mapping) else []
        for trace_id in trace_ids:
            item = by_trace.get(trace_id)
            if item is None or item.index in failed:
                continue
            failed.add(item.index)
            outcome.errors.append(
                write_error(
                    item,
                    status=response.status_code,
                    category=str(error.get("category") or "UNKNOWN"),
                    message=str(error.get("message") or ""),
                    context=context,
                )
            )
    pending = [item for item in batch if item.index not in failed] if failed else batch
    matched, leftovers = _match_results(pending, response.results, id_property)
    results = outcome.results
    for item, result in matched:
        record = dict(result)
        record["input_index"] = item.index
        results.append(record)
    for item in leftovers:
        outcome.errors.append(
            write_error(
                item,
                status=response.status_code,
                category=MISSING_FROM_RESPONSE,
                message="HubSpot's answer named neither a result nor an error for this input; it may or "
                "may not have been written. Check HubSpot before re-sending it.",
            )
        )
    return outcome


def _match_results(
    pending: Sequence[WriteInput], results: Sequence[Record], id_property: str | None
) -> tuple[list[tuple[WriteInput, Record]], list[WriteInput]]:
    """Pair results with inputs: by id_property, else by echoed properties, else best overlap."""
    if id_property:
        matched, unmatched_results = _match_by_id_property(pending, results, id_property)
    else:
        matched, unmatched_results = _match_by_echo(pending, results)
    taken = {item.index for item, _ in matched}
    remaining = [item for item in pending if item.index not in taken]
    for result in unmatched_results:
        if not remaining:
            break
        best = max(remaining, key=lambda item: _overlap(item.properties, _properties(result)))
        remaining.remove(best)
        matched.append((best, result))
    return matched, remaining


def _match_by_id_property(
    pending: Sequence[WriteInput], results: Sequence[Record], id_property: str
) -> tuple[list[tuple[WriteInput, Record]], list[Record]]:
    """Pair each result with the input of the same ``id_property`` value; return the pairs and the
    results left unpaired."""
    by_value = {item.properties[id_property]: item for item in pending}
    matched: list[tuple[WriteInput, Record]] = []
    unmatched: list[Record] = []
    for result in results:
        item = by_value.pop(str(_properties(result).get(id_property)), None)
        if item is None:
            unmatched.append(result)
        else:
            matched.append((item, result))
    return matched, unmatched


def _match_by_echo(
    pending: Sequence[WriteInput], results: Sequence[Record]
) -> tuple[list[tuple[WriteInput, Record]], list[Record]]:
    """Pair each result with an input whose every sent property it echoes with the same value.

    Inputs are grouped by the set of property names they sent, then by those values (read by one
    ``itemgetter`` per group); a result missing one of a group's names cannot match that group's inputs.
    """
    groups: dict[tuple[str, ...], tuple[Callable[[Any], Any], dict[Any, list[WriteInput]]]] = {}
    for item in pending:
        names = tuple(sorted(item.properties))
        if names not in groups:
            groups[names] = (itemgetter(*names), {})
        key_of, by_values = groups[names]
        by_values.setdefault(key_of(item.properties), []).append(item)
    matched: list[tuple[WriteInput, Record]] = []
    unmatched: list[Record] = []
    for result in results:
        props = _properties(result)
        for key_of, by_values in groups.values():
            try:
                bucket = by_values.get(key_of(props))
            except KeyError:
                continue
            if bucket:
                matched.append((bucket.pop(0), result))
                break
        else:
            unmatched.append(result)
    return matched, unmatched


def _properties(result: Mapping[str, Any]) -> Mapping[str, Any]:
    props = result.get("properties")
    return props if type(props) is dict or isinstance(props, Mapping) else {}


def _overlap(sent: Mapping[str, str], echoed: Mapping[str, Any]) -> int:
    return sum(1 for name, value in sent.items() if echoed.get(name) == value)


def account_failure(
    batch: Sequence[Any],
    error_record: Callable[..., Record],
    *,
    status: int | None,
    category: str,
    message: str,
    context: Mapping[str, Any] | None = None,
) -> BatchOutcome:
    """One error record per input of a batch that failed as a whole.

    :param batch: the inputs (create inputs or ids).
    :param error_record: :func:`write_error` or :func:`read_error`.
    :param status: the HTTP status, if any.
    :param category: the failure's category.
    :param message: what went wrong.
    :param context: extra context.
    """
    return BatchOutcome(
        errors=[
            error_record(item, status=status, category=category, message=message, context=context)
            for item in batch
        ]
    )


def account_read(
    batch: Sequence[ReadInput], response: BatchResponse, id_property: str | None
) -> BatchOutcome:
    """Turn one batch-read answer into records: one result per found id, one error per missing id.

    Ids repeated inside one batch are read once and reported once.

    :param batch: the ids sent.
    :param response: HubSpot's answer.
    :param id_property: the property the ids refer to, or ``None`` for record ids.
    """
    outcome = BatchOutcome()
    found: dict[str, Record] = {}
    for result in response.results:
        key = result.get("id") if id_property is None else _properties(result).get(id_property)
        if key is not None:
            found[str(key)] = result
    not_found: dict[str, Record] = {}
    for error in response.errors:
        context = error.get("context") or {}
        for missing in context.get("ids") or [] if isinstance(context, Mapping) else []:
            not_found[str(missing)] = error
    seen: set[str] = set()
    for item in batch:
        if item.id in seen:
            continue
        seen.add(item.id)
        if item.id in found:
            outcome.results.append(found[item.id])
            continue
        missing_error = not_found.get(item.id)
        if missing_error is not None:
            outcome.errors.append(
                read_error(
                    item,
                    status=response.status_code,
                    category=str(missing_error.get("category") or "OBJECT_NOT_FOUND"),
                    message=str(missing_error.get("message") or "Not found."),
                )
            )
        else:
            outcome.errors.append(
                read_error(
                    item,
                    status=response.status_code,
                    category=MISSING_FROM_RESPONSE,
                    message="HubSpot's answer named neither a result nor an error for this id.",
                )
            )
    return outcome
