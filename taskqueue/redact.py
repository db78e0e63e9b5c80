"""Credentials hidden from every URL we print: the one rule for logs, CLI output and errors."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

REDACTED = "***"
# Query parameters that carry a credential: redis-py passes any unknown one to the connection
# (``password``, ``ssl_password``), libpq takes ``password`` and ``sslpassword``; tokens and
# secrets of other drivers look alike. Matched on the percent-decoded name, as the libraries
# decode it (``pass%77ord`` is ``password`` to redis-py).
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|credential|api[_-]?key", re.IGNORECASE)
# A URL inside free text (an error message, a log line): up to whitespace or a closing quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")


def _password_span(url: str, authority_start: int) -> tuple[int, int] | None:
    """Where the password of the user part is, as (start, end) in ``url``; None if none.

    The two libraries that read these URLs disagree on where a password with odd characters
    ends: SQLAlchemy reads up to the first ``@`` after ``user:``, urllib (redis-py) up to the
    last ``@`` of the host part (which ends at the first ``/``, ``?`` or ``#``). The span covers
    both readings, so a password is hidden whichever library would have used it.
    """
    colon = url.find(":", authority_start)
    first_at = url.find("@", authority_start)
    if colon < 0 or first_at < 0 or colon > first_at:
        return None
    if any(c in url[authority_start:colon] for c in "/?#"):  # ':' of a port or a path
        return None
    host_part_end = len(url)
    for sep in "/?#":
        found = url.find(sep, authority_start)
        if found >= 0:
            host_part_end = min(host_part_end, found)
    last_at = url.rfind("@", authority_start, host_part_end)
    return colon + 1, max(first_at, last_at)


def _redact_query(query: str) -> str:
    parts = []
    for piece in query.split("&"):
        name, eq, _value = piece.partition("=")
        secret = eq and _SECRET_PARAM.search(unquote_plus(name))
        parts.append(f"{name}={REDACTED}" if secret else piece)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """``url`` with every credential replaced by ``***``: the password of the user part
    (``redis://:secret@host/0`` -> ``redis://:***@host/0``) and password-like query
    parameters (``?password=``, ``?sslpassword=``...). Anything without one is returned as is.
    Never fails, whatever the URL: it is used on text that failed to parse, too.

    A list of URLs joined by ``;`` (kombu's ``sentinel://:pw@h1;sentinel://:pw@h2``) has
    each one redacted."""
    pieces = url.split(";")
    if len(pieces) > 1 and all("://" in piece for piece in pieces[1:]):
        return ";".join(_redact_one(piece) for piece in pieces)
    return _redact_one(url)


def _redact_one(url: str) -> str:
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url
    authority_start = scheme_end + 3
    span = _password_span(url, authority_start)
    if span is not None:
        url = url[: span[0]] + REDACTED + url[span[1] :]
    # The query starts at the first '?' after the (now redacted) user part, as urllib reads it.
    start = url.find("?", authority_start)
    if start < 0:
        return url
    end = url.find("#", start)
    end = len(url) if end < 0 else end
    return url[: start + 1] + _redact_query(url[start + 1 : end]) + url[end:]


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""

    def one(match: re.Match[str]) -> str:
        # Punctuation that ends a sentence or a parenthesis is not part of the URL.
        url = match.group(0)
        core = url.rstrip(".,;:)]}")
        return redact_url(core) + url[len(core) :]

    return _URL_IN_TEXT.sub(one, text)
