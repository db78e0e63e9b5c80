"""The dashboard in a real browser: Playwright for Python driving Debian's Chromium.

Opens every page (a screenshot of each goes to tests/output/web/, git-ignored: CI artefacts),
triggers an entry through the confirmation page and watches the run arrive in the entry's
page without reloading, and checks that a form posted without the CSRF token is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import StartWeb, send, wait_for, write_config

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "output" / "web"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_every_page_opens(
    tmp_path: Path, broker_url: str, start_web: StartWeb, browser: Any
) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    kind = broker_url.partition(":")[0]
    checks = {
        "/entries": "nightly",
        "/entries/nightly": "Next fires",
        "/entries/paused": "disabled: no fires",  # the beat sends none of a disabled entry
        "/timeline": "Every fire in the next 24 hours",
        "/queues": "Depth over the last hour",
        "/dead": "no dead letters",
        "/workers": "no workers",
        "/leader": "no leader",
    }
    for path, text in checks.items():
        response = page.goto(web.base + path)
        assert response is not None and response.status == 200, path
        page.get_by_text(text).first.wait_for()
        name = path.strip("/").replace("/", "-")
        page.screenshot(path=str(SCREENSHOTS / f"{kind}-{name}.png"), full_page=True)
    # The depth chart is drawn by uPlot (shipped in the package) from the sampled history.
    page.goto(web.base + "/queues")
    page.wait_for_selector("#depth-chart canvas")
    # A task looked up from the navigation bar: unknown ids say so.
    page.fill("input[name=id]", "no-such-task")
    page.click("text=Find task")
    page.get_by_text("unknown (never seen").wait_for()


def test_trigger_then_see_the_run_arrive(
    tmp_path: Path, broker_url: str, start_web: StartWeb, run_worker: Any, browser: Any
) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    run_worker(broker_url)
    page = browser.new_page()
    page.goto(web.base + "/entries/tick")
    page.get_by_text("no fires recorded").wait_for()
    page.click("text=Trigger now")
    page.get_by_text("Run the task of entry tick now").wait_for()  # the confirmation
    page.click("#confirm")
    page.get_by_text("triggered tick: task").wait_for()
    # The live part refreshes by itself (htmx): the fire arrives in the entry's history (the
    # fire log, as `beat history` shows it) and turns SUCCESS without a reload; the chart of
    # run time per fire gets its point.
    page.locator("#history .state.SUCCESS").wait_for(timeout=20_000)
    page.wait_for_selector("#history-chart[data-fires='1'] canvas", timeout=20_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "entry-after-trigger.png"), full_page=True)
    assert "triggered entry tick" in web.log()


def test_form_without_csrf_token_is_refused(
    tmp_path: Path, start_web: StartWeb, browser: Any
) -> None:
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'queue.db'}"))
    page = browser.new_page()
    page.goto(web.base + "/actions/entries/tick/trigger")
    page.eval_on_selector("input[name=csrf_token]", "e => e.remove()")
    page.click("#confirm")
    page.get_by_text("missing or wrong CSRF token").wait_for()
    page.goto(web.base + "/entries/tick")
    page.get_by_text("no fires recorded").wait_for()
    assert "triggered" not in web.log()


def _process_gone(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_revoke_a_running_task(
    tmp_path: Path, redis_url: str, start_web: StartWeb, run_worker: Any, browser: Any
) -> None:
    """A prefork worker runs a long task; revoking it with "stop it" from the task page kills
    the pool process running it and the page turns REVOKED by itself."""
    web = start_web(write_config(tmp_path, redis_url))
    worker = run_worker(redis_url, "-P", "prefork", "-c", "1")
    marks = tmp_path / "marks"
    message = send(redis_url, "t.sleep_mark", 120, str(marks), "long")
    line = wait_for(lambda: marks.exists() and marks.read_text(), what="the task started")
    pid = int(line.split()[2])
    assert pid != worker.pid and not _process_gone(pid)
    page = browser.new_page()
    page.goto(f"{web.base}/tasks/{message.id}")
    page.locator(".state.STARTED").first.wait_for(timeout=20_000)
    page.click("#revoke-terminate")
    page.get_by_text("and stop it if it is running").wait_for()  # the confirmation
    page.click("#confirm")
    page.get_by_text("its worker terminates it").wait_for()
    page.locator(".state.REVOKED").first.wait_for(timeout=20_000)
    wait_for(lambda: _process_gone(pid), what=f"pool process {pid} gone")
    assert worker.poll() is None
    assert f"local@127.0.0.1 revoked task {message.id}" in web.log()
