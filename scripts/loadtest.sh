#!/usr/bin/env bash
# `make loadtest`: a bounded loopback load test. Starts its own API (spare port) and two Celery
# worker processes on a fresh PostgreSQL database and a private Redis key prefix, runs
# bench/load_test.py against them, and stops everything it started.
#
#   LOADTEST_JOBS=200  LOADTEST_CLIENTS=20  LOADTEST_WORKERS=2  LOADTEST_TIMEOUT=1200
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

VENV="${VENV:-.venv}"
BIN="$REPO_ROOT/$VENV/bin"
WORKERS="${LOADTEST_WORKERS:-2}"
RUN_DIR="$VAR_DIR/loadtest"
PIDS=()

stop_all() {
    trap - INT TERM EXIT
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        wait_for 20 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL -- "-$pid" 2>/dev/null || true
    done
    stop_started_services
}
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT

ensure_test_services "$BIN/python" || exit 1
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"

# Everything this run touches is its own: database, data directory, Redis keys, port.
export OCR_DATABASE_URL="${OCR_TEST_DATABASE_URL%/*}/ocr_loadtest"
export OCR_BROKER_URL="${OCR_TEST_BROKER_URL%/*}/14"
export OCR_BROKER_KEY_PREFIX="loadtest-$$:"
export OCR_DATA_DIR="$RUN_DIR/data"
export OCR_DEFAULT_RATE_LIMIT=0 # 20 clients polling 200 jobs would trip the per-key default
PORT="$(free_port 8100)"
URL="http://127.0.0.1:$PORT"

"$BIN/python" scripts/dbcheck.py postgres "$OCR_DATABASE_URL" --recreate
"$BIN/alembic" upgrade head >"$RUN_DIR/migrate.log" 2>&1 || {
    cat "$RUN_DIR/migrate.log" >&2
    exit 1
}
KEY="$("$BIN/ocr-admin" keys create --name loadtest 2>>"$RUN_DIR/migrate.log" | awk 'NF { last = $NF } END { print last }')"

say "Load test: API on $URL, $WORKERS worker processes, database $OCR_DATABASE_URL (logs in $RUN_DIR)"
for n in $(seq 1 "$WORKERS"); do
    setsid "$BIN/celery" -A worker.celery_app worker -Q ocr.finish,ocr.jobs,ocr.pages --concurrency 1 \
        --hostname "loadtest$n-$$@%h" --loglevel INFO >"$RUN_DIR/worker$n.log" 2>&1 &
    PIDS+=($!)
done
gunicorn_extra_args "$BIN"
setsid "$BIN/gunicorn" "${GUNICORN_EXTRA[@]}" --bind "127.0.0.1:$PORT" --workers 2 --threads 8 --timeout 120 \
    'api.app:create_app()' >"$RUN_DIR/api.log" 2>&1 &
PIDS+=($!)

api_answers() { "$BIN/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/healthz', timeout=5)" "$URL" 2>/dev/null; }
if ! wait_for 120 api_answers; then
    say "The API did not come up; see $RUN_DIR/api.log"
    exit 1
fi

set +e
"$BIN/python" -m bench.load_test --url "$URL" --api-key "$KEY" \
    --jobs "${LOADTEST_JOBS:-200}" --clients "${LOADTEST_CLIENTS:-20}" \
    --timeout "${LOADTEST_TIMEOUT:-1200}" --json "$RUN_DIR/result.json"
status=$?
set -e
say "Per-job figures: $RUN_DIR/result.json"
exit "$status"
