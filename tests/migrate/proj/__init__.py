"""A Celery project as its authors wrote it, read by ``beat import-celery`` and never run: this
package raises on import, so a test passes only if nothing of it was executed."""

raise RuntimeError("beat import-celery executed the project's code")
