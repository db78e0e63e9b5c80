"""The ``beat`` group: its options, ``--version``, and the daemon when no command is given.

Command modules register on :data:`cli` (``@cli.command``); this module imports none of them:
:data:`cli` imports the module of a command when that command is used (``--help`` imports
them all), from the table :data:`beat.cli.COMMANDS`, so they import it without an import
circle and a command pays only for its own imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from beat.cli import daemon
from beat.cli.options import broker_option, config_option

DEFAULT_STATE = "schedule.db"


class LazyGroup(click.Group):
    """A group whose commands are registered by modules imported on first use.

    :attr:`modules` maps a command name to the module that registers it on this group.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modules: Mapping[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.modules})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.modules:
            # __import__, not importlib.import_module: `python -X importtime` (which the
            # start-up tests read) traces only imports made through it.
            __import__(self.modules[cmd_name])
        return self.commands.get(cmd_name)


def _print_version(ctx: click.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from beat import __version__
    from beat.time import zones

    click.echo(f"beat, version {__version__}\ntzdata {zones.tzdata_version()}")
    ctx.exit()


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "-s",
    "--schedule",
    "state",
    default=DEFAULT_STATE,
    show_default=True,
    help="Run state: a SQLite file or any SQLAlchemy URL.",
)
@config_option
@broker_option
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None)
@click.option(
    "--lookahead",
    default=None,
    help="Enqueue fires this long before their instant, with the instant as eta "
    "(default: the config's beat.lookahead, else 3s; 0 to disable).",
)
@click.option(
    "--source",
    "source_url",
    default=None,
    help="Also read entries from this database (overrides the config's source:).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on 127.0.0.1:PORT (default: the config's metrics_port).",
)
@click.option(
    "--lease-ttl",
    default=None,
    help="Leader lease time: a standby takes over this long after the leader dies "
    "(default: the config's beat.leader_lease, else 5s).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx, value),
    help="Show beat's version and the tzdata version its zones come from, and exit.",
)
@click.pass_context
def cli(ctx: click.Context, /, state: str, **options: Any) -> None:
    """beat: a periodic scheduler. Without a command, runs the scheduler daemon."""
    ctx.obj = {"state": state}
    if ctx.invoked_subcommand is not None:
        return
    # The group's options are the daemon's keywords, typed there.
    daemon.run(state=state, **options)
