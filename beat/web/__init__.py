"""``beat web``: the dashboard and its JSON API (an optional extra: ``beat-scheduler[web]``).

Importing this package loads nothing: :mod:`beat.web.passwords` is standard library only (the
configuration checks a ``web:`` section with it), and the app (:mod:`beat.web.app`) imports
Starlette, uvicorn and Jinja2 when it is built.
"""
