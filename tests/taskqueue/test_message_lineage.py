"""parent_id/root_id in the message headers: absent when unset (old bytes), round trip."""

from __future__ import annotations

from dataclasses import replace

import pytest

from taskqueue.errors import DecodeError
from taskqueue.message import Message


def test_parent_and_root_ids_round_trip_and_are_absent_when_unset() -> None:
    """Old messages (no parent_id/root_id) keep their exact bytes and decode to None."""
    plain = Message(id="a", task="t")
    assert b"parent_id" not in plain.encode() and b"root_id" not in plain.encode()
    decoded = Message.decode(plain.encode())
    assert (decoded.headers.parent_id, decoded.headers.root_id) == (None, None)
    child = replace(plain, headers=replace(plain.headers, parent_id="p", root_id="r"))
    again = Message.decode(child.encode())
    assert (again.headers.parent_id, again.headers.root_id) == ("p", "r")


def test_a_parent_id_that_is_no_string_is_refused() -> None:
    data = (
        Message(id="a", task="t").encode().replace(b'"entry":null', b'"entry":null,"parent_id":5')
    )
    with pytest.raises(DecodeError, match=r"headers\.parent_id"):
        Message.decode(data)
