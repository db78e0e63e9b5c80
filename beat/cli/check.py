"""``beat check``: validate the configuration (and the SQL source's entries); exit 2 with
every problem, else one ``OK`` line."""

from __future__ import annotations

from pathlib import Path

import click

from beat.cli.group import cli
from beat.cli.loading import load
from beat.cli.options import config_option


@cli.command("check")
@config_option
def check_cmd(config_path: Path) -> None:
    """Validate the configuration; print every problem; exit 2 if any."""
    config = load(config_path)
    entries = config.entries
    if config.source != "yaml":
        from beat.errors import ConfigError
        from beat.sources.sql import read_source

        entries, problems = read_source(config)
        if problems:
            raise ConfigError(problems)
    enabled = sum(e.enabled for e in entries.values())
    click.echo(f"{config.path}: OK, {len(entries)} entries ({enabled} enabled)")
