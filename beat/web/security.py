"""Who is asking, and may they: sessions, sign-in, CSRF tokens and the Host check.

- Sessions live in this process (a random id in an HttpOnly, SameSite=Strict cookie; the
  server keeps the user and the session's CSRF token). A restart signs everyone out.
- Without authentication configured (loopback only, :mod:`beat.web.settings`) every request
  gets a session as user ``local``; the Host header must then name a loopback address, so a
  web page elsewhere cannot reach the dashboard through DNS rebinding.
- With a token or users configured, a request is signed in by its session, or (for scripts)
  by ``Authorization: Bearer <token>`` or HTTP Basic ``user:password``.
- Every state-changing request needs a session AND its CSRF token (form field ``csrf_token``
  or header ``X-CSRF-Token``): a script gets both from ``GET /api/session``.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from beat.web.passwords import verify_password
from beat.web.settings import WebSettings, is_loopback

COOKIE = "beat_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOCAL_USER = "local"
# A session unused this long is gone (sign in again).
IDLE_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000


@dataclass
class Session:
    id: str
    user: str
    csrf: str
    last_seen: float
    flash: str | None = None  # what the last action did, shown once on the next page


class Sessions:
    """The sessions of this process, thread-safe (handlers run in a thread pool)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, user: str) -> Session:
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), time.time())
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                self._expire(time.time())
            if len(self._by_id) >= MAX_SESSIONS:  # all fresh: drop the least recently used
                oldest = min(self._by_id.values(), key=lambda s: s.last_seen)
                del self._by_id[oldest.id]
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.time()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None or now - session.last_seen > IDLE_SECONDS:
                self._by_id.pop(session_id, None)
                return None
            session.last_seen = now
            return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._by_id.values() if now - s.last_seen > IDLE_SECONDS]:
            del self._by_id[sid]


def check_credentials(settings: WebSettings, user: str, secret: str) -> str | None:
    """The signed-in user's name for a sign-in form (user and password, or the token with an
    empty user), or None."""
    if not user and settings.token is not None:
        if hmac.compare_digest(secret.encode(), settings.token.encode()):
            return "token"
        return None
    stored = settings.users.get(user)
    if stored is not None and verify_password(secret, stored):
        return user
    return None


def authorization_user(settings: WebSettings, header: str | None) -> str | None:
    """The user an ``Authorization`` header signs in (Bearer token or Basic), or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and settings.token is not None:
        return check_credentials(settings, "", value.strip())
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return None
        return check_credentials(settings, user, password) if user else None
    return None


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    """Whether ``presented`` is ``session``'s CSRF token (no session: never)."""
    if session is None or not presented:
        return False
    return hmac.compare_digest(presented.encode(), session.csrf.encode())


def host_ok(settings: WebSettings, host_header: str | None) -> bool:
    """Without authentication, only a loopback name in the Host header (DNS rebinding)."""
    if settings.auth_required:
        return True
    if not host_header:
        return False
    hostname = urlsplit(f"//{host_header}").hostname
    return hostname is not None and is_loopback(hostname)
