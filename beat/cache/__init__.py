"""Caches of what a file parses to, so that a command need not parse it again (issue 17).

:mod:`beat.cache.files`: one JSON document per (kind, source file) under
``$XDG_CACHE_HOME/beat`` (else ``~/.cache/beat``), valid only while the source file's path,
size, mtime_ns and content digest, beat's own validation code and the tzdata release are those
it was written for; anything else (missing, corrupt, foreign, stale) reads as a miss.
:mod:`beat.cache.entry_codec`: an :class:`~beat.entries.Entry` to JSON and back, kept only when
it reads back equal (same content hash), so a cached entry is never a different entry.

A cache is an untrusted input: it is never unpickled, a file not owned by this user or writable
by others is ignored, and decoding builds entries through their own constructors. Deleting the
directory is always safe. Its users are ``beat next ENTRY`` and ``beat list``
(:mod:`beat.cli.cached`).
"""
