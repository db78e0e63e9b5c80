"""``beat pause ENTRY [--note TEXT]`` and ``beat resume ENTRY``: kept in the run state, so every
beat sharing it (and a restarted one) follows them on its next tick, without a reload."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from beat.cli.group import cli
from beat.cli.loading import find_entry, load_all_entries
from beat.cli.options import config_option
from beat.ops.pause import describe_pause

if TYPE_CHECKING:
    from beat.state_rows import Pause


@cli.command("pause")
@config_option
@click.argument("name")
@click.option("--note", default="", help="Why: shown by `beat list`.")
@click.pass_context
def pause_cmd(ctx: click.Context, config_path: Path, name: str, note: str) -> None:
    """Stop sending ENTRY's fires until `beat resume` (the fires meanwhile are not replayed)."""
    find_entry(load_all_entries(config_path, readonly=True), name)
    before, now = _set(ctx.obj["state"], name, True, note)
    click.echo(describe_pause(name, True, note, before, now))


@cli.command("resume")
@config_option
@click.argument("name")
@click.pass_context
def resume_cmd(ctx: click.Context, config_path: Path, name: str) -> None:
    """Send ENTRY's fires again from its next scheduled instant (like re-enabling it)."""
    find_entry(load_all_entries(config_path, readonly=True), name)
    before, now = _set(ctx.obj["state"], name, False, "")
    click.echo(describe_pause(name, False, "", before, now))


def _set(state_url: str, name: str, paused: bool, note: str) -> tuple[Pause | None, datetime]:
    """Write the pause; the pause before and the instant written (read once the store is
    open, so that it is the instant the change takes effect, not when the command started)."""
    from beat.cli.errors import RuntimeProblem
    from beat.errors import StateError
    from beat.state import StateStore

    try:
        store = StateStore(state_url)
        try:
            now = datetime.now(UTC)
            return store.set_pause(name, paused, note, now), now
        finally:
            store.close()
    except StateError as e:
        raise RuntimeProblem(str(e)) from e
