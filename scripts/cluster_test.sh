#!/usr/bin/env bash
# `make cluster-test`: the platform run across hosts on this one machine, and a worker host lost mid-run.
#
# Each host is a network namespace with one address on a private bridge (SUBNET.0/24, only inside
# the test: the host system gets no address on the bridge, so the test's hosts have no route to
# it or to anything else, and reach each other only through their hosts' addresses):
#
#   db .2 PostgreSQL   redis .3 Redis   s3 .4 S3 server (moto)   api .5 API (gunicorn)
#   worker1 .6, worker2 .7 Celery workers   client .8 the load driver (bench/cluster.py)
#
# Database, broker and storage are the run's own (the system's PostgreSQL and Redis are never
# touched); the API and the workers are given the other hosts' addresses and nothing else. The
# driver submits CLUSTER_JOBS jobs, kills every process of worker2 mid-run and checks every job
# succeeds with its files in S3 (see bench/cluster.py). Namespaces, links and servers are removed
# on exit, Ctrl-C or TERM, and those of an earlier run that was killed before it could are
# removed first.
#
# Where network namespaces are not allowed (no root, a container without CAP_NET_ADMIN) it says
# why and runs the same topology on loopback addresses 127.0.0.2, .3, ... instead: the same
# processes and addresses, but without the isolation (every host could reach every port).
#
#   CLUSTER_JOBS=50  CLUSTER_SUBNET=10.213.77  CLUSTER_NETNS=auto|0 (0: the loopback topology)
#   CLUSTER_FAULT=kill|power-off (power-off: worker2's link goes down before the kill, so no
#                                 connection of it is closed: what the others see of a dead machine)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

VENV="${VENV:-.venv}"
BIN="$REPO_ROOT/$VENV/bin"
RUN_DIR="$VAR_DIR/cluster"
SUBNET="${CLUSTER_SUBNET:-10.213.77}"
JOBS="${CLUSTER_JOBS:-50}"
# Names carry this prefix and our pid, so an aborted run's leftovers are recognisable as ours.
# Link names stay within the kernel's 15 characters: ocrcl + pid (<= 7 digits) + a 2-letter tag.
PREFIX=ocrcl
ID=$$
BRIDGE="${PREFIX}${ID}br"
PG_PORT=5432 REDIS_PORT=6379 S3_PORT=9000 API_PORT=8000
HOSTS=(db redis s3 api worker1 worker2 client)
declare -A OCTET=([db]=2 [redis]=3 [s3]=4 [api]=5 [worker1]=6 [worker2]=7 [client]=8)
declare -A TAG=([db]=db [redis]=rd [s3]=s3 [api]=ap [worker1]=w1 [worker2]=w2 [client]=cl)
declare -A ROLE=(
    [db]="PostgreSQL :$PG_PORT" [redis]="Redis :$REDIS_PORT" [s3]="S3 server (moto) :$S3_PORT"
    [api]="API (gunicorn) :$API_PORT" [worker1]="Celery worker" [worker2]="Celery worker, killed mid-run"
    [client]="load driver (bench/cluster.py)"
)
declare -A ADDR NS
MODE=""
T0=$SECONDS

in_host() { # host command... -> runs the command on that host
    local host=$1
    shift
    if [[ "$MODE" == netns ]]; then
        ip netns exec "${NS[$host]}" "$@"
    else
        "$@"
    fi
}

as_postgres() { # PostgreSQL refuses to run as root (services.sh's as_pg_owner, usable through in_host)
    if [[ "$(id -u)" == "0" ]]; then echo runuser -u postgres --; fi
}

# --- leftovers of an aborted run ------------------------------------------------------------------
owner_alive() { # pid -> 0 while that pid is a cluster test still running
    [[ "$1" == "$ID" ]] || grep -qs cluster_test "/proc/$1/cmdline"
}

kill_netns_processes() { # namespace -> every process in it SIGKILLed, and gone
    local pid round
    for round in 1 2 3 4 5 6 7 8 9 10; do
        local pids
        pids="$(ip netns pids "$1" 2>/dev/null || true)"
        [[ -z "$pids" ]] && return 0
        for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
        sleep 0.2
    done
    say "Processes still in $1: $(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')"
}

