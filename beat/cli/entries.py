"""``beat entries ...``: manage the entries of the SQL schedule source from the shell.

The database is ``--source URL``, else the ``source:`` of the ``--config`` schedules.yaml,
whose ``timezone`` and ``defaults`` are also the ones writes are validated against.
Heavy imports (SQLAlchemy) happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from beat.cli.errors import RuntimeProblem, fail
from beat.cli.group import cli
from beat.cli.options import config_option, parse_json

if TYPE_CHECKING:
    from beat.entries_api import EntryStore

F = TypeVar("F", bound=Callable[..., Any])


def entry_options(f: F) -> F:
    """The entry's fields as options; only those given become keys of the entry mapping."""
    options = [
        click.option(
            "--yaml", "yaml_text", help="The entry as YAML, e.g. '{task: t, every: 30s}'."
        ),
        click.option("--task", help="Task name."),
        click.option("--cron", help="Cron expression."),
        click.option("--every", help="Interval, e.g. 30s, 1h30m."),
        click.option(
            "--start", help="No fire before this (ISO-8601); for --every, its phase anchor."
        ),
        click.option("--end", help="No fire after this (ISO-8601)."),
        click.option("--at", "at", help="One-off instant (ISO-8601; local to the zone if naive)."),
        click.option("--calendar", help="Calendar interval as YAML: '{every: 2w, at: \"09:30\"}'."),
        click.option(
            "--solar", help="Sun event as YAML: '{event: sunrise, lat: 52.5, lon: 13.4}'."
        ),
        click.option("--jitter", help="Delay each fire by up to this (deterministic per fire)."),
        click.option("--tz", "tz", help="The entry's time zone."),
        click.option("--queue", help="Queue name."),
        click.option("--args", "args_json", help="JSON array of positional arguments."),
        click.option("--kwargs", "kwargs_json", help="JSON object of keyword arguments."),
        click.option("--options", "options_json", help="JSON object of message options."),
        click.option("--catch-up", "catch_up", help="latest, all or none."),
        click.option("--grace", help="Fires later than this count as missed."),
        # run policies
        click.option("--overlap", help="allow, skip or buffer_one (while the last fire runs)."),
        click.option(
            "--pause-on-failure/--no-pause-on-failure",
            "pause_on_failure",
            default=None,
            help="Pause the entry when a fire's task ends in FAILURE or DEAD.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def build_mapping(values: dict[str, Any]) -> dict[str, Any]:
    """The entry mapping from --yaml and the field options (options win over --yaml)."""
    import yaml

    from daemonkit.yaml_tree import YamlProblems, load_yaml

    mapping: dict[str, Any] = {}
    text = values.pop("yaml_text", None)
    if text is not None:
        try:
            loaded = load_yaml(text)
        except (yaml.YAMLError, YamlProblems) as e:
            fail(f"--yaml: not valid YAML: {e}")
        if not isinstance(loaded, dict):
            fail("--yaml: expected a mapping of entry keys, e.g. '{task: t, every: 30s}'")
        mapping.update(loaded)
    for key in ("calendar", "solar"):
        nested = values.pop(key, None)
        if nested is not None:
            try:
                mapping[key] = load_yaml(nested)
            except (yaml.YAMLError, YamlProblems) as e:
                fail(f"--{key}: not valid YAML: {e}")
    for option, key, kind in (
        ("args_json", "args", list),
        ("kwargs_json", "kwargs", dict),
        ("options_json", "options", dict),
    ):
        raw = values.pop(option, None)
        if raw is not None:
            mapping[key] = parse_json(raw, f"--{key}", kind)
    renamed = {"tz": "timezone"}
    for option, value in values.items():
        if value is not None:
            mapping[renamed.get(option, option)] = value
    return mapping


@contextmanager
def open_store(ctx: click.Context) -> Iterator[EntryStore]:
    """The store for this invocation; database failures exit 1, lookups exit 2."""
    from beat.entries_api import EntryExistsError, EntryNotFoundError, EntryStore
    from beat.errors import SourceError

    url, zone, defaults = _resolve(ctx.obj["entries_source"], ctx.obj["entries_config"])
    try:
        store = EntryStore(url, zone, defaults)
    except SourceError as e:
        fail(f"--source: {e}")
    try:
        yield store
    except (EntryExistsError, EntryNotFoundError) as e:
        fail(str(e))
    except SourceError as e:
        raise RuntimeProblem(str(e)) from e
    finally:
        store.close()


def _resolve(source: str | None, config_path: Path) -> tuple[str, Any, dict[str, Any]]:
    from beat.time import zones

    zone: Any = zones.get("UTC")
    defaults: dict[str, Any] = {}
    if config_path.exists():
        from beat.config import load_config

        config = load_config(config_path)
        zone, defaults = config.timezone, dict(config.defaults)
        if source is None and config.source != "yaml":
            source = config.source
    if source is None:
        fail(f"entries: no SQL source: give --source URL or set 'source:' in {config_path}")
    return source, zone, defaults


@cli.group("entries")
@click.option(
    "--source",
    "source",
    default=None,
    help="Database URL of the SQL source (default: the config's 'source:').",
)
@config_option
@click.pass_context
def entries_group(ctx: click.Context, source: str | None, config_path: Path) -> None:
    """Manage entries in the SQL schedule source."""
    from click.core import ParameterSource

    parent = ctx.parent
    if (
        ctx.get_parameter_source("config_path") is ParameterSource.DEFAULT
        and parent is not None
        and parent.get_parameter_source("config_path") is ParameterSource.COMMANDLINE
    ):
        # `beat --config F entries ...` means the same as `beat entries --config F ...`.
        config_path = parent.params["config_path"]
    ctx.ensure_object(dict)
    ctx.obj["entries_source"] = source
    ctx.obj["entries_config"] = config_path


def _entry_command(
    verb: str, flag: str, flag_help: str
) -> Callable[[Callable[[click.Context, str, bool, dict[str, Any]], None]], click.Command]:
    """Register ``beat entries VERB NAME`` with the entry's field options and the one ``flag``
    (help: the function's docstring); the function gets the context, NAME, whether the flag
    was given and the mapping of the fields given."""

    def register(act: Callable[[click.Context, str, bool, dict[str, Any]], None]) -> click.Command:
        @entries_group.command(verb, help=act.__doc__)
        @click.argument("name")
        @entry_options
        @click.option(flag, "flag", is_flag=True, help=flag_help)
        @click.pass_context
        def command(ctx: click.Context, /, name: str, flag: bool, **values: Any) -> None:
            act(ctx, name, flag, build_mapping(values))

        return command

    return register


@_entry_command("add", "--disabled", "Store the entry disabled.")
def add_cmd(ctx: click.Context, name: str, disabled: bool, mapping: dict[str, Any]) -> None:
    """Add entry NAME (fails if it exists)."""
    if disabled:
        mapping["enabled"] = False
    with open_store(ctx) as store:
        store.add(name, mapping)
    click.echo(f"added {name}")


@_entry_command("update", "--replace", "Replace the whole entry instead of merging.")
def update_cmd(ctx: click.Context, name: str, replace: bool, mapping: dict[str, Any]) -> None:
    """Change entry NAME: given fields replace the stored ones (a new schedule kind replaces
    the old one); with --replace the entry becomes exactly what is given."""
    if not mapping and not replace:
        fail("update: nothing to change (give --yaml or a field option such as --cron)")
    with open_store(ctx) as store:
        store.update(name, mapping, replace=replace)
    click.echo(f"updated {name}")


def _by_name(verb: str, done: str, help_text: str, act: Callable[[EntryStore, str], None]) -> None:
    """Register ``beat entries VERB NAME``: one store call on entry NAME, then "DONE NAME"."""

    @entries_group.command(verb, help=help_text)
    @click.argument("name")
    @click.pass_context
    def command(ctx: click.Context, name: str) -> None:
        with open_store(ctx) as store:
            act(store, name)
        click.echo(f"{done} {name}")


_by_name("remove", "removed", "Delete entry NAME.", lambda store, name: store.remove(name))
_by_name("enable", "enabled", "Enable entry NAME.", lambda store, name: store.enable(name))
_by_name(
    "disable",
    "disabled",
    "Disable entry NAME (it stays stored but never fires).",
    lambda store, name: store.disable(name),
)


@entries_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of entry objects.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Every stored entry (as stored: the config's defaults are not applied)."""
    with open_store(ctx) as store:
        rows = store.list()
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    header = ("NAME", "SCHEDULE", "ZONE", "QUEUE", "TASK", "ENABLED")
    table = [header] + [
        (
            row["name"],
            _schedule_text(row),
            str(row.get("timezone", "-")),
            str(row.get("queue", "-")),
            str(row["task"]),
            "yes" if row.get("enabled", True) else "no",
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _schedule_text(row: dict[str, Any]) -> str:
    from beat.config.keys import SCHEDULE_KINDS

    for kind in SCHEDULE_KINDS:
        if kind in row:
            value = row[kind]
            text = json.dumps(value) if isinstance(value, dict) else str(value)
            return f"{kind} {text}"
    return "-"


@entries_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite entries that already exist.")
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, replace: bool) -> None:
    """Store the entries of a schedules.yaml FILE ('-' reads stdin); all or nothing."""
    source: str | Path = sys.stdin.read() if str(file) == "-" else file
    with open_store(ctx) as store:
        count = store.import_yaml(source, replace=replace)
    click.echo(f"imported {count} entries")


@entries_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_context
def export_cmd(ctx: click.Context, output: Path | None) -> None:
    """Every stored entry in schedules.yaml format (stdout, or -o FILE)."""
    with open_store(ctx) as store:
        text = store.export_yaml()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"exported to {output}")
