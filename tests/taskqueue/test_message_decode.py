"""decode_payload: the worker's one decode of a claimed payload (the JSON is parsed once)."""

from __future__ import annotations

import json

from taskqueue.message import (
    MAX_MESSAGE_BYTES,
    Message,
    Unreadable,
    decode_payload,
    named_task,
)


def test_a_message_decodes_to_itself() -> None:
    message = Message(id="m1", task="t.add", args=(1, 2), attempt=2)
    assert decode_payload(message.encode()) == message
    assert named_task(message.encode()) == ("t.add", 2)


def test_an_invalid_message_still_names_its_task_and_attempt() -> None:
    payload = json.dumps({"v": 99, "task": "t.add", "attempt": 3}).encode()
    decoded = decode_payload(payload)
    assert decoded == Unreadable("unsupported format version 99 (expected 1)", ("t.add", 3))


def test_an_oversized_payload_is_refused_but_named() -> None:
    payload = json.dumps({"task": "t.big", "attempt": 0, "pad": "x" * MAX_MESSAGE_BYTES})
    decoded = decode_payload(payload.encode())
    assert isinstance(decoded, Unreadable)
    assert decoded.reason == f"{len(payload)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
    assert decoded.named == ("t.big", 0)


def test_garbage_names_nothing() -> None:
    for payload in (b"not json", b"[1, 2]", b'{"task": 5, "attempt": 0}', b"[" * 100_000):
        decoded = decode_payload(payload)
        assert isinstance(decoded, Unreadable) and decoded.named is None, payload[:20]
        assert named_task(payload) is None
    assert decode_payload(b"[" * 100_000) == Unreadable("JSON nested too deeply")


def test_a_payload_naming_an_infinite_attempt_names_nothing() -> None:
    # json.loads accepts Infinity and NaN: int() of them must not crash a claim step.
    from taskqueue.message import named_task

    assert named_task(b'{"task": "t", "attempt": Infinity}') is None
    assert named_task(b'{"task": "t", "attempt": NaN}') is None
    assert named_task(b'{"task": "t", "attempt": 2.0}') == ("t", 2)