remove_leftovers() {
    local ns link pid
    command -v ip >/dev/null 2>&1 || return 0
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-[0-9]+-" || true); do
        pid="${ns#"$PREFIX"-}" && pid="${pid%%-*}"
        owner_alive "$pid" && continue
        say "Removing namespace $ns, left by an aborted cluster test (pid $pid)"
        stop_postgres_in "$ns"
        kill_netns_processes "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$PREFIX[0-9]+" || true); do
        pid="${link#"$PREFIX"}" && pid="${pid%%[!0-9]*}"
        owner_alive "$pid" && continue
        say "Removing link $link, left by an aborted cluster test (pid $pid)"
        ip link del "$link" 2>/dev/null || true
    done
    # The loopback topology's servers, by their files (never a process found by name).
    stop_redis "$RUN_DIR/redis"
    stop_postgres "$RUN_DIR/pg"
    if [[ -s "$RUN_DIR/moto.pid" ]]; then
        pid="$(cat "$RUN_DIR/moto.pid")"
        grep -qs moto "/proc/$pid/cmdline" && kill -KILL "$pid" 2>/dev/null || true
        rm -f "$RUN_DIR/moto.pid"
    fi
}

stop_postgres_in() { # namespace -> a clean fast stop of the PostgreSQL of the run whose namespace that is
    # pg_ctl rather than SIGKILL: a killed postmaster leaves its System V shared memory behind.
    local bindir
    [[ -f "$RUN_DIR/pg/data/postmaster.pid" ]] || return 0
    bindir="$(pg_bindir)" || return 0
    ip netns exec "$1" $(as_postgres) "$bindir/pg_ctl" -D "$RUN_DIR/pg/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
}

# --- the hosts ------------------------------------------------------------------------------------
netns_allowed() { # -> 0 when namespaces, veth pairs and a bridge can be made; else WHY says what refused
    local probe="$PREFIX-$ID-probe" out
    if [[ "${CLUSTER_NETNS:-auto}" == 0 ]]; then
        WHY="CLUSTER_NETNS=0 asks for the loopback topology"
        return 1
    fi
    if ! command -v ip >/dev/null 2>&1; then
        WHY="the ip command (iproute2) is not installed"
        return 1
    fi
    if ! out="$(ip netns add "$probe" 2>&1)"; then
        WHY="'ip netns add $probe' failed: $out"
        return 1
    fi
    ip netns del "$probe"
    if ! out="$(ip link add "${PREFIX}${ID}pb" type bridge 2>&1)"; then
        WHY="'ip link add ${PREFIX}${ID}pb type bridge' failed: $out"
        return 1
    fi
    ip link del "${PREFIX}${ID}pb"
}

build_netns_hosts() {
    ip link add "$BRIDGE" type bridge
    ip link set "$BRIDGE" up
    local host link
    for host in "${HOSTS[@]}"; do
        NS[$host]="$PREFIX-$ID-$host"
        ADDR[$host]="$SUBNET.${OCTET[$host]}"
        link="$PREFIX$ID${TAG[$host]}"
        ip netns add "${NS[$host]}"
        ip link add "$link" type veth peer name eth0 netns "${NS[$host]}"
        ip link set "$link" master "$BRIDGE" up
        ip -n "${NS[$host]}" addr add "${ADDR[$host]}/24" dev eth0
        ip -n "${NS[$host]}" link set eth0 up
        # lo too, as on any machine: a namespace starts with it down, and a process that talks to
        # 127.0.0.1 for its own reasons would fail. It reaches only the same host, never another.
        ip -n "${NS[$host]}" link set lo up
    done
}

build_loopback_hosts() {
    local host
    for host in "${HOSTS[@]}"; do
        NS[$host]=""
        ADDR[$host]="127.0.0.${OCTET[$host]}" # Linux answers on all of 127/8 without any setup
    done
}

tear_down() {
    trap '' INT TERM
    local host
    if [[ "$MODE" == netns ]]; then
        stop_postgres_in "${NS[db]}"
        for host in "${HOSTS[@]}"; do
            kill_netns_processes "${NS[$host]}"
            ip netns del "${NS[$host]}" 2>/dev/null || true
        done
        ip link del "$BRIDGE" 2>/dev/null || true
    elif [[ "$MODE" == loopback ]]; then
        stop_redis "$RUN_DIR/redis"
        stop_postgres "$RUN_DIR/pg"
        [[ -s "$RUN_DIR/moto.pid" ]] && kill -TERM "$(cat "$RUN_DIR/moto.pid")" 2>/dev/null
        rm -f "$RUN_DIR/moto.pid"
    fi
    rm -f "$VAR_DIR/cluster.pid"
    say "Hosts removed ($((SECONDS - T0)) s since the start)"
}

