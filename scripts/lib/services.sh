# shellcheck shell=bash
# Finding or starting the Redis and PostgreSQL servers the project needs. Sourced by run.sh,
# test.sh and loadtest.sh. A server this file starts lives under var/ and is listed in
# STARTED_SERVICES so the caller can stop exactly what it started (stop_started_services).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VAR_DIR="${OCR_DATA_DIR:-$REPO_ROOT/var}"
STARTED_SERVICES=()

say() { printf '%s\n' "$*" >&2; }

tcp_open() { # host port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

free_port() { # first port from $1 upwards that nobody listens on
    local port=$1
    while tcp_open 127.0.0.1 "$port"; do port=$((port + 1)); done
    echo "$port"
}

redis_ping() { # host port -> 0 when a Redis there answers PONG without a password
    (
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 3 reply <&3 || exit 1
        [[ "$reply" == "+PONG"* ]]
    ) 2>/dev/null
}

wait_for() { # seconds command... -> 0 once the command succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}

# gunicorn >= 25 opens a control socket in $HOME by default; two servers (make run and a test
# run) would fight over it, and nothing here uses it.
# shellcheck disable=SC2034  # GUNICORN_EXTRA is read by the scripts that source this file
gunicorn_extra_args() { # bin dir -> fills GUNICORN_EXTRA
    GUNICORN_EXTRA=()
    if "$1/gunicorn" --help 2>/dev/null | grep -q -- "--no-control-socket"; then
        GUNICORN_EXTRA=(--no-control-socket)
    fi
}

# --- Redis -----------------------------------------------------------------------------------

start_redis() { # port dir -> a project-local Redis on 127.0.0.1:port with its files in dir
    local port=$1 dir=$2
    if redis_ping 127.0.0.1 "$port"; then
        return 0 # ours from an earlier run that was not stopped
    fi
    if ! command -v redis-server >/dev/null 2>&1; then
        say "No Redis answers and redis-server is not installed: install it (Debian: apt-get install redis-server)"
        say "or point the project at one with OCR_BROKER_URL / OCR_TEST_BROKER_URL."
        return 1
    fi
    mkdir -p "$dir"
    say "Starting a project Redis on 127.0.0.1:$port (files in $dir)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --appendonly yes --save "" >/dev/null
    if ! wait_for 15 redis_ping 127.0.0.1 "$port"; then
        say "Redis did not come up; see $dir/redis.log"
        return 1
    fi
    STARTED_SERVICES+=("redis:$dir")
}

stop_redis() { # dir
    local pidfile="$1/redis.pid"
    [[ -f "$pidfile" ]] || return 0
    local pid
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

# --- PostgreSQL --------------------------------------------------------------------------------

pg_bindir() { # the directory holding initdb/pg_ctl, newest version first
    local initdb
    initdb="$(command -v initdb 2>/dev/null || true)"
    if [[ -z "$initdb" ]]; then
        # shellcheck disable=SC2012  # Debian's fixed layout; sort -V picks the newest version
        initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"
    fi
    [[ -n "$initdb" ]] || return 1
    dirname "$(readlink -f "$initdb")"
}

as_pg_owner() { # PostgreSQL refuses to run as root: as root, run as the postgres user
    if [[ "$(id -u)" == "0" ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() { # port dir -> a project-local PostgreSQL on 127.0.0.1:port, superuser postgres, trust auth
    local port=$1 dir=$2 bindir
    if ! bindir="$(pg_bindir)"; then
        say "No PostgreSQL answers and its server binaries are not installed: install it"
        say "(Debian: apt-get install postgresql) or point the tests at one with OCR_TEST_DATABASE_URL."
        return 1
    fi
    if [[ "$(id -u)" == "0" ]] && ! id postgres >/dev/null 2>&1; then
        say "Running as root but there is no 'postgres' user to run a PostgreSQL server as."
        return 1
    fi
    mkdir -p "$dir"
    [[ "$(id -u)" == "0" ]] && chown postgres: "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        say "Creating a project PostgreSQL cluster in $dir/data"
        as_pg_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            as_pg_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
            say "initdb failed; see $dir/initdb.log"
            return 1
        }
    fi
    say "Starting a project PostgreSQL on 127.0.0.1:$port (files in $dir)"
    # No Unix socket: the path could be too long, and TCP on loopback is all the project uses.
    if ! as_pg_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off" start >/dev/null; then
        say "PostgreSQL did not start; see $dir/server.log"
        return 1
    fi
    STARTED_SERVICES+=("postgres:$dir")
}

stop_postgres() { # dir
    local bindir
    [[ -f "$1/data/postmaster.pid" ]] || return 0
    bindir="$(pg_bindir)" || return 0
    as_pg_owner "$bindir/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

stop_started_services() {
    local entry
    for entry in "${STARTED_SERVICES[@]}"; do
        case "$entry" in
        redis:*) stop_redis "${entry#redis:}" ;;
        postgres:*) stop_postgres "${entry#postgres:}" ;;
        esac
    done
    STARTED_SERVICES=()
}

# --- what run and test need ----------------------------------------------------------------------

# `make run`: the system's Redis if one answers on 6379, else a project one on 6390.
# An OCR_BROKER_URL set by the user is used as it is.
ensure_run_broker() {
    if [[ -n "${OCR_BROKER_URL:-}" ]]; then
        return 0
    fi
    if redis_ping 127.0.0.1 6379; then
        export OCR_BROKER_URL="redis://127.0.0.1:6379/0"
        return 0
    fi
    local port="${OCR_PROJECT_REDIS_PORT:-6390}"
    start_redis "$port" "$VAR_DIR/redis" || return 1
    export OCR_BROKER_URL="redis://127.0.0.1:$port/0"
}

# `make test`: a Redis and a PostgreSQL for the integration tests, exported as
# OCR_TEST_BROKER_URL and OCR_TEST_DATABASE_URL. Values the user set are used as they are.
ensure_test_services() {
    local py="$1" # the venv's python, for the PostgreSQL connection check
    if [[ -z "${OCR_TEST_BROKER_URL:-}" ]]; then
        if redis_ping 127.0.0.1 6379; then
            export OCR_TEST_BROKER_URL="redis://127.0.0.1:6379/15"
        else
            local rport rdir="$VAR_DIR/test-redis"
            rport="$(cat "$rdir/port" 2>/dev/null || true)"
            if [[ -z "$rport" ]] || ! redis_ping 127.0.0.1 "$rport"; then
                rport="$(free_port 6391)"
            fi
            start_redis "$rport" "$rdir" || return 1
            echo "$rport" >"$rdir/port"
            export OCR_TEST_BROKER_URL="redis://127.0.0.1:$rport/15"
        fi
    fi
    if [[ -z "${OCR_TEST_DATABASE_URL:-}" ]]; then
        local url="postgresql+psycopg://postgres@127.0.0.1:5432/test"
        if ! "$py" "$REPO_ROOT/scripts/dbcheck.py" postgres "$url" --create 2>/dev/null; then
            local pport
            # A cluster of ours left running by an earlier run keeps its port (line 4 of postmaster.pid).
            pport="$(sed -n 4p "$VAR_DIR/pg/data/postmaster.pid" 2>/dev/null || true)"
            if [[ -z "$pport" ]] || ! tcp_open 127.0.0.1 "$pport"; then
                pport="$(free_port 5433)"
                start_postgres "$pport" "$VAR_DIR/pg" || return 1
            else
                STARTED_SERVICES+=("postgres:$VAR_DIR/pg")
            fi
            url="postgresql+psycopg://postgres@127.0.0.1:$pport/test"
            "$py" "$REPO_ROOT/scripts/dbcheck.py" postgres "$url" --create || return 1
        fi
        export OCR_TEST_DATABASE_URL="$url"
    fi
}
