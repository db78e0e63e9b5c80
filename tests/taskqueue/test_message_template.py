"""MessageTemplate renders exactly what encode() of the same message would decode to."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from taskqueue.message import Headers, Message, RetryPolicy
from taskqueue.message_template import MessageTemplate, json_instant

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    task=st.text(min_size=1, max_size=30),
    message_id=st.text(min_size=1, max_size=40),
    args=st.lists(json_values, max_size=3),
    kwargs=st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    priority=st.integers(0, 9),
    enqueued=instants,
    scheduled=st.none() | instants,
    eta=st.none() | instants,
    expires=st.none() | instants,
    entry=st.none() | st.text(max_size=20),
)
def test_render_matches_replace_then_encode(
    task: str,
    message_id: str,
    args: list[object],
    kwargs: dict[str, object],
    priority: int,
    enqueued: datetime,
    scheduled: datetime | None,
    eta: datetime | None,
    expires: datetime | None,
    entry: str | None,
) -> None:
    base = Message(
        id="base",
        task=task,
        queue="q",
        args=tuple(args),
        kwargs=kwargs,
        priority=priority,
        time_limit=timedelta(seconds=5),
        retry=RetryPolicy(max_retries=2),
        headers=Headers(enqueued_at=enqueued, entry="e"),
    )
    template = MessageTemplate(base)
    instants = {"enqueued_at": enqueued, "scheduled_for": scheduled, "eta": eta, "expires": expires}
    rendered = template.render(message_id, entry=entry, **instants)
    expected = replace(
        base,
        id=message_id,
        eta=eta,
        expires=expires,
        headers=Headers(
            enqueued_at=enqueued, entry="e" if entry is None else entry, scheduled_for=scheduled
        ),
    )
    assert Message.decode(rendered) == expected
    assert rendered == expected.encode()
    # The burst path: the same instants pre-formatted once, same bytes.
    formatted = {name: json_instant(value) for name, value in instants.items()}
    assert rendered == template.render_json(message_id, entry=entry, **formatted)
