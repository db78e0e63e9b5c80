"""``redis+sentinel://`` URLs and the ``wait_replicas`` option: a bad URL is refused before
anything connects, with an error naming the URL's part that is wrong (password hidden), by
the broker factory every role uses and by ``beat check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from beat.config.top import read_config
from taskqueue.errors import BrokerError, UnknownBrokerURL
from taskqueue.redis_url import ReplicaWait, SentinelService, parse_redis_url
from taskqueue.urls import open_broker
from tests.faults.procs import run_cli


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    target = parse_redis_url(
        "redis+sentinel://:s3cret@h1:26379,h2,[::1]:26380/mymaster/3?sentinel_password=x"
    )
    assert target.sentinel == SentinelService(
        sentinels=(("h1", 26379), ("h2", 26379), ("::1", 26380)),
        service_name="mymaster",
        db=3,
        username=None,
        password="s3cret",
        sentinel_password="x",
    )
    assert target.wait is None


def test_wait_options_are_read_and_taken_out_of_a_plain_url() -> None:
    target = parse_redis_url("redis://h:6379/2?wait_replicas=1&health_check_interval=3")
    assert target.wait == ReplicaWait(1, 100)
    assert target.url == "redis://h:6379/2?health_check_interval=3"  # redis-py's to read
    assert parse_redis_url("redis://h/0?wait_replicas=2&wait_timeout_ms=50").wait == ReplicaWait(
        2, 50
    )
    assert parse_redis_url("redis://h/0?wait_replicas=0").wait is None


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("redis+sentinel://h1:26379/", "no service name"),
        ("redis+sentinel:///mymaster", "expected sentinels as host1:26379"),
        ("redis+sentinel://h1:26379,,h2/mymaster", "expected sentinels as host1:26379"),
        ("redis+sentinel://:pw@h1:abc/mymaster", "sentinel 'h1:abc': port 'abc'"),
        ("redis+sentinel://h1:70000/mymaster", "sentinel 'h1:70000': port '70000'"),
        ("redis+sentinel://h1/mymaster/x", "path /mymaster/x"),
        ("redis+sentinel://h1/mymaster?master_name=m", "unknown query parameter 'master_name'"),
        ("redis://h/0?wait_replicas=many", "wait_replicas='many'"),
        ("redis+sentinel://h1/m?wait_replicas=1&wait_timeout_ms=0", "wait_timeout_ms='0'"),
        ("redis://h/0?wait_timeout_ms=5", "wait_timeout_ms needs wait_replicas"),
    ],
)
def test_a_bad_url_is_refused_naming_the_part(url: str, part: str) -> None:
    with pytest.raises(BrokerError) as caught:
        open_broker(url)
    text = str(caught.value)
    assert part in text, text
    assert "pw" not in text.replace("wait_replicas", "")  # the password is hidden


def test_beat_check_reports_a_bad_sentinel_url_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("timezone: UTC\nbroker: redis+sentinel://h1:26379/\nentries: {}\n")
    _, problems = read_config(config)
    assert [(p.line, p.path) for p in problems] == [(2, "broker")]
    assert "no service name" in problems[0].message
    done = run_cli("check", "--config", str(config))
    assert done.returncode != 0
    assert "no service name" in done.stdout + done.stderr


def test_beat_check_accepts_a_good_sentinel_url(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "broker: redis+sentinel://h1:26379,h2:26379/mymaster/0?wait_replicas=1\nentries: {}\n"
    )
    _, problems = read_config(config)
    assert problems == []


def test_kombus_sentinel_url_is_refused_with_the_url_to_write_instead(tmp_path: Path) -> None:
    url = "sentinel://:pw1@h1:26379;sentinel://:pw2@h2:26379"
    with pytest.raises(UnknownBrokerURL) as caught:
        open_broker(url)
    text = str(caught.value)
    assert "write redis+sentinel://h1:26379,h2:26379/<master_name>[/db]" in text
    assert "pw1" not in text and "pw2" not in text, text  # every URL of the list redacted
    config = tmp_path / "schedules.yaml"
    config.write_text(f"broker: '{url}'\nentries: {{}}\n")
    _, problems = read_config(config)
    assert [p.path for p in problems] == ["broker"]
    assert "redis+sentinel://h1:26379,h2:26379/<master_name>" in problems[0].message
    assert "pw2" not in problems[0].message
