"""Find a Celery configuration module and read its settings' expressions with :mod:`ast`.

Nothing is imported or run: a dotted module path is resolved to its file by
:class:`importlib.machinery.PathFinder`, one package level at a time (``importlib.util.find_spec``
would import, and so run, the parent packages), and the settings are the expression nodes of
module-level assignments. Migrating therefore needs neither Celery nor the project's
dependencies, and a module with side effects (connecting to a database, reading secrets) has
none.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from pathlib import Path

__all__ = ["CelerySettings", "SourceProblem", "locate", "read_settings"]

# Celery's setting names, new style first, then the old upper-case ones (Django's namespace).
SETTING_NAMES = {
    "beat_schedule": ("beat_schedule", "CELERYBEAT_SCHEDULE", "CELERY_BEAT_SCHEDULE"),
    "timezone": ("timezone", "CELERY_TIMEZONE"),
    "enable_utc": ("enable_utc", "CELERY_ENABLE_UTC"),
    "broker_url": ("broker_url", "BROKER_URL", "CELERY_BROKER_URL"),
}
_CANONICAL = {alias: name for name, aliases in SETTING_NAMES.items() for alias in aliases}


class SourceProblem(Exception):
    """The module cannot be found or parsed (the whole import stops)."""


@dataclass
class CelerySettings:
    """The expression assigned last to each setting (as Python would leave it), the names the
    module imported (``local name -> dotted origin``, to recognise ``crontab`` and
    ``timedelta`` under any alias) and the settings assigned where the importer does not look."""

    path: Path
    values: dict[str, ast.expr] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    ignored: list[tuple[int, str]] = field(default_factory=list)


def locate(source: str) -> tuple[Path, str | None]:
    """``SOURCE`` as a file and the app variable it names (``proj.celery:app`` -> ``app``).

    A path to an existing file (or one ending in ``.py``) is a file; anything else is a dotted
    module path looked up on the current directory, then ``sys.path`` (as ``celery -A``)."""
    module, _, app_var = source.partition(":")
    if module.endswith(".py") or Path(module).is_file():
        path = Path(module)
        if not path.is_file():
            raise SourceProblem(f"{module}: no such file")
        return path, app_var or None
    return _module_file(module), app_var or None


def _module_file(dotted: str) -> Path:
    search: list[str] | None = [str(Path.cwd()), *sys.path]
    spec = None
    parts = dotted.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        spec = PathFinder.find_spec(name, search)
        if spec is None:
            raise SourceProblem(
                f"{dotted}: no module {name!r} on the current directory or sys.path"
            )
        search = list(spec.submodule_search_locations or [])
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise SourceProblem(f"{dotted}: not a Python source file (found {spec and spec.origin})")
    return Path(spec.origin)


def read_settings(path: Path, app_var: str | None) -> CelerySettings:
    """The settings of the module at ``path``: ``NAME = ...`` at module level, and
    ``APP.conf.NAME = ...`` / ``APP.conf.update(NAME=...)`` where ``APP`` is ``app_var``
    (any name when None)."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
    except (OSError, UnicodeDecodeError) as e:
        raise SourceProblem(f"{path}: cannot read: {e}") from e
    except SyntaxError as e:
        raise SourceProblem(f"{path}:{e.lineno}: not valid Python: {e.msg}") from e
    settings = CelerySettings(path)
    top_level = set()
    for stmt in tree.body:
        top_level.add(id(stmt))
        _read_statement(stmt, app_var, settings)
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and id(node) not in top_level:
            for name, _value in _assigned_settings(node, app_var):
                settings.ignored.append((node.lineno, name))
    return settings


def _read_statement(stmt: ast.stmt, app_var: str | None, settings: CelerySettings) -> None:
    if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
        for alias in stmt.names:
            settings.imports[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"
    elif isinstance(stmt, ast.Import):
        for alias in stmt.names:
            local = alias.asname or alias.name.partition(".")[0]
            settings.imports[local] = alias.name if alias.asname else local
    for name, value in _assigned_settings(stmt, app_var):
        settings.values[name] = value
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
        # app = Celery("proj", broker="redis://..."): the broker, for the priority order.
        names = {t.id for t in stmt.targets if isinstance(t, ast.Name)}
        if app_var is None or app_var in names:
            for kw in stmt.value.keywords:
                if kw.arg == "broker":
                    settings.values.setdefault("broker_url", kw.value)


def _assigned_settings(stmt: ast.stmt, app_var: str | None) -> list[tuple[str, ast.expr]]:
    """The (setting, expression) pairs ``stmt`` assigns, in order."""
    out: list[tuple[str, ast.expr]] = []
    if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            name = _setting_target(target, app_var)
            if name is not None:
                out.append((name, stmt.value))
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "update":
            conf = _is_app_conf(func.value, app_var)
            out.extend(
                (_CANONICAL[kw.arg], kw.value)
                for kw in call.keywords
                if conf and kw.arg in _CANONICAL
            )
    return out


def _setting_target(target: ast.expr, app_var: str | None) -> str | None:
    if isinstance(target, ast.Name):
        return _CANONICAL.get(target.id)
    if isinstance(target, ast.Attribute) and _is_app_conf(target.value, app_var):
        return _CANONICAL.get(target.attr)
    return None


def _is_app_conf(node: ast.expr, app_var: str | None) -> bool:
    """``APP.conf`` for the app variable (any when ``app_var`` is None)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "conf"
        and isinstance(node.value, ast.Name)
        and (app_var is None or node.value.id == app_var)
    )
