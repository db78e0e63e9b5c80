"""The operator's side: workers, revoke, dead letters, purge.

Plain functions over a broker that return typed records, shared by the ``beat`` commands
(:mod:`beat.cli`, which only render them) and the web dashboard. None reads argv, prints or
configures logging.
"""