# --- their servers --------------------------------------------------------------------------------
reachable_from_client() { # address port -> 0 when the client host can open a TCP connection there
    in_host client bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

start_db_host() {
    local dir="$RUN_DIR/pg" bindir
    bindir="$(pg_bindir)" || {
        say "PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql)."
        return 1
    }
    mkdir -p "$dir"
    [[ "$(id -u)" == "0" ]] && chown postgres: "$dir"
    $(as_postgres) "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        $(as_postgres) "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
        say "initdb failed; see $dir/initdb.log"
        return 1
    }
    # initdb trusts loopback only; the API and the workers come from the other hosts of the subnet.
    local net="$SUBNET.0/24"
    [[ "$MODE" == loopback ]] && net="127.0.0.0/8"
    echo "host all all $net trust" >>"$dir/data/pg_hba.conf"
    in_host db $(as_postgres) "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $PG_PORT -c listen_addresses=${ADDR[db]} -c unix_socket_directories='' -c fsync=off" start >/dev/null || {
        say "PostgreSQL did not start; see $dir/server.log"
        return 1
    }
}

start_redis_host() {
    local dir="$RUN_DIR/redis"
    mkdir -p "$dir"
    # protected-mode off: it would refuse the other hosts, which are the only clients this Redis has.
    in_host redis redis-server --daemonize yes --bind "${ADDR[redis]}" --port "$REDIS_PORT" --protected-mode no \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no >/dev/null
    wait_for 15 in_host client bash -c "$(declare -f redis_ping); redis_ping ${ADDR[redis]} $REDIS_PORT" || {
        say "Redis did not answer from the client host; see $dir/redis.log"
        return 1
    }
}

start_s3_host() {
    local cmd=("$BIN/moto_server" -H "${ADDR[s3]}" -p "$S3_PORT")
    [[ "$MODE" == netns ]] && cmd=(ip netns exec "${NS[s3]}" "${cmd[@]}")
    # Its own session (Ctrl-C is for the driver; tear_down stops the server); $! is the server itself,
    # since ip netns exec and setsid (not a group leader here) both exec.
    setsid "${cmd[@]}" >"$RUN_DIR/moto.log" 2>&1 &
    echo $! >"$RUN_DIR/moto.pid"
    disown # tear_down stops it; bash need not report its end as a "Killed" job
    wait_for 60 reachable_from_client "${ADDR[s3]}" "$S3_PORT" || {
        say "The S3 server did not answer; see $RUN_DIR/moto.log"
        return 1
    }
}

# A loopback address with the port already taken (something listening on 0.0.0.0) cannot host it.
check_loopback_ports() {
    local pair
    for pair in "db $PG_PORT" "redis $REDIS_PORT" "s3 $S3_PORT" "api $API_PORT"; do
        set -- $pair
        if tcp_open "${ADDR[$1]}" "$2"; then
            say "Something already listens on ${ADDR[$1]}:$2 (on all addresses?): the loopback topology needs it."
            return 1
        fi
    done
}

# --- the run --------------------------------------------------------------------------------------
# One run at a time: a second would fight over var/cluster. The pid file, not a lock held for the
# whole run, since every server and worker would inherit the lock's descriptor and an aborted run's
# orphans would then keep it; the flock only makes check-and-claim atomic.
mkdir -p "$VAR_DIR"
exec 9>"$VAR_DIR/cluster.lock"
flock 9
OTHER="$(cat "$VAR_DIR/cluster.pid" 2>/dev/null || true)"
if [[ -n "$OTHER" && "$OTHER" != "$ID" ]] && owner_alive "$OTHER"; then
    say "Another cluster test is running (pid $OTHER, in $VAR_DIR/cluster.pid)."
    exit 1
fi
echo "$ID" >"$VAR_DIR/cluster.pid"
exec 9>&-
remove_leftovers
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
if netns_allowed; then
    MODE=netns
    trap 'tear_down' EXIT
    trap 'exit 130' INT TERM
    build_netns_hosts
else
    say "Network namespaces are not allowed here: $WHY."
    say "Running the same topology on loopback addresses 127.0.0.2-8 instead (no isolation between hosts)."
    MODE=loopback
    trap 'tear_down' EXIT
    trap 'exit 130' INT TERM
    build_loopback_hosts
    check_loopback_ports
fi

# The test's hosts have no route out: a proxy from the environment would only get in the way.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export OCR_DATABASE_URL="postgresql+psycopg://postgres@${ADDR[db]}:$PG_PORT/ocr_cluster"
export OCR_BROKER_URL="redis://${ADDR[redis]}:$REDIS_PORT/0"
export OCR_STORAGE_URL="s3://ocr-cluster/ocr"
export OCR_S3_ENDPOINT_URL="http://${ADDR[s3]}:$S3_PORT"
export AWS_ACCESS_KEY_ID=cluster-test AWS_SECRET_ACCESS_KEY=cluster-test AWS_DEFAULT_REGION=us-east-1
export OCR_DATA_DIR="$RUN_DIR/data"
export OCR_DEFAULT_RATE_LIMIT=0 # the driver polls 50 jobs with one key
# Two single-process workers share this machine's cores: one torch thread each.
export OCR_TORCH_THREADS="${OCR_TORCH_THREADS:-1}"
# As in make chaos: a page the dead host held comes back within seconds (reconciler) or a minute
# (visibility timeout, kept above the hard limit), not the production minutes.
export OCR_PAGE_SOFT_TIME_LIMIT=40 OCR_PAGE_HARD_TIME_LIMIT=50 OCR_BROKER_VISIBILITY_TIMEOUT=60
export OCR_RECONCILE_INTERVAL=5 OCR_RECONCILE_GRACE=15 OCR_HEARTBEAT_INTERVAL=2

