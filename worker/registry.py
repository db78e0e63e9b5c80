"""The task registry: ``@task`` turns a function into a named :class:`Task`.

Only registered tasks run. A message names a task by its registered name; the worker never
imports a module because a message asked for it: the modules to import are named by the
operator (``-A``/``imports``) and loaded with :meth:`Registry.import_modules` at start-up.

Durations (``soft_time_limit``, ``time_limit``, ``retry_backoff``, ``retry_backoff_max``) accept
seconds, a :class:`~datetime.timedelta` or a string such as ``"500ms"``, ``"30s"``, ``"1h30m"``;
they are stored as timedeltas.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    ParamSpec,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from worker.calling import Duration, set_task_lookup
from worker.errors import DuplicateTask, TaskDefinitionError, TaskModuleImportError, UnknownTask

if TYPE_CHECKING:
    from worker.canvas import Signature
    from worker.result import TaskResult

P = ParamSpec("P")
R = TypeVar("R")

ExceptionSpec = type[BaseException] | str


@dataclass(frozen=True, slots=True)
class Task(Generic[P, R]):
    """A registered task: its name, its function and its default options.

    Calling the task runs the function directly, in the caller's process, with no limits;
    :meth:`delay` and :meth:`apply_async` send it to the workers (:mod:`worker.calling`).
    """

    name: str
    fn: Callable[P, R]
    soft_time_limit: timedelta | None = None
    time_limit: timedelta | None = None
    max_retries: int = 0
    retry_backoff: timedelta | None = None
    retry_backoff_max: timedelta | None = None
    autoretry_for: tuple[ExceptionSpec, ...] = ()
    rate_limit: str | float | None = None
    queue: str | None = None
    # bind=True: the function gets a per-run :class:`worker.context.BoundTask` first (``self``).
    bind: bool = False

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult:
        """Send one call with these arguments and the task's defaults (its ``queue``)."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> TaskResult:
        """Send one call; ``options`` as :class:`worker.calling.CallOptions` (``countdown``,
        ``eta`` (aware), ``expires``, ``queue``, ``priority``, ``task_id``,
        ``soft_time_limit``, ``time_limit``, ``max_retries``)."""
        from worker.calling import CallOptions, call

        return call(self.name, args, kwargs, CallOptions(**options), self)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature of this task with partial arguments (:mod:`worker.canvas`)."""
        from worker.canvas import Signature

        return Signature(self.name, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: a parent's result is not prepended to its args."""
        from worker.canvas import Signature

        return Signature(self.name, args, kwargs, immutable=True)

    def signature(
        self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, **options: Any
    ) -> Signature:
        """A signature with arguments and call options (``apply_async``'s keywords)."""
        from worker.canvas import Signature

        return Signature(self.name, args, kwargs, options)


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class Registry:
    """Task name -> :class:`Task`. Thread-safe."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task[..., Any]] = {}
        self._lock = threading.Lock()

    def register(self, task: Task[..., Any]) -> Task[..., Any]:
        """Add ``task``; a name already taken by a *different* function is an error.

        Re-registering the same function (same ``module.qualname``, e.g. a module imported
        again) replaces the entry, so reloading task code works.
        """
        with self._lock:
            existing = self._tasks.get(task.name)
            if (
                existing is not None
                and existing.fn is not task.fn
                and _qualified(existing.fn) != _qualified(task.fn)
            ):
                raise DuplicateTask(
                    f"task {task.name!r}: already registered by {_qualified(existing.fn)}, "
                    f"cannot register {_qualified(task.fn)} under the same name"
                )
            self._tasks[task.name] = task
        return task

    def get(self, name: str) -> Task[..., Any]:
        """The task registered as ``name``; :class:`UnknownTask` if there is none."""
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(f"unknown task {name!r} (not registered in this worker)") from None

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._tasks)

    def tasks(self) -> list[Task[..., Any]]:
        """Every registered task, by name."""
        with self._lock:
            return [self._tasks[name] for name in sorted(self._tasks)]

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def import_modules(self, modules: Sequence[str]) -> None:
        """Import the operator's task modules so that their ``@task`` functions register.

        Raises :class:`TaskModuleImportError` (an ImportError) naming the module that failed.
        """
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise TaskModuleImportError(f"{module!r}: {type(e).__name__}: {e}") from e
            except Exception as e:  # a module that raises while importing is just as unusable
                raise TaskModuleImportError(
                    f"{module!r}: import raised {type(e).__name__}: {e}"
                ) from e


REGISTRY = Registry()
# Signatures of a task registered here use its defaults (its queue), as its own calls do.
set_task_lookup(lambda name: REGISTRY.get(name) if name in REGISTRY else None)


def _duration(value: Duration | None, task_name: str, option: str) -> timedelta | None:
    if value is None:
        return None
    from taskqueue.durations import parse_duration

    try:
        return parse_duration(value, f"task {task_name!r}: {option}")
    except ValueError as e:
        raise TaskDefinitionError(str(e)) from None


def _make_task(
    fn: Callable[P, R],
    *,
    name: str | None = None,
    soft_time_limit: Duration | None = None,
    time_limit: Duration | None = None,
    max_retries: int = 0,
    retry_backoff: Duration | None = None,
    retry_backoff_max: Duration | None = None,
    autoretry_for: Sequence[ExceptionSpec] | ExceptionSpec = (),
    rate_limit: str | float | None = None,
    queue: str | None = None,
    bind: bool = False,
) -> Task[P, R]:
    from worker.rate_limit import parse_rate

    task_name = name or _qualified(fn)
    if not callable(fn):
        raise TaskDefinitionError(f"task {task_name!r}: {fn!r} is not callable")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise TaskDefinitionError(
            f"task {task_name!r}: max_retries must be a non-negative integer, got {max_retries!r}"
        )
    specs = (autoretry_for,) if isinstance(autoretry_for, type | str) else tuple(autoretry_for)
    for spec in specs:
        is_class = isinstance(spec, type) and issubclass(spec, BaseException)
        if not (isinstance(spec, str) or is_class):
            raise TaskDefinitionError(
                f"task {task_name!r}: autoretry_for entries must be exception classes or "
                f"names, got {spec!r}"
            )
    try:
        parse_rate(rate_limit)
    except ValueError as e:
        raise TaskDefinitionError(f"task {task_name!r}: {e}") from None
    soft = _duration(soft_time_limit, task_name, "soft_time_limit")
    hard = _duration(time_limit, task_name, "time_limit")
    return Task(
        name=task_name,
        fn=fn,
        soft_time_limit=soft,
        time_limit=hard,
        max_retries=max_retries,
        retry_backoff=_duration(retry_backoff, task_name, "retry_backoff"),
        retry_backoff_max=_duration(retry_backoff_max, task_name, "retry_backoff_max"),
        autoretry_for=specs,
        rate_limit=rate_limit,
        queue=queue,
        bind=bool(bind),
    )


class TaskOptions(TypedDict, total=False):
    """The options of ``@task(...)`` but ``bind``; each left out takes its default."""

    name: str | None
    soft_time_limit: Duration | None
    time_limit: Duration | None
    max_retries: int
    retry_backoff: Duration | None
    retry_backoff_max: Duration | None
    autoretry_for: Sequence[ExceptionSpec] | ExceptionSpec
    rate_limit: str | float | None
    queue: str | None


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *, bind: Literal[False] = False, **options: Unpack[TaskOptions]
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


@overload
def task(
    *, bind: Literal[True], **options: Unpack[TaskOptions]
) -> Callable[[Callable[..., R]], Task[..., R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    bind: bool = False,
    **options: Unpack[TaskOptions],
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Register a function as a task, bare (``@task``) or with options (``@task(name=...)``).

    The default name is ``module.qualname``. Raises :class:`TaskDefinitionError` for an
    invalid option and :class:`DuplicateTask` for a name another function already has.
    """

    def decorate(f: Callable[P, R]) -> Task[P, R]:
        made = _make_task(f, bind=bind, **options)
        REGISTRY.register(made)
        return made

    if fn is not None:
        return decorate(fn)
    return decorate
