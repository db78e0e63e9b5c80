"""The routing rule (taskqueue/routes.py): parse and match."""

from __future__ import annotations

from datetime import timedelta

import pytest

from taskqueue.routes import match, parse_routes


def test_first_matching_pattern_wins_with_its_options() -> None:
    routes = parse_routes(
        {
            "reports.nightly": {"queue": "night"},
            "reports.*": {"queue": "reports", "priority": 2, "time_limit": "5m", "max_retries": 3},
        }
    )
    nightly, other = match(routes, "reports.nightly"), match(routes, "reports.weekly")
    assert nightly is not None and nightly.queue == "night"
    assert other is not None and other.queue == "reports" and other.priority == 2
    assert other.time_limit == timedelta(minutes=5) and other.max_retries == 3
    assert match(routes, "billing.run") is None
    assert match(routes, "Reports.weekly") is None  # case-sensitive


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"reports.*": {"qeue": "x"}}, r"routes\.reports\.\*: unknown key\(s\) qeue"),
        ({"": {"queue": "x"}}, "pattern '' must be"),
        ({"rep[orts": {"queue": "x"}}, "unclosed"),
        ({"a.*": {"priority": 12}}, r"routes\.a\.\*\.priority: must be at most 9"),
        ({"a.*": {"max_retries": -1}}, r"max_retries: must be an integer >= 0"),
        ({"a.*": {"time_limit": "soon"}}, r"routes\.a\.\*\.time_limit"),
        ({"a.*": "fast"}, "must be a mapping of options"),
        (["a.*"], "routes: must be a mapping"),
    ],
)
def test_bad_routes_name_the_field(raw: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_routes(raw)
