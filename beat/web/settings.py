"""How ``beat web`` runs: address, read-only, and who may use it, from the ``web:`` section
of ``schedules.yaml``, the environment and the command line (never a secret from the command
line: a token or password on argv is visible to every user of the host in ``ps``).

Environment: ``BEAT_WEB_TOKEN`` (a token), ``BEAT_WEB_USER`` with ``BEAT_WEB_PASSWORD_HASH``
(one more user); they are added to what the configuration says.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from beat.config.web_section import DEFAULT_HOST, DEFAULT_PORT, token_problem
from beat.web.passwords import hash_problem

TOKEN_ENV = "BEAT_WEB_TOKEN"
USER_ENV = "BEAT_WEB_USER"
PASSWORD_HASH_ENV = "BEAT_WEB_PASSWORD_HASH"


@dataclass(frozen=True)
class WebSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    read_only: bool = False
    token: str | None = field(default=None, repr=False)
    users: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def auth_required(self) -> bool:
        """With a token or a user configured, every request must sign in; without either,
        only a loopback address may be used and every local user is trusted."""
        return self.token is not None or bool(self.users)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost`` (only those may go without
    authentication)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve(
    section: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    host: str | None,
    port: int | None,
    read_only: bool,
) -> WebSettings:
    """The settings from the ``web:`` section, the environment and the command line options
    (which win). Raises ValueError naming the variable when the environment is wrong."""
    token = section.get("token")
    env_token = environ.get(TOKEN_ENV)
    if env_token is not None:
        problem = token_problem(env_token)
        if problem is not None:
            raise ValueError(f"${TOKEN_ENV}: {problem}")
        token = env_token.strip()
    users = dict(section.get("users") or {})
    env_user, env_hash = environ.get(USER_ENV), environ.get(PASSWORD_HASH_ENV)
    if (env_user is None) != (env_hash is None):
        raise ValueError(f"${USER_ENV} and ${PASSWORD_HASH_ENV} go together: set both or neither")
    if env_user is not None and env_hash is not None:
        problem = hash_problem(env_hash)
        if problem is not None:
            raise ValueError(f"${PASSWORD_HASH_ENV}: {problem}")
        users[env_user] = env_hash
    return WebSettings(
        host=host or section.get("host") or DEFAULT_HOST,
        port=port or section.get("port") or DEFAULT_PORT,
        read_only=read_only or bool(section.get("read_only")),
        token=token,
        users=users,
    )


def startup_problem(settings: WebSettings) -> str | None:
    """Why the dashboard must not start with ``settings`` (None: it may)."""
    if not is_loopback(settings.host) and not settings.auth_required:
        return (
            f"web: refusing to listen on {settings.host} without authentication: set web.token "
            f"or web.users in schedules.yaml, or ${TOKEN_ENV} (or ${USER_ENV} and "
            f"${PASSWORD_HASH_ENV}) in the environment; or listen on 127.0.0.1"
        )
    return None


def environ() -> Mapping[str, str]:
    return os.environ
