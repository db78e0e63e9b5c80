"""Hashed passwords for the dashboard's users: scrypt (hashlib), stored as
``scrypt$N$r$p$<salt base64>$<hash base64>``; ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` is
accepted too (for hosts whose OpenSSL lacks scrypt). Standard library only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PBKDF2_ITERATIONS = 100_000
FORMAT_HINT = (
    "a hash made by `beat web-password` (scrypt$N$r$p$salt$hash or "
    "pbkdf2_sha256$iterations$salt$hash)"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A new scrypt hash of ``password`` with a random salt."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def hash_problem(stored: str) -> str | None:
    """Why ``stored`` is not a password hash this module can check (None: it is one)."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(v) for v in parts[1:4])
            if n < 2**10 or n & (n - 1) or r < 1 or p < 1:
                return "scrypt parameters out of range (N a power of 2 >= 1024, r, p >= 1)"
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            if int(parts[1]) < MIN_PBKDF2_ITERATIONS:
                return f"pbkdf2_sha256 needs at least {MIN_PBKDF2_ITERATIONS} iterations"
        else:
            return f"expected {FORMAT_HINT}"
        base64.b64decode(parts[-2], validate=True)
        base64.b64decode(parts[-1], validate=True)
    except ValueError:
        return f"expected {FORMAT_HINT}"
    return None


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a malformed hash never matches)."""
    if hash_problem(stored) is not None:
        return False
    parts = stored.split("$")
    salt, expected = base64.b64decode(parts[-2]), base64.b64decode(parts[-1])
    if parts[0] == "scrypt":
        n, r, p = (int(v) for v in parts[1:4])
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**27
        )
    else:
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), salt, int(parts[1]), dklen=len(expected)
        )
    return hmac.compare_digest(digest, expected)
