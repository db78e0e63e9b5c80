"""Giving the memory freed after start-up back to the system (issue 17).

Reading a large schedules.yaml (or a SQL source) allocates far more than the entries keep: the
parse tree, the rows, the checks. Freed, that memory stays in the C allocator's heap, counted
in the process's RSS, until the allocator trims it, which glibc does only at the heap's top.
One ``malloc_trim`` after start-up returns the free pages inside the heap too (100,000
entries: 8 MB of RSS at ready, ~75 bytes per entry).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off while a large set of long-lived objects is built, then as it was.

    Reading 100,000 entries makes about a million objects, and each automatic collection on
    the way walks its generation of them (a full one, everything made so far): ~5% of
    loading them (issue 17). What they keep is not garbage; the few cycles made meanwhile wait
    for the next collection (the daemon collects once at ready). Process-wide, as the GC is:
    another thread's collections wait too, for as long as the load takes. Nests.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def release_free_memory() -> None:
    """``malloc_trim(0)`` where the C library has it (glibc); a no-op elsewhere."""
    import ctypes  # here: only the daemon's start-up needs it
    import os

    if os.name != "posix":
        return
    try:
        # The symbols already loaded into this process (no ldconfig subprocess to find libc).
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # musl, macOS: nothing to trim this way
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
