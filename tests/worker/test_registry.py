"""``@task``, the registry, limit resolution and the exception tree."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskqueue.message import Message
from worker.errors import (
    DuplicateTask,
    SoftTimeLimitExceeded,
    TaskDefinitionError,
    TaskModuleImportError,
    TimeLimitExceeded,
    UnknownTask,
    WorkerError,
)
from worker.pool import resolve_limits
from worker.registry import REGISTRY, Registry, Task, task


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def unique(prefix: str = "t") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def test_bare_decorator_names_the_task_module_qualname_and_calls_through() -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    assert isinstance(double, Task)
    assert double.name == f"{__name__}.{double.fn.__qualname__}"
    assert double(21) == 42
    assert REGISTRY.get(double.name) is double
    assert double.name in REGISTRY.names()


def test_options_accept_seconds_timedeltas_and_duration_strings() -> None:
    name = unique()

    @task(
        name=name,
        soft_time_limit="1m30s",
        time_limit=timedelta(minutes=2),
        max_retries=3,
        retry_backoff=0.5,
        retry_backoff_max="500ms",
        autoretry_for=KeyError,
        rate_limit="10/s",
        queue="reports",
    )
    def work() -> None:
        return None

    assert (work.name, work.soft_time_limit, work.time_limit) == (name, _s(90.0), _s(120.0))
    assert (work.retry_backoff, work.retry_backoff_max) == (_s(0.5), _s(0.5))
    assert (work.max_retries, work.autoretry_for) == (3, (KeyError,))
    assert (work.rate_limit, work.queue) == ("10/s", "reports")
    with pytest.raises(AttributeError):
        work.name = "other"  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"time_limit": "soon"}, "time_limit: 'soon' is not a duration"),
        ({"soft_time_limit": -1}, "soft_time_limit"),
        ({"rate_limit": "fast"}, "rate_limit: 'fast' is not"),
        ({"max_retries": -1}, "max_retries must be a non-negative integer"),
        ({"autoretry_for": (42,)}, "autoretry_for entries must be exception classes"),
    ],
)
def test_invalid_options_name_the_task_and_the_option(
    options: dict[str, object], expected: str
) -> None:
    name = unique()
    with pytest.raises(TaskDefinitionError, match=expected) as info:
        task(name=name, **options)(lambda: None)  # type: ignore[call-overload]
    assert name in str(info.value)
    assert name not in REGISTRY


def test_duplicate_names_are_refused_unless_it_is_the_same_function() -> None:
    registry = Registry()

    def first() -> None: ...

    def second() -> None: ...

    registry.register(Task("dup", first))
    registry.register(Task("dup", first))  # same function again: fine (module re-import)
    with pytest.raises(DuplicateTask, match=r"task 'dup': already registered by .*first"):
        registry.register(Task("dup", second))
    assert registry.get("dup").fn is first
    assert len(registry) == 1


def test_unknown_task_is_a_key_error_and_a_worker_error() -> None:
    with pytest.raises(UnknownTask) as info:
        REGISTRY.get("no.such.task")
    assert isinstance(info.value, KeyError) and isinstance(info.value, WorkerError)
    assert str(info.value) == "unknown task 'no.such.task' (not registered in this worker)"


def test_import_modules_registers_tasks_and_names_a_module_that_fails(tmp_path: Path) -> None:
    module = f"regmod_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        f"from worker.registry import task\n@task(name='{module}.hello')\ndef hello() -> str:\n"
        "    return 'hi'\n"
    )
    broken = f"broken_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{broken}.py").write_text("raise RuntimeError('bad config')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        REGISTRY.import_modules([module])
        assert REGISTRY.get(f"{module}.hello")() == "hi"
        with pytest.raises(TaskModuleImportError, match=f"'{broken}': import raised RuntimeError"):
            REGISTRY.import_modules([broken])
        with pytest.raises(ImportError, match="'no_such_mod_x': ModuleNotFoundError"):
            REGISTRY.import_modules(["no_such_mod_x"])
    finally:
        sys.path.remove(str(tmp_path))


def test_message_limits_override_the_task_defaults() -> None:
    @task(name=unique(), soft_time_limit=5, time_limit=10)
    def limited() -> None: ...

    @task(name=unique())
    def unlimited() -> None: ...

    plain = Message(id="a", task=limited.name)
    assert resolve_limits(limited, plain) == (_s(5.0), _s(10.0))
    assert resolve_limits(unlimited, plain) == (None, None)
    custom = Message(
        id="b",
        task=limited.name,
        soft_time_limit=timedelta(milliseconds=1500),
        time_limit=timedelta(seconds=3),
        expires=datetime.now(UTC) + timedelta(hours=1),
    )
    assert resolve_limits(limited, custom) == (_s(1.5), _s(3.0))
    assert resolve_limits(
        unlimited, Message(id="c", task="x", time_limit=timedelta(seconds=2))
    ) == (
        None,
        _s(2.0),
    )


def test_soft_limit_is_not_swallowed_by_except_exception() -> None:
    def careless() -> str:
        try:
            raise SoftTimeLimitExceeded()
        except Exception:
            return "swallowed"

    with pytest.raises(SoftTimeLimitExceeded):
        careless()
    assert not issubclass(SoftTimeLimitExceeded, Exception)
    assert issubclass(TimeLimitExceeded, WorkerError)


def test_public_names_import_from_the_package() -> None:
    code = (
        "import sys; from worker import task, SoftTimeLimitExceeded, TimeLimitExceeded; "
        "print(task.__module__, SoftTimeLimitExceeded.__name__, TimeLimitExceeded.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["worker.registry", "SoftTimeLimitExceeded", "TimeLimitExceeded"]