{
    echo
    echo "Topology ($MODE$([[ "$MODE" == netns ]] && echo ": one network namespace per host on bridge $BRIDGE, $SUBNET.0/24, no route to this machine"))"
    printf '  %-8s %-13s %-22s %s\n' host address "network namespace" role
    for host in "${HOSTS[@]}"; do
        printf '  %-8s %-13s %-22s %s\n' "$host" "${ADDR[$host]}" "${NS[$host]:--}" "${ROLE[$host]}"
    done
    echo
} >&2
say "Hosts up after $((SECONDS - T0)) s; starting PostgreSQL, Redis and S3 on theirs"
if [[ "$MODE" == netns ]]; then
    # The isolation the test claims, checked: a host reaches neither this machine's address nor the
    # system's servers (127.0.0.1 inside a host is the host's own loopback).
    MACHINE="$(ip -4 -o addr show scope global | awk '{ sub(/\/.*/, "", $4); print $4; exit }')"
    for target in ${MACHINE:+"$MACHINE:5432"} 127.0.0.1:5432 127.0.0.1:6379; do
        if in_host worker1 timeout 3 bash -c 'exec 3<>"/dev/tcp/${0%:*}/${0##*:}"' "$target" 2>/dev/null; then
            say "Isolation broken: worker1 reaches $target"
            exit 1
        fi
    done
    say "Isolation: worker1 reaches neither this machine (${MACHINE:-no address}) nor its PostgreSQL and Redis"
fi
start_db_host
start_redis_host
start_s3_host
say "Servers up after $((SECONDS - T0)) s; migrating, an admin key and the bucket (from the API host)"
in_host api "$BIN/python" scripts/dbcheck.py postgres "$OCR_DATABASE_URL" --recreate
in_host api "$BIN/alembic" upgrade head >"$RUN_DIR/migrate.log" 2>&1 || {
    cat "$RUN_DIR/migrate.log" >&2
    exit 1
}
KEY="$(in_host api "$BIN/ocr-admin" keys create --name cluster --admin 2>>"$RUN_DIR/migrate.log" | awk 'NF { last = $NF } END { print last }')"
in_host api "$BIN/ocr-admin" storage init
gunicorn_extra_args "$BIN"
export GUNICORN_EXTRA="${GUNICORN_EXTRA[*]}"

{
    printf '{"mode": "%s", "api_port": %d, "hosts": [' "$MODE" "$API_PORT"
    sep=""
    for host in "${HOSTS[@]}"; do
        printf '%s{"name": "%s", "address": "%s", "netns": %s, "role": "%s"}' "$sep" "$host" "${ADDR[$host]}" \
            "$([[ -n "${NS[$host]}" ]] && echo "\"${NS[$host]}\"" || echo null)" "${ROLE[$host]}"
        sep=", "
    done
    printf ']}\n'
} >"$RUN_DIR/topology.json"

say "Ready after $((SECONDS - T0)) s; the driver runs on the client host (logs in $RUN_DIR)"
# In the background with `wait`, so that a TERM or Ctrl-C is acted on at once: the trap passes it
# on to the driver, which stops the API and workers it started, and then the hosts go.
stop_driver() {
    kill -TERM "$DRIVER" 2>/dev/null || true
    wait "$DRIVER" 2>/dev/null || true
}
driver=("$BIN/python" -m bench.cluster --topology "$RUN_DIR/topology.json" --api-key "$KEY"
    --run-dir "$RUN_DIR" --jobs "$JOBS" --fault "${CLUSTER_FAULT:-kill}")
[[ "$MODE" == netns ]] && driver=(ip netns exec "${NS[client]}" "${driver[@]}")
"${driver[@]}" & # not through in_host: $! must be the driver itself (ip netns exec execs), not a subshell
DRIVER=$!
trap 'stop_driver; exit 130' INT
trap 'stop_driver; exit 143' TERM
set +e
wait "$DRIVER"
status=$?
set -e
say "make cluster-test: $([[ $status == 0 ]] && echo passed || echo "FAILED (status $status)") in $((SECONDS - T0)) s"
exit "$status"
