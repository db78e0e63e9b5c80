"""``routes:`` in schedules.yaml (issue 14 item 5): validated with lines by the config parser
and ``beat check``, and applied to entries: entry > route > ``defaults:`` > default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from beat.config import load_config
from beat.errors import ConfigError
from tests.cli.runner import run

ROUTED = """\
defaults:
  queue: bulk
  options:
    priority: 1
    max_retries: 5
routes:
  reports.nightly:
    queue: night
  reports.*:
    queue: reports
    priority: 4
    time_limit: 5m
entries:
  nightly:
    task: reports.nightly
    cron: '0 2 * * *'
  weekly:
    task: reports.weekly
    cron: '0 3 * * 1'
  pinned:
    task: reports.weekly
    cron: '0 4 * * 1'
    queue: mine
    options:
      priority: 9
  other:
    task: billing.run
    every: 1h
"""


def test_entries_take_the_first_matching_route_under_their_own_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(ROUTED)
    config = load_config(cfg)
    e = config.entries
    assert [r.pattern for r in config.routes] == ["reports.nightly", "reports.*"]
    assert (e["nightly"].queue, e["nightly"].options.priority) == ("night", 1)
    assert (e["weekly"].queue, e["weekly"].options.priority) == ("reports", 4)
    assert e["weekly"].options.time_limit == timedelta(minutes=5)
    assert e["weekly"].options.max_retries == 5  # the route leaves it to defaults
    assert (e["pinned"].queue, e["pinned"].options.priority) == ("mine", 9)
    assert (e["other"].queue, e["other"].options.priority) == ("bulk", 1)


BAD = """\
routes:
  reports.*:
    queue: reports
    priority: 12
  '[bad':
    queue: x
  ok.*:
    qeue: x
  tl.*:
    time_limit: soon
  sp.*:
    queue: has space
  list.*: [1]
"""


def test_check_names_file_line_and_field_of_each_bad_route(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(BAD)
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    found = [(p.line, p.path) for p in caught.value.problems]
    assert found == [
        (4, "routes.reports.*.priority"),
        (5, "routes"),  # the message names the pattern
        (7, "routes.ok.*"),
        (10, "routes.tl.*.time_limit"),
        (12, "routes.sp.*.queue"),
        (13, "routes.list.*"),
    ]
    code, _out, err = run(capsys, "check", "--config", str(cfg))
    assert code == 2
    assert f"{cfg}:4: routes.reports.*.priority: must be at most 9, got 12" in err
    assert "unknown key(s) qeue" in err and "'soon' is not a duration" in err
