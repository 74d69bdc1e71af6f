#!/usr/bin/env bash
# `make run`: migrate the database, find or start a Redis, make sure an admin API key exists,
# then run a Celery worker and the API in the foreground until Ctrl-C, which stops both.
#
#   OCR_API_HOST / OCR_API_PORT    where the API listens (127.0.0.1:8000)
#   OCR_WORKER_CONCURRENCY         worker processes (2)
#   OCR_API_WORKERS, OCR_API_THREADS   gunicorn processes and threads (api/gunicorn_conf.py)
#   OCR_DATABASE_URL, OCR_BROKER_URL, OCR_DATA_DIR, ...   see README "Configuration"
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

VENV="${VENV:-.venv}"
BIN="$REPO_ROOT/$VENV/bin"
HOST="${OCR_API_HOST:-127.0.0.1}"
PORT="${OCR_API_PORT:-8000}"
URL="http://$HOST:$PORT"
KEY_FILE="$VAR_DIR/api_key"
LOG_DIR="$VAR_DIR/log"
mkdir -p "$VAR_DIR" "$LOG_DIR"

if tcp_open "$HOST" "$PORT"; then
    say "Something already listens on $HOST:$PORT (another 'make run'?). Stop it, or set OCR_API_PORT."
    exit 1
fi

ensure_run_broker || exit 1
say "Broker: $OCR_BROKER_URL"

say "Migrating the database"
"$BIN/alembic" upgrade head

create_admin_key() {
    local out key
    out="$("$BIN/ocr-admin" keys create --name "admin-$(date +%Y%m%d-%H%M%S)" --admin)"
    # ocr-admin prints the new key; it is the last word of its output.
    key="$(printf '%s\n' "$out" | awk 'NF { last = $NF } END { print last }')"
    if [[ -z "$key" ]]; then
        say "ocr-admin printed no key:"
        say "$out"
        return 1
    fi
    (umask 077 && printf '%s\n' "$key" >"$KEY_FILE")
    say "Created an admin API key and saved it in $KEY_FILE"
}

if [[ -z "${OCR_API_KEY:-}" && ! -s "$KEY_FILE" ]]; then
    create_admin_key
fi

PIDS=()
STOPPING=0
stop_all() {
    # A second INT/TERM while stopping (make and the shell both get one) must not end this script
    # before it has stopped the API and the worker: ignore them until the children are gone.
    trap '' INT TERM
    trap - EXIT
    ((STOPPING)) && return
    STOPPING=1
    say ""
    say "Stopping..."
    # jobs -p too: a signal between starting a child and recording it in PIDS must not orphan it.
    # shellcheck disable=SC2207
    PIDS+=($(jobs -p))
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    # The worker finishes or gives back its current page (acks_late: an unfinished page is redelivered).
    for pid in "${PIDS[@]}"; do
        wait_for 20 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL -- "-$pid" 2>/dev/null || true
    done
    stop_started_services
}
trap 'stop_all; exit 0' INT TERM # Ctrl-C is how one stops it: not an error
trap 'stop_all' EXIT

# Each in its own process group (setsid) so stopping it also stops its children.
say "Starting the worker (log also in $LOG_DIR/worker.log)"
setsid "$BIN/celery" -A worker.celery_app worker -Q ocr.finish,ocr.jobs,ocr.pages \
    --concurrency "${OCR_WORKER_CONCURRENCY:-2}" --hostname "ocr-worker-$$@%h" --loglevel INFO \
    > >(trap "" INT; exec tee -a "$LOG_DIR/worker.log") 2>&1 &
PIDS+=($!)

say "Starting the API on $URL (log also in $LOG_DIR/api.log)"
gunicorn_extra_args "$BIN"
# Its processes, threads and worker class are in api/gunicorn_conf.py, which the benchmarks use too.
setsid "$BIN/gunicorn" "${GUNICORN_EXTRA[@]}" -c python:api.gunicorn_conf --bind "$HOST:$PORT" 'api.app:create_app()' \
    > >(trap "" INT; exec tee -a "$LOG_DIR/api.log") 2>&1 &
PIDS+=($!)

api_answers() { "$BIN/python" - "$URL" <<'EOF'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=2).close()
except Exception:
    sys.exit(1)
EOF
}

key_works() { # 0 when the API accepts the key, 1 when it refuses it (401/403)
    "$BIN/python" - "$URL" "$1" <<'EOF'
import sys, urllib.error, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/jobs?per_page=1", headers={"Authorization": "Bearer " + sys.argv[2]})
try:
    urllib.request.urlopen(req, timeout=5).close()
except urllib.error.HTTPError as exc:
    sys.exit(1 if exc.code in (401, 403) else 0)
EOF
}

if ! wait_for 90 api_answers; then
    say "The API did not answer on $URL/healthz within 90 s; see the log above and $LOG_DIR/api.log"
    exit 1
fi

if [[ -z "${OCR_API_KEY:-}" ]] && ! key_works "$(cat "$KEY_FILE")"; then
    # The key file outlived its database (e.g. var/ocr.db was removed): make a new one.
    say "The key in $KEY_FILE is not known to this database; creating a new one"
    create_admin_key
fi
KEY="${OCR_API_KEY:-$(cat "$KEY_FILE")}"

cat >&2 <<EOF

==========================================================================
 OCR platform running at $URL     (Ctrl-C stops API and worker)

 Admin API key:  $KEY
   (saved in $KEY_FILE; ocrctl reads it from there or from OCR_API_KEY)

 Try it, in another shell:
   $VENV/bin/ocrctl submit some.pdf --wait --out out/
   curl -H "Authorization: Bearer $KEY" $URL/v1/jobs

 Upload page: $URL/        Dashboard: $URL/dashboard
 More keys:   $VENV/bin/ocr-admin keys create --name alice [--admin]
==========================================================================

EOF

# Whichever stops first (crash or Ctrl-C) takes the other one down with it.
set +e
wait -n "${PIDS[@]}"
status=$?
say "A process exited (status $status)"
exit "$status"
