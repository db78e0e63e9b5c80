"""``beat web``: the dashboard; ``beat web-password``: a password hash for its ``web.users``.

Secrets never come from the command line (``ps`` shows argv to every user of the host): the
token and users are in the ``web:`` section or the environment (:mod:`beat.web.settings`).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from beat.cli.errors import fail
from beat.cli.group import cli
from beat.cli.loading import load_readable
from beat.cli.options import broker_option, config_option


@cli.command("web")
@click.option(
    "--host", default=None, help="Address to listen on (default: web.host, else 127.0.0.1)."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port (default: web.port, else 8808).",
)
@click.option("--read-only", is_flag=True, help="Turn every action off (trigger, enable, ...).")
@click.option(
    "--sample-every",
    type=click.FloatRange(0.1, 600),
    default=5.0,
    show_default=True,
    help="Seconds between samples of the queue depths for the chart.",
)
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@config_option
@broker_option
@click.pass_context
def web_cmd(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    read_only: bool,
    sample_every: float,
    loglevel: str,
    config_path: Path,
    broker_url: str | None,
) -> None:
    """The dashboard: entries, next fires, queues, dead letters, tasks, the leader."""
    from beat.web.settings import resolve, startup_problem

    config = load_readable(config_path)
    try:
        settings = resolve(config.web, os.environ, host=host, port=port, read_only=read_only)
    except ValueError as e:
        fail(str(e))
    problem = startup_problem(settings)
    if problem is not None:
        fail(problem)
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        fail(
            f"beat web needs the web extra ({e.name} is missing): pip install 'beat-scheduler[web]'"
        )
    from beat.web.dashboard import Dashboard
    from beat.web.server import serve
    from daemonkit.logs import configure_logging

    configure_logging(loglevel.upper(), config.log_format)  # type: ignore[arg-type]
    serve(
        settings,
        Dashboard(config_path, ctx.obj["state"], broker_url),
        sample_seconds=sample_every,
    )


@cli.command("web-password")
def web_password_cmd() -> None:
    """Ask for a password (twice, not echoed) and print its hash for web.users or
    $BEAT_WEB_PASSWORD_HASH."""
    from beat.web.passwords import hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < 8:
        fail("web-password: use at least 8 characters")
    click.echo(hash_password(password))
