"""The ``web:`` section: where ``beat web`` listens and who may use it.

web:
  host: 127.0.0.1          # default; any other address needs `token` or `users`
  port: 8808
  read_only: false         # true: every action is off
  token: <32+ random characters>     # or BEAT_WEB_TOKEN in the environment
  users: {alice: "scrypt$16384$8$1$..."}   # hashes from `beat web-password`
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beat.config.checker import Checker
from beat.config.keys import WEB_KEYS
from taskqueue.config_text import describe

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8808
# A token an attacker could guess by trying is no authentication.
MIN_TOKEN_LENGTH = 16


def check_web_section(checker: Checker, root: Mapping[Any, Any]) -> dict[str, Any]:
    """The ``web:`` section with defaults filled in; every problem reported at its line."""
    section = checker.mapping(
        root.get("web"), checker.line_of(root, "web"), "web", "dashboard settings"
    )
    checker.unknown_keys(section, WEB_KEYS, "web")
    out: dict[str, Any] = {"host": DEFAULT_HOST, "port": DEFAULT_PORT, "read_only": False}
    if section.get("host") is not None:
        out["host"] = checker.string(section, "host", "web", "an address like 127.0.0.1")
    if section.get("port") is not None:
        out["port"] = checker.integer(section, "port", "web", 1, 65535)
    if section.get("read_only") is not None:
        value = section["read_only"]
        if isinstance(value, bool):
            out["read_only"] = value
        else:
            line = checker.line_of(section, "read_only")
            checker.report(line, "web.read_only", f"expected true or false, got {describe(value)}")
    if section.get("token") is not None:
        out["token"] = _token(checker, section)
    if section.get("users") is not None:
        out["users"] = _users(checker, section)
    return out


def token_problem(value: Any) -> str | None:
    """Why ``value`` is not an acceptable dashboard token (None: it is one)."""
    if not isinstance(value, str) or len(value.strip()) < MIN_TOKEN_LENGTH:
        return f"expected a random string of at least {MIN_TOKEN_LENGTH} characters"
    return None


def _token(checker: Checker, section: Mapping[Any, Any]) -> str | None:
    problem = token_problem(section["token"])
    if problem is not None:
        # never echo the value: it is meant to be a secret
        checker.report(checker.line_of(section, "token"), "web.token", problem)
        return None
    return str(section["token"]).strip()


def _users(checker: Checker, section: Mapping[Any, Any]) -> dict[str, str]:
    users = checker.mapping(
        section["users"], checker.line_of(section, "users"), "web.users", "user names to hashes"
    )
    good: dict[str, str] = {}
    for name, stored in users.items():
        where = f"web.users.{name}"
        problem = _hash_problem(stored) if isinstance(stored, str) else "expected a string"
        if not isinstance(name, str) or not name.strip():
            checker.report(checker.line_of(users, name), "web.users", "empty user name")
        elif problem is not None:
            checker.report(checker.line_of(users, name), where, problem)
        else:
            good[name] = stored
    return good


def _hash_problem(stored: str) -> str | None:
    # Imported here: beat.web.passwords loads hashlib (~3 ms), wanted only with web users.
    from beat.web.passwords import hash_problem

    return hash_problem(stored)
