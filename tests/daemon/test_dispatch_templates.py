"""Message templates (issue 17): shared ones are built at start-up, one that a single entry
uses waits for that entry's first fire, and both encode the same fire alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from beat.dispatch import Dispatcher
from beat.entries import Entry
from beat.planner import Fire
from beat.time.schedules import Interval
from taskqueue.message import fire_id
from taskqueue.message_template import MessageTemplate

WHEN = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)


def test_prepare_builds_shared_templates_and_leaves_single_ones_to_the_first_fire() -> None:
    schedule = Interval(timedelta(minutes=1), None, ZoneInfo("UTC"))
    own = Entry("own", "t", schedule, kwargs={"id": 7})
    twins = [Entry(name, "t", schedule, args=(1,)) for name in ("a1", "a2")]
    assert twins[0].spec is twins[1].spec
    d = Dispatcher()
    entries = [own, *twins, Entry("plain", "t", schedule)]
    d.prepare([e.name for e in entries], [e.spec for e in entries])
    assert set(d._by_spec) == {id(twins[0].spec)}
    payload = d.encode(own, Fire("own", WHEN, fire_id("own", WHEN)), WHEN).payload
    assert json.loads(payload)["kwargs"] == {"id": 7}
    assert set(d._by_spec) == {id(twins[0].spec), id(own.spec)}


def test_prepare_looks_up_each_shared_spec_once_not_once_per_entry() -> None:
    schedule = Interval(timedelta(minutes=1), None, ZoneInfo("UTC"))
    fleet = [Entry(f"e{i}", f"t{i % 3}", schedule) for i in range(300)]
    looked_up: list[str] = []

    class Counting(Dispatcher):
        def _template(self, entry: Entry) -> tuple[MessageTemplate, int]:
            looked_up.append(entry.task)
            return super()._template(entry)

    d = Counting()
    d.prepare([e.name for e in fleet], [e.spec for e in fleet])
    assert sorted(looked_up) == ["t0", "t1", "t2"]  # three specs: three look-ups
    assert len(d._plain) == 3
