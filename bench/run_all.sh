#!/usr/bin/env bash
# Every benchmark at a modest size, beat beside Celery 5.7 in the same run: about 10 minutes
# on 2 cores. Each bench starts (and stops) its own private redis-server; nothing else is
# touched. The machine's load average and CPU count are printed before, after and with each
# table: figures from a loaded machine are not comparable with an idle one's.
#
#   bench/run_all.sh                      # PYTHON=.venv/bin/python, N=1000
#   CELERY_PYTHON=/path/to/python N=2000 bench/run_all.sh
#
# CELERY_PYTHON: a Python with celery[redis]==5.7.0 (the `bench` extra, kept out of the
# project's environment); default /tmp/celery-venv/bin/python. Without it only beat runs.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
CELERY_PYTHON=${CELERY_PYTHON:-/tmp/celery-venv/bin/python}
N=${N:-1000}
celery=()
if [ -x "$CELERY_PYTHON" ] && "$CELERY_PYTHON" -c 'import celery' 2>/dev/null; then
    celery=(--celery-python "$CELERY_PYTHON")
else
    echo "no Celery at $CELERY_PYTHON: beat only (set CELERY_PYTHON)" >&2
fi

load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), nproc $(nproc)"; }
section() { printf '\n## %s\n' "$*"; }

echo "# bench/run_all.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "# $(redis-server --version | cut -d' ' -f1-3), $("$PY" --version), N=$N"
echo "# $(load)"
started=$(date +%s)

section "worker, no-op tasks, -c 2"
"$PY" bench/bench_worker.py -n 3000 --rounds 3 "${celery[@]}"
section "time limits"
"$PY" bench/bench_limits.py --runs 10 "${celery[@]}"
section "calling API"
"$PY" bench/bench_calling.py -n 500 --calls 2000 "${celery[@]}" | grep -v '^\s*$'
section "dispatch, aligned burst, lateness to claimable"
"$PY" bench/bench_beat.py aligned -n "$N" "${celery[@]}"
section "dispatch, spread, lateness to claimable"
"$PY" bench/bench_beat.py spread -n "$N" --seconds 30 --grace 5 "${celery[@]}"
section "dispatch, spread, fire to task start (workers draining)"
"$PY" bench/bench_beat.py spread --drain -n "$N" --seconds 30 --grace 5 "${celery[@]}"
section "enqueue (beat only)"
"$PY" bench/bench_enqueue.py --n 20000 --chunks 1000
section "read-only CLI start-up (beat only)"
"$PY" bench/bench_cli.py --runs 5

echo
echo "# done in $(( $(date +%s) - started )) s; $(load)"
