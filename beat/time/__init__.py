"""Time, pure: schedules (cron, interval, calendar, one-off) and their next fire after an
instant, cron fields and matching, the DST rule, durations. No I/O, no clock: every function
takes "now" (or "after") as an argument.
"""
