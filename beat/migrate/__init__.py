"""Moving to beat from another scheduler: ``beat import-celery`` (a Celery ``beat_schedule``
read statically, never imported: :mod:`~beat.migrate.celery_source` finds and parses the
module, :mod:`~beat.migrate.celery_values` reads its literals, :mod:`~beat.migrate.celery_cron`
turns a ``crontab`` into a cron expression, :mod:`~beat.migrate.celery_entries` maps each entry
or says why it cannot)."""
