"""``beat import-celery SOURCE``: a Celery ``beat_schedule`` as a schedules.yaml.

SOURCE is read, never imported (beat/migrate/celery_source.py): no Celery needed, no user code
run. Each part that cannot be mapped is one ``refused:`` line (file:line, entry, field, why);
then nothing is written and the exit status is 2, unless ``--partial`` writes the rest.
"""

from __future__ import annotations

from pathlib import Path

import click

from beat.cli.errors import UsageProblem, fail
from beat.cli.group import cli


@cli.command("import-celery")
@click.argument("source")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the schedules.yaml here (default: standard output). Never overwrites.",
)
@click.option("--app-var", default=None, help="Read APP.conf.* of this variable only.")
@click.option("--timezone", "zone", default=None, help="The zone, overriding Celery's timezone.")
@click.option(
    "--celery-broker",
    type=click.Choice(["redis", "amqp"]),
    default=None,
    help="Celery's broker, for the order of priorities (default: the module's broker_url).",
)
@click.option("--partial", is_flag=True, help="Write what maps even if something is refused.")
def import_celery_cmd(
    source: str,
    output: Path | None,
    app_var: str | None,
    zone: str | None,
    celery_broker: str | None,
    partial: bool,
) -> None:
    """Write the schedules.yaml entries of the Celery beat_schedule in SOURCE: a .py file or a
    module path (proj.celeryconfig, proj.celery:app), read without importing it."""
    from beat.migrate.celery_entries import import_schedule, schedules_yaml
    from beat.migrate.celery_source import SourceProblem, locate, read_settings

    if output is not None and output.exists():
        fail(f"{output}: already exists (import-celery never overwrites)")
    try:
        path, named_var = locate(source)
        settings = read_settings(path, app_var or named_var)
        imported = import_schedule(settings, timezone=zone, broker=celery_broker)
    except SourceProblem as e:
        fail(str(e))
    for note in imported.notes:
        click.echo(f"note: {note}", err=True)
    for refusal in imported.refusals:
        click.echo(f"refused: {refusal}", err=True)
    if imported.refusals and not partial:
        raise UsageProblem(
            f"{len(imported.refusals)} refused, nothing written (--partial writes the rest)"
        )
    text = schedules_yaml(imported, str(path))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    click.echo(
        f"{len(imported.entries)} entries written to {output or 'standard output'}, "
        f"{len(imported.refusals)} refused",
        err=True,
    )
