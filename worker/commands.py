"""Which programs the built-in ``command`` task may start in this worker process.

Anyone who can enqueue a message (the broker's password, write access to ``queue.db``, rows in
the SQL source) chooses a ``command`` task's arguments, so the worker, not the message, decides
what may run: ``worker.commands`` lists the absolute paths of the allowed programs (default:
none) and ``worker.command_env`` the environment variables a message may set (default: none,
since ``LD_PRELOAD`` or ``PATH`` would turn an allowed program into any program). A refused
message raises :class:`~worker.errors.Reject`: it is dead-lettered with the reason and nothing
is started.

The policy is process-wide: the worker sets it at start-up, before the pool, and the prefork
pool hands it to each child process with the rest of the child's start-up state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from worker.errors import Reject


@dataclass(frozen=True, slots=True)
class CommandPolicy:
    programs: frozenset[str] = frozenset()
    env: frozenset[str] = frozenset()

    def check(self, program: Sequence[str], env: Mapping[str, object] | None) -> None:
        """Raise :class:`Reject` unless ``program`` (argv, after ``shell=true`` became
        ``/bin/sh -c``) and the names in ``env`` are allowed."""
        path = program[0]
        if not path.startswith("/"):
            raise Reject(
                f"command: program {path!r} is not an absolute path; worker.commands allows "
                f"{_listing(self.programs)}"
            )
        if path not in self.programs:
            raise Reject(
                f"command: program {path!r} is not in worker.commands "
                f"(allowed: {_listing(self.programs)})"
            )
        refused = sorted(str(name) for name in (env or {}) if str(name) not in self.env)
        if refused:
            raise Reject(
                f"command: env {', '.join(refused)} not in worker.command_env "
                f"(allowed: {_listing(self.env)})"
            )


def _listing(items: Iterable[str]) -> str:
    names = sorted(items)
    return ", ".join(names) if names else "nothing (the list is empty)"


_policy = CommandPolicy()


def allow(programs: Iterable[str] = (), env: Iterable[str] = ()) -> None:
    """Set this process's policy (replacing the previous one)."""
    global _policy
    _policy = CommandPolicy(frozenset(programs), frozenset(env))


def current() -> CommandPolicy:
    return _policy
