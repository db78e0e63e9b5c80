"""Fuzz the wire decoder: any bytes give a Message or a DecodeError, never another exception.

A worker decodes whatever it claims; an exception other than DecodeError would escape the
consumer's dead-letter path and take the worker down on a single poison message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskqueue.errors import DecodeError
from taskqueue.message import Headers, Message, RetryPolicy

FUZZ = settings(max_examples=400, deadline=None)

VALID = Message(
    id="entry@1767225600000",
    task="app.tasks.report",
    queue="reports",
    args=(1, "two", [3]),
    kwargs={"full": True},
    priority=5,
    eta=datetime(2026, 1, 1, tzinfo=UTC),
    expires=datetime(2026, 1, 2, tzinfo=UTC),
    soft_time_limit=timedelta(seconds=30),
    time_limit=timedelta(seconds=60),
    retry=RetryPolicy(max_retries=3),
    attempt=1,
    headers=Headers(
        enqueued_at=datetime(2026, 1, 1, tzinfo=UTC),
        entry="entry",
        scheduled_for=datetime(2026, 1, 1, tzinfo=UTC),
    ),
)
VALID_BYTES = VALID.encode()
VALID_WIRE: dict[str, Any] = json.loads(VALID_BYTES)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "nan", "-1", "1e999"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def decodes_or_refuses(data: bytes | str) -> Message | None:
    try:
        message = Message.decode(data)
    except DecodeError:
        return None
    # What decodes is a valid message: it encodes again and round-trips.
    assert Message.decode(message.encode()) == message
    return message


def test_the_valid_payload_round_trips() -> None:
    assert Message.decode(VALID_BYTES) == VALID


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    decodes_or_refuses(data)


@FUZZ
@given(st.text(max_size=512))
def test_arbitrary_text(data: str) -> None:
    decodes_or_refuses(data)


@FUZZ
@given(JSON)
def test_arbitrary_json_documents(value: Any) -> None:
    decodes_or_refuses(json.dumps(value))


@FUZZ
@given(st.sampled_from(sorted(VALID_WIRE)), JSON)
def test_one_field_replaced_by_any_json(key: str, value: Any) -> None:
    wire = {**VALID_WIRE, key: value}
    decodes_or_refuses(json.dumps(wire))


@FUZZ
@given(st.sampled_from(sorted(VALID_WIRE["headers"]) + sorted(VALID_WIRE["retry"])), JSON)
def test_one_nested_field_replaced_by_any_json(key: str, value: Any) -> None:
    wire = json.loads(VALID_BYTES)
    section = "headers" if key in wire["headers"] else "retry"
    wire[section][key] = value
    decodes_or_refuses(json.dumps(wire))


@FUZZ
@given(st.sets(st.sampled_from(sorted(VALID_WIRE)), min_size=1))
def test_fields_removed(keys: set[str]) -> None:
    wire = {k: v for k, v in VALID_WIRE.items() if k not in keys}
    decodes_or_refuses(json.dumps(wire))


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(VALID_BYTES) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=0, max_value=len(VALID_BYTES)),
)
def test_mutated_bytes_and_truncation(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID_BYTES)
    for at, byte in flips:
        data[at] = byte
    decodes_or_refuses(bytes(data))
    decodes_or_refuses(VALID_BYTES[:cut])


@pytest.mark.parametrize("depth", [10_000, 100_000])
@pytest.mark.parametrize("where", ["document", "args"])
def test_deeply_nested_json_is_refused(depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    if where == "document":
        data = nested
    else:
        compact = json.dumps({**VALID_WIRE, "args": []}, separators=(",", ":"))
        data = compact.replace('"args":[]', f'"args":[{nested}]')
        assert nested in data
    # 20-200 KB of brackets, under the 1 MiB limit, past json.loads's recursion limit.
    assert decodes_or_refuses(data) is None
