#!/usr/bin/env bash
# `make chaos`: the fault test. Starts a Redis and a PostgreSQL of its own on spare loopback ports
# (under var/chaos/; the system's servers on 6379/5432 are never touched), migrates a fresh
# database, and runs bench/chaos.py: the API, two workers, 200 jobs from 20 clients, while workers,
# a pool process, Redis and PostgreSQL are killed or stopped. Everything it started is stopped at
# the end. Prints the table of jobs lost / stuck / doubled and the recovery time of each fault.
#
#   CHAOS_JOBS=200  CHAOS_CLIENTS=20  CHAOS_PG_OUTAGE=90  CHAOS_SETTLE=300
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

VENV="${VENV:-.venv}"
BIN="$REPO_ROOT/$VENV/bin"
RUN_DIR="$VAR_DIR/chaos"

# Servers an interrupted earlier run left in our directories (never anyone else's).
stop_redis "$RUN_DIR/redis"
stop_postgres "$RUN_DIR/pg"
trap 'stop_started_services' EXIT
trap 'exit 130' INT TERM
rm -rf "$RUN_DIR/data" "$RUN_DIR"/*.log
mkdir -p "$RUN_DIR"

REDIS_PORT="$(free_port 6470)"
start_redis "$REDIS_PORT" "$RUN_DIR/redis"
PG_PORT="$(free_port 5470)"
start_postgres "$PG_PORT" "$RUN_DIR/pg"

export OCR_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/ocr_chaos"
export OCR_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export OCR_DATA_DIR="$RUN_DIR/data"
export OCR_STORAGE_URL="file://$RUN_DIR/data/storage"
export OCR_DEFAULT_RATE_LIMIT=0           # 20 clients polling would trip the per-key default
export OCR_WEBHOOK_ALLOW=127.0.0.1        # the run's webhook receiver listens on loopback
# A page in hand when its worker is killed comes back after the visibility timeout: keep it short
# (it must stay above the hard limit), and let the reconciler act within seconds.
export OCR_PAGE_SOFT_TIME_LIMIT=40 OCR_PAGE_HARD_TIME_LIMIT=50 OCR_BROKER_VISIBILITY_TIMEOUT=60
export OCR_RECONCILE_INTERVAL=5 OCR_RECONCILE_GRACE=15
export OCR_HEARTBEAT_INTERVAL=2

"$BIN/python" scripts/dbcheck.py postgres "$OCR_DATABASE_URL" --recreate
"$BIN/alembic" upgrade head >"$RUN_DIR/migrate.log" 2>&1 || {
    cat "$RUN_DIR/migrate.log" >&2
    exit 1
}
KEY="$("$BIN/ocr-admin" keys create --name chaos 2>>"$RUN_DIR/migrate.log" | awk 'NF { last = $NF } END { print last }')"
gunicorn_extra_args "$BIN"
export GUNICORN_EXTRA="${GUNICORN_EXTRA[*]}"

"$BIN/python" -m bench.chaos --api-key "$KEY" --port "$(free_port 8200)" --run-dir "$RUN_DIR" \
    --redis-port "$REDIS_PORT" --redis-dir "$RUN_DIR/redis" --pg-port "$PG_PORT" --pg-dir "$RUN_DIR/pg" \
    --jobs "${CHAOS_JOBS:-200}" --clients "${CHAOS_CLIENTS:-20}" --pg-outage "${CHAOS_PG_OUTAGE:-90}" \
    --settle "${CHAOS_SETTLE:-300}"
