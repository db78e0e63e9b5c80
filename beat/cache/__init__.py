"""Caches of what a file parses to, so that a command need not parse it again (issue 17).

:mod:`beat.cache.files`: the one mechanism of every such cache: a JSON document per (kind,
source file), valid only while the source file's path, size and content digest, beat's own
validation code and the tzdata release are those it was written for; anything else (missing,
corrupt, foreign, stale) reads as a miss. Where it lives is the user's: ``$XDG_CACHE_HOME/beat``
(else ``~/.cache/beat``) for the read-only CLI, beside the state store for the daemon.
:mod:`beat.cache.entry_codec`: an :class:`~beat.entries.Entry` to JSON and back, kept only when
it reads back equal (same content hash), so a cached entry is never a different entry.

A cache is an untrusted input: it is never unpickled, a file not owned by this user or writable
by others is ignored, and decoding builds entries through their own constructors (the daemon's
start-up cache validates them again). Deleting a cache is always safe. Its users are
``beat next ENTRY`` and ``beat list`` (:mod:`beat.cli.cached`) and the daemon's start-up cache
(:mod:`beat.config.startup_cache`).
"""
