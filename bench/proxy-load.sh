#!/usr/bin/env bash
# Load benchmark: the same SIPp loads against carillon-proxy and against Kamailio, in one run, on loopback.
#
#   bench/proxy-load.sh
#
# Both servers use one private PostgreSQL (started here, in the work directory) and one provisioning step: the
# demo campus of `carillon seed-demo`. Kamailio reads the same lines through a `subscriber` view
# (bench/kamailio-schema.sql) and writes its bindings through to PostgreSQL (usrloc db_mode 1), as carillon-proxy
# does; both record-route. See bench/README.md for what is measured and how to read it.
#
# Two loads, each a ladder of fixed-rate steps (one SIPp run per step), carillon-proxy and Kamailio taking turns at
# each rate; a server's ladder stops at its first failed step or when its steps have used up PHASE_SECONDS:
#   register  REGISTER, 401, REGISTER with digest, 200            (bench/sipp/register.xml)
#   call      INVITE, 407, ACK, INVITE with digest, 180, 200, ACK, CALL_HOLD_MS, BYE, 200
#             (bench/sipp/call.xml) to one user registered at a SIPp UAS (bench/sipp/uas.xml)
# Then a contacts phase: CONTACTS more lines (provisioned in SQL, bench only) register once each, at CONTACT_RATE,
# with one server and then the other, and each server's memory is read when all are registered and again
# CONTACT_SETTLE seconds later (the memory that holds the contacts, not the transactions).
# A step passes when every call of the step ended, under 1 % failed, and the successful calls came at 95 % of the
# offered rate or more (counted over the step's time less the call duration). Per step it prints the offered and
# achieved rates, failures, the response time p50/p99 (from the authenticated request to its 200, logged by the
# scenario to the microsecond), the server's CPU (per cent of one core, and CPU milliseconds per successful call)
# and its memory after the step (RSS and PSS summed over its processes), and SIPp's own CPU. The summary takes
# each server's best passing step per load, gives the ratios carillon / Kamailio, and compares both at the
# highest rate both passed.
#
# Needs (Debian 12): sip-tester (SIPp 3.6), kamailio and kamailio-postgres-modules, postgresql-15, iproute2,
# and a carillon-proxy whose [auth] algorithms exists (SIPp answers only the first challenge, and only MD5).
# Run as root (PostgreSQL runs as user postgres, or nobody). Nothing leaves 127.0.0.1.
#
# Settings from the environment:
#   BENCH_DIR           work directory, kept afterwards (default: a new /tmp/carillon-bench.XXXXXX)
#   CARILLON_PROXY_BIN  the carillon-proxy binary (default: cargo build --release, target/release/carillon-proxy)
#   CARILLON_BIN        the carillon admin binary (default: built likewise)
#   PG_BINDIR           PostgreSQL's binaries (default /usr/lib/postgresql/15/bin)
#   USERS               demo users, at most 300 (default 300)
#   STEP_SECONDS        length of one step (default 6)
#   PHASE_SECONDS       steps of one load against one server stop after this much (default 45)
#   REGISTER_RATES      offered registrations per second, step by step (default "500 1000 2000 4000 8000";
#                       empty: no register load)
#   CALL_RATES          offered calls per second, step by step (default "100 200 400 800 1600"; empty: none)
#   CALL_HOLD_MS        time between the ACK and the BYE (default 1000)
#   KAMAILIO_CHILDREN   Kamailio's UDP worker processes (default 8, Kamailio's own default: its workers wait for
#                       PostgreSQL synchronously, so fewer would measure the database's latency, not Kamailio)
#   KAMAILIO_DB_MODE    usrloc db_mode: 1 write-through (default, as carillon-proxy), 0 memory only
#   CONTACTS            contacts registered in the last phase, one line each (default 100000; 0 skips the phase)
#   CONTACT_RATE        registrations per second in that phase (default 2000)
#   CONTACT_SETTLE      seconds to wait after it before memory is read, so that answered transactions are gone
#                       (default 40: Timer J is 32 s)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/carillon-bench.XXXXXX)}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
USERS=${USERS:-300}
STEP_SECONDS=${STEP_SECONDS:-6}
PHASE_SECONDS=${PHASE_SECONDS:-45}
REGISTER_RATES=${REGISTER_RATES-500 1000 2000 4000 8000}
CALL_RATES=${CALL_RATES-100 200 400 800 1600}
CALL_HOLD_MS=${CALL_HOLD_MS:-1000}
KAMAILIO_CHILDREN=${KAMAILIO_CHILDREN:-8}
KAMAILIO_DB_MODE=${KAMAILIO_DB_MODE:-1}
CONTACTS=${CONTACTS:-100000}
CONTACT_RATE=${CONTACT_RATE:-2000}
CONTACT_SETTLE=${CONTACT_SETTLE:-40}
DOMAIN=campus.test
CLK_TCK=$(getconf CLK_TCK)
RESULTS=$BENCH_DIR/results.txt

say() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
note() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'proxy-load.sh: %s\n' "$*" >&2
    exit 1
}

# --- processes started here, stopped by PID on exit -------------------------------------------------------------

PIDS=()
PG_STARTED=false
PG_USER=
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if $PG_STARTED; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$BENCH_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg() { (cd / && setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- "$@"); }

# --- checks and ports -------------------------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL is started as another user)"
for tool in sipp kamailio ss setpriv; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: sip-tester, kamailio, iproute2, util-linux)"
done
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/db_postgres.so ] || die "Kamailio's db_postgres is missing (kamailio-postgres-modules)"
[ -x "$PG_BINDIR/initdb" ] || die "$PG_BINDIR/initdb is missing (postgresql-15)"
[ "$USERS" -ge 2 ] && [ "$USERS" -le 300 ] || die "USERS must be 2 to 300"
for rate in $REGISTER_RATES $CALL_RATES $CONTACT_RATE; do
    [ $((rate % 100)) -eq 0 ] && [ "$rate" -gt 0 ] || die "rates must be multiples of 100 (SIPp sends rate/100 every 10 ms): $rate"
done

# A port free on 127.0.0.1 for UDP and TCP, at or above $1, and not handed out before in this run. Sockets of
# every state count: a connection whose ephemeral local port it is blocks a listener too.
TAKEN=" "
free_port() {
    local port=$1
    while [ -n "$(ss -Hanu "sport = :$port")" ] || [ -n "$(ss -Hant "sport = :$port")" ] || [[ $TAKEN == *" $port "* ]]; do
        port=$((port + 1))
    done
    TAKEN="$TAKEN$port "
    echo "$port"
}

mkdir -p "$BENCH_DIR"
: >"$RESULTS"
note "work directory $BENCH_DIR"

# --- binaries ---------------------------------------------------------------------------------------------------

BUILT_FROM="given binary"
if [ -z "${CARILLON_PROXY_BIN:-}" ] || [ -z "${CARILLON_BIN:-}" ]; then
    note "building carillon-proxy and carillon (cargo build --release)"
    BUILT_FROM="built from $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo 'this checkout')"
    (cd "$ROOT" && cargo build --release --quiet -p carillon-proxy -p carillon-cli)
    target=${CARGO_TARGET_DIR:-$ROOT/target}
    CARILLON_PROXY_BIN=${CARILLON_PROXY_BIN:-$target/release/carillon-proxy}
    CARILLON_BIN=${CARILLON_BIN:-$target/release/carillon}
fi
[ -x "$CARILLON_PROXY_BIN" ] || die "no carillon-proxy at $CARILLON_PROXY_BIN"
[ -x "$CARILLON_BIN" ] || die "no carillon at $CARILLON_BIN"

# --- PostgreSQL and the users -----------------------------------------------------------------------------------

PG_PORT=$(free_port 55432)
CARILLON_PORT=$(free_port 5160)
KAMAILIO_PORT=$(free_port 5170)
UAS_PORT=$(free_port 5300)
SIPP_PORT=$(free_port 5310)

if id postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=nobody; fi
note "PostgreSQL on 127.0.0.1:$PG_PORT (as $PG_USER)"
# mktemp makes the work directory private to root; PostgreSQL's user must be able to enter it.
chmod 0755 "$BENCH_DIR"
install -d -m 0700 -o "$PG_USER" "$BENCH_DIR/pg"
as_pg "$PG_BINDIR/initdb" -D "$BENCH_DIR/pg/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nmax_connections = 200\n" \
    "$PG_PORT" "$BENCH_DIR/pg" >>"$BENCH_DIR/pg/data/postgresql.conf"
as_pg "$PG_BINDIR/pg_ctl" -D "$BENCH_DIR/pg/data" -l "$BENCH_DIR/pg/log" -w -t 60 start >/dev/null
PG_STARTED=true
psql_admin() { "$PG_BINDIR/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
psql_admin -c "CREATE ROLE carillon LOGIN PASSWORD 'carillon'" -c "CREATE DATABASE carillon OWNER carillon"
export DATABASE_URL="postgres://carillon:carillon@127.0.0.1:$PG_PORT/carillon"
note "provisioning: carillon migrate, carillon seed-demo --users $USERS, Kamailio's schema"
"$CARILLON_BIN" migrate >/dev/null
"$CARILLON_BIN" seed-demo --users "$USERS" --seed 1 --credentials "$BENCH_DIR/credentials.csv" >/dev/null
if [ "$CONTACTS" -gt 0 ]; then
    # Lines c1..cN, password p<N>, one user and device each: the bench's own rows, not the demo's.
    psql_admin -d carillon -v contacts="$CONTACTS" -v domain="$DOMAIN" <<'SQL'
CREATE TEMP TABLE bench_n AS SELECT n FROM generate_series(1, :contacts) AS n;
WITH d AS (SELECT id FROM domains WHERE name = :'domain'),
     c AS (SELECT user_class_id AS id FROM users WHERE domain_id = (SELECT id FROM d) LIMIT 1)
INSERT INTO users (domain_id, name, user_class_id)
    SELECT (SELECT id FROM d), 'c' || n, (SELECT id FROM c) FROM bench_n;
INSERT INTO devices (domain_id, label)
    SELECT (SELECT id FROM domains WHERE name = :'domain'), 'c' || n FROM bench_n;
INSERT INTO lines (domain_id, user_id, device_id, username, ha1_md5, ha1_sha256)
    SELECT u.domain_id, u.id, v.id, u.name,
           md5(u.name || ':' || :'domain' || ':p' || substr(u.name, 2)),
           encode(sha256(convert_to(u.name || ':' || :'domain' || ':p' || substr(u.name, 2), 'UTF8')), 'hex')
    FROM users u JOIN devices v ON v.label = u.name AND v.domain_id = u.domain_id
    WHERE u.name ~ '^c[0-9]+$';
SQL
fi
psql_admin -d carillon -f "$HERE/kamailio-schema.sql"
KAMAILIO_DBURL="postgres://kamailio:kamailio@127.0.0.1:$PG_PORT/carillon"

# Injection files (SIPp -inf): the last user is the callee, registered at the UAS; the others register and call.
mkdir -p "$BENCH_DIR/sipp"
auth() { printf '[authentication username=%s password=%s]' "$1" "$2"; }
{
    echo SEQUENTIAL
    tail -n +2 "$BENCH_DIR/credentials.csv" | head -n $((USERS - 1)) | while IFS=, read -r user password _; do
        echo "$user;$(auth "$user" "$password");127.0.0.1:$SIPP_PORT"
    done
} >"$BENCH_DIR/sipp/users.csv"
if [ "$CONTACTS" -gt 0 ]; then
    {
        echo SEQUENTIAL
        seq 1 "$CONTACTS" | awk -v port="$SIPP_PORT" '{printf "c%d;[authentication username=c%d password=p%d];127.0.0.1:%s\n", $1, $1, $1, port}'
    } >"$BENCH_DIR/sipp/contacts.csv"
fi
CALLEE=$(tail -n 1 "$BENCH_DIR/credentials.csv" | cut -d, -f1)
CALLEE_PASSWORD=$(tail -n 1 "$BENCH_DIR/credentials.csv" | cut -d, -f2)
printf 'SEQUENTIAL\n%s;%s;127.0.0.1:%s\n' "$CALLEE" "$(auth "$CALLEE" "$CALLEE_PASSWORD")" "$UAS_PORT" \
    >"$BENCH_DIR/sipp/callee.csv"

# --- the servers ------------------------------------------------------------------------------------------------

cat >"$BENCH_DIR/carillon-proxy.toml" <<EOF
[node]
id = "bench"
[sip]
domain = "$DOMAIN"
listen = ["udp:127.0.0.1:$CARILLON_PORT"]
[database]
url = "$DATABASE_URL"
[auth]
nonce_secret_file = "$BENCH_DIR/nonce-secret"
# SIPp 3.6 answers only the first challenge, and only MD5; Kamailio is given MD5 alone too.
algorithms = ["MD5"]
[dns]
name_server = "127.0.0.1:9"
[log]
level = "warn"
EOF
if ! "$CARILLON_PROXY_BIN" --config "$BENCH_DIR/carillon-proxy.toml" --check-config >"$BENCH_DIR/check-config.log" 2>&1; then
    cat "$BENCH_DIR/check-config.log" >&2
    die "this carillon-proxy does not take the benchmark's configuration (it needs [auth] algorithms)"
fi

start_carillon() {
    note "carillon-proxy on udp:127.0.0.1:$CARILLON_PORT"
    "$CARILLON_PROXY_BIN" --config "$BENCH_DIR/carillon-proxy.toml" >>"$BENCH_DIR/carillon-proxy.log" 2>&1 &
    CARILLON_PID=$!
    PIDS+=("$CARILLON_PID")
}
start_kamailio() {
    note "Kamailio on udp:127.0.0.1:$KAMAILIO_PORT ($KAMAILIO_CHILDREN children, usrloc db_mode $KAMAILIO_DB_MODE)"
    mkdir -p "$BENCH_DIR/kamailio"
    kamailio -f "$HERE/kamailio.cfg" -DD -E -Y "$BENCH_DIR/kamailio" -P "$BENCH_DIR/kamailio/kamailio.pid" -m 256 -M 16 \
        -A "LISTEN=udp:127.0.0.1:$KAMAILIO_PORT" -A "DBURL=\"$KAMAILIO_DBURL\"" \
        -A "CTL_SOCK=\"unix:$BENCH_DIR/kamailio/ctl.sock\"" -A "CHILDREN=$KAMAILIO_CHILDREN" -A "DB_MODE=$KAMAILIO_DB_MODE" \
        >>"$BENCH_DIR/kamailio/kamailio.log" 2>&1 &
    KAMAILIO_PID=$!
    PIDS+=("$KAMAILIO_PID")
}
# Stops a server started above (TERM, then KILL after 10 s) and waits until its port is free.
stop_server() {
    local pid=$1 port=$2
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        [ -z "$(ss -Hlnu "sport = :$port")" ] && return 0
        sleep 0.1
    done
    die "port $port still taken after stopping PID $pid"
}
start_carillon
start_kamailio

note "SIPp UAS on udp:127.0.0.1:$UAS_PORT"
mkdir -p "$BENCH_DIR/sipp/uas"
(cd "$BENCH_DIR/sipp/uas" && exec sipp -sf "$HERE/sipp/uas.xml" -i 127.0.0.1 -p "$UAS_PORT" -nostdin \
    >"$BENCH_DIR/sipp/uas/sipp.log" 2>&1) &
UAS_PID=$!
PIDS+=("$UAS_PID")

wait_listening() {
    local port=$1 pid=$2 name=$3
    for _ in $(seq 1 100); do
        [ -n "$(ss -Hlnu "sport = :$port")" ] && return 0
        kill -0 "$pid" 2>/dev/null || die "$name exited at start (see $BENCH_DIR)"
        sleep 0.1
    done
    die "$name does not listen on $port"
}
wait_listening "$CARILLON_PORT" "$CARILLON_PID" carillon-proxy
wait_listening "$KAMAILIO_PORT" "$KAMAILIO_PID" kamailio
wait_listening "$UAS_PORT" "$UAS_PID" "the SIPp UAS"

# The PIDs of a server: carillon-proxy is one process, Kamailio its main process and its children.
server_pids() {
    case $1 in
        carillon) echo "$CARILLON_PID" ;;
        kamailio) echo "$KAMAILIO_PID" $(pgrep -P "$KAMAILIO_PID" || true) ;;
    esac
}
server_port() { case $1 in carillon) echo "$CARILLON_PORT" ;; kamailio) echo "$KAMAILIO_PORT" ;; esac; }
# CPU ticks (user + system) used so far by these PIDs.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
# Resident and proportional set sizes in MiB, summed over these PIDs (shared memory counts once in PSS).
memory_mib() {
    local rss=0 pss=0 pid kib
    for pid in "$@"; do
        [ -r "/proc/$pid/smaps_rollup" ] || continue
        kib=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup")
        rss=$((rss + kib))
        kib=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
        pss=$((pss + kib))
    done
    echo "$((rss / 1024)) $((pss / 1024))"
}

# --- one step ---------------------------------------------------------------------------------------------------

# run_step SERVER LOAD RATE: one SIPp run; appends a line to $BENCH_DIR/steps.tsv and returns 0 when it passed.
run_step() {
    local server=$1 load=$2 rate=$3
    local port dir calls scenario args=() pids c0 c1 s0 s1 start end sipp_pid
    port=$(server_port "$server")
    dir="$BENCH_DIR/sipp/$server-$load-$rate"
    mkdir -p "$dir"
    calls=$((rate * STEP_SECONDS))
    case $load in
        register)
            scenario="$HERE/sipp/register.xml"
            args=(-inf "$BENCH_DIR/sipp/users.csv" -auth_uri "$DOMAIN")
            ;;
        contacts)
            scenario="$HERE/sipp/register.xml"
            args=(-inf "$BENCH_DIR/sipp/contacts.csv" -auth_uri "$DOMAIN")
            calls=$CONTACTS
            ;;
        call)
            scenario="$HERE/sipp/call.xml"
            args=(-inf "$BENCH_DIR/sipp/users.csv" -s "$CALLEE" -auth_uri "$CALLEE@127.0.0.1:$port" -d "$CALL_HOLD_MS")
            ;;
    esac
    # shellcheck disable=SC2207
    pids=($(server_pids "$server"))
    c0=$(cpu_ticks "${pids[@]}")
    start=$(date +%s.%N)
    (cd "$dir" && exec sipp -sf "$scenario" "${args[@]}" -key domain "$DOMAIN" -i 127.0.0.1 -p "$SIPP_PORT" \
        -r "$((rate / 100))" -rp 10 -m "$calls" -l $((rate * (CALL_HOLD_MS / 1000 + 8) + 100)) -recv_timeout 5000 \
        -timeout $((calls / rate * 3 + CALL_HOLD_MS / 1000 + 30))s -trace_stat -stf stat.csv -fd 1 \
        -trace_logs -nostdin "127.0.0.1:$port" >sipp.log 2>&1) &
    sipp_pid=$!
    # SIPp's own CPU, sampled while it runs (its /proc entry is gone once it has finished).
    s1=0
    while kill -0 "$sipp_pid" 2>/dev/null; do
        s0=$(cpu_ticks "$sipp_pid")
        [ "$s0" -lt "$s1" ] || s1=$s0
        sleep 0.2
    done
    wait "$sipp_pid" || true
    end=$(date +%s.%N)
    c1=$(cpu_ticks "${pids[@]}")
    local succeeded failed wall memory p50 p99
    succeeded=$(stat_column "$dir/stat.csv" 'SuccessfulCall(C)')
    failed=$(stat_column "$dir/stat.csv" 'FailedCall(C)')
    wall=$(echo "$end - $start" | bc -l)
    memory=$(memory_mib "${pids[@]}")
    read -r p50 p99 < <(percentiles "$dir")
    local hold_s=0 verdict=fail
    [ "$load" = call ] && hold_s=$(echo "$CALL_HOLD_MS / 1000" | bc -l)
    local offered_window achieved cpu_pct cpu_ms sipp_pct
    offered_window=$(echo "$wall - $hold_s" | bc -l)
    achieved=$(echo "$succeeded / $offered_window" | bc -l)
    cpu_pct=$(echo "($c1 - $c0) * 100 / $CLK_TCK / $wall" | bc -l)
    cpu_ms=$(echo "if ($succeeded > 0) ($c1 - $c0) * 1000 / $CLK_TCK / $succeeded else 0" | bc -l)
    sipp_pct=$(echo "$s1 * 100 / $CLK_TCK / $wall" | bc -l)
    if [ "$((succeeded + failed))" -eq "$calls" ] && [ "$((failed * 100))" -lt "$calls" ] &&
        [ "$(echo "$achieved >= $rate * 0.95" | bc -l)" = 1 ]; then
        verdict=pass
    fi
    printf '%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%.0f\t%.2f\t%s\t%s\t%.0f\t%.1f\t%s\n' "$server" "$load" "$rate" \
        "$achieved" "$succeeded" "$failed" "$p50" "$p99" "$cpu_pct" "$cpu_ms" ${memory} "$sipp_pct" "$wall" "$verdict" \
        >>"$BENCH_DIR/steps.tsv"
    [ "$verdict" = pass ]
}

# Column $2 of a tab-separated line $1.
field() { [ -n "$1" ] && echo "$1" | cut -f"$2"; }

# The last value of a column of SIPp's -trace_stat file.
stat_column() {
    awk -F';' -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i; next} {v = $c} END {print v + 0}' "$1"
}

# p50 and p99 of the response times (ms, to the microsecond) logged by the scenario ("response-time S US S US").
percentiles() {
    cat "$1"/*_logs.log 2>/dev/null | awk '$1 == "response-time" {printf "%.3f\n", ($4 - $2) * 1000 + ($5 - $3) / 1000}' |
        sort -n | awk '{v[NR] = $1} END {if (NR == 0) {print "- -"; exit} i = int(NR * 0.5); if (i < 1) i = 1; j = int(NR * 0.99); if (j < 1) j = 1; print v[i], v[j]}'
}

# --- the run ----------------------------------------------------------------------------------------------------

for server in carillon kamailio; do
    dir="$BENCH_DIR/sipp/$server-callee"
    mkdir -p "$dir"
    port=$(server_port "$server")
    (cd "$dir" && sipp -sf "$HERE/sipp/register.xml" -inf "$BENCH_DIR/sipp/callee.csv" -auth_uri "$DOMAIN" \
        -key domain "$DOMAIN" -i 127.0.0.1 -p "$SIPP_PORT" -m 1 -timeout 20s -nostdin "127.0.0.1:$port" \
        >sipp.log 2>&1) || die "the callee $CALLEE could not register with $server (see $dir/sipp.log)"
done

printf 'server\tload\toffered\tachieved\tok\tfailed\tp50_ms\tp99_ms\tcpu_pct\tcpu_ms_per_op\trss_mib\tpss_mib\tsipp_cpu_pct\tseconds\tverdict\n' \
    >"$BENCH_DIR/steps.tsv"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for load in register call; do
    case $load in register) rates=$REGISTER_RATES ;; call) rates=$CALL_RATES ;; esac
    declare -A running=([carillon]=1 [kamailio]=1) used=([carillon]=0 [kamailio]=0)
    for rate in $rates; do
        for server in carillon kamailio; do
            [ "${running[$server]}" = 1 ] || continue
            note "$load: $server at $rate/s for $STEP_SECONDS s"
            t0=$(date +%s)
            if ! run_step "$server" "$load" "$rate"; then
                running[$server]=0
            fi
            used[$server]=$((used[$server] + $(date +%s) - t0))
            [ "${used[$server]}" -lt "$PHASE_SECONDS" ] || running[$server]=0
        done
        [ "${running[carillon]}" = 1 ] || [ "${running[kamailio]}" = 1 ] || break
    done
    unset running used
done

# The contacts phase: each server registers every contact once, then settles; memory after both.
if [ "$CONTACTS" -gt 0 ]; then
    printf 'server\tcontacts\tregistered\tfailed\trss_start_mib\tpss_start_mib\trss_mib\tpss_mib\trss_settled_mib\tpss_settled_mib\tcontacts_in_db\n' \
        >"$BENCH_DIR/contacts.tsv"
    # Fresh processes, so that what the loads above left (a heap grown for their transactions) is not counted;
    # carillon-proxy comes back warm from the database, Kamailio reloads usrloc's table.
    stop_server "$CARILLON_PID" "$CARILLON_PORT"
    stop_server "$KAMAILIO_PID" "$KAMAILIO_PORT"
    start_carillon
    start_kamailio
    wait_listening "$CARILLON_PORT" "$CARILLON_PID" carillon-proxy
    wait_listening "$KAMAILIO_PORT" "$KAMAILIO_PID" kamailio
    sleep 2
    fresh_carillon=$(memory_mib "$(server_pids carillon)")
    # shellcheck disable=SC2046
    fresh_kamailio=$(memory_mib $(server_pids kamailio))
    for server in carillon kamailio; do
        note "contacts: $CONTACTS registrations with $server at $CONTACT_RATE/s"
        run_step "$server" contacts "$CONTACT_RATE" || true
        last=$(tail -n 1 "$BENCH_DIR/steps.tsv")
        # shellcheck disable=SC2207
        pids=($(server_pids "$server"))
        sleep "$CONTACT_SETTLE"
        settled=$(memory_mib "${pids[@]}")
        case $server in
            carillon) in_db=$(psql_admin -d carillon -Atc "SELECT count(*) FROM registrations WHERE aor ~ '^sip:c[0-9]+@'") ;;
            kamailio) in_db=$(psql_admin -d carillon -Atc "SELECT count(*) FROM kamailio.location WHERE username ~ '^c[0-9]+$'") ;;
        esac
        case $server in carillon) fresh=$fresh_carillon ;; kamailio) fresh=$fresh_kamailio ;; esac
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$CONTACTS" "$(field "$last" 5)" \
            "$(field "$last" 6)" ${fresh} "$(field "$last" 11)" "$(field "$last" 12)" ${settled} "$in_db" \
            >>"$BENCH_DIR/contacts.tsv"
    done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -----------------------------------------------------------------------------------------------------

say "carillon-proxy against Kamailio, $(date -u '+%Y-%m-%d %H:%M UTC')"
say "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), Debian $(cat /etc/debian_version)"
say "load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
say "carillon-proxy: $CARILLON_PROXY_BIN ($BUILT_FROM); $(kamailio -v | head -n 1 | sed 's/^version: //'); $(sipp -v 2>&1 | awk 'NF {print $1, $2; exit}'); PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}')"
say "users: $((USERS - 1)) registering and calling, callee $CALLEE at a SIPp UAS; steps of $STEP_SECONDS s, at most $PHASE_SECONDS s per load and server; call duration $CALL_HOLD_MS ms; Kamailio: $KAMAILIO_CHILDREN children, usrloc db_mode $KAMAILIO_DB_MODE"
say ""
say "steps (cpu_pct: per cent of one CPU; cpu_ms_per_op: server CPU per successful call; memory after the step):"
column -t -s $'\t' "$BENCH_DIR/steps.tsv" | tee -a "$RESULTS"
say ""

# best passing step of a server and load: its line of steps.tsv, or nothing
best() { awk -F'\t' -v s="$1" -v l="$2" '$1 == s && $2 == l && $15 == "pass" {line = $0} END {print line}' "$BENCH_DIR/steps.tsv"; }
# whether the server also failed a step of that load (its limit was found) or its ladder ran out first
limit_found() { awk -F'\t' -v s="$1" -v l="$2" '$1 == s && $2 == l && $15 == "fail" {f = 1} END {print f ? "" : " (no failed step: at least this)"}' "$BENCH_DIR/steps.tsv"; }
ratio() { if [ -n "$1" ] && [ -n "$2" ] && [ "$(echo "$2 > 0" | bc -l)" = 1 ]; then printf '%.2f' "$(echo "$1 / $2" | bc -l)"; else printf -- '-'; fi; }
say "summary: each server's best passing step (< 1 % failures, >= 95 % of the offered rate), and carillon / Kamailio"
describe() {
    if [ -z "$1" ]; then
        echo "no passing step"
        return
    fi
    echo "$(field "$1" 4) $3 (offered $(field "$1" 3)), p50 $(field "$1" 7) ms, p99 $(field "$1" 8) ms, CPU $(field "$1" 9) % ($(field "$1" 10) ms per op), RSS $(field "$1" 11) MiB, PSS $(field "$1" 12) MiB$(limit_found "$2" "$4")"
}
for load in register call; do
    c=$(best carillon "$load")
    k=$(best kamailio "$load")
    unit=$([ "$load" = register ] && echo "registrations/s" || echo "calls/s")
    say "  $load:"
    say "    carillon-proxy: $(describe "$c" carillon "$unit" "$load")"
    say "    Kamailio:       $(describe "$k" kamailio "$unit" "$load")"
    say "    ratios: throughput $(ratio "$(field "$c" 4)" "$(field "$k" 4)"), p99 $(ratio "$(field "$c" 8)" "$(field "$k" 8)"), CPU per op $(ratio "$(field "$c" 10)" "$(field "$k" 10)"), PSS $(ratio "$(field "$c" 12)" "$(field "$k" 12)")"
    # the same offered rate, the highest both passed
    both=$(awk -F'\t' -v l="$load" '$2 == l && $15 == "pass" {n[$3]++} END {m = 0; for (r in n) if (n[r] == 2 && r + 0 > m) m = r + 0; print m}' "$BENCH_DIR/steps.tsv")
    if [ "$both" -gt 0 ]; then
        c=$(awk -F'\t' -v l="$load" -v r="$both" '$1 == "carillon" && $2 == l && $3 == r' "$BENCH_DIR/steps.tsv")
        k=$(awk -F'\t' -v l="$load" -v r="$both" '$1 == "kamailio" && $2 == l && $3 == r' "$BENCH_DIR/steps.tsv")
        say "    at $both/s, the highest rate both passed: p99 $(field "$c" 8) / $(field "$k" 8) ms ($(ratio "$(field "$c" 8)" "$(field "$k" 8)")), CPU per op $(field "$c" 10) / $(field "$k" 10) ms ($(ratio "$(field "$c" 10)" "$(field "$k" 10)")), PSS $(field "$c" 12) / $(field "$k" 12) MiB ($(ratio "$(field "$c" 12)" "$(field "$k" 12)"))"
    fi
done
if [ -f "$BENCH_DIR/contacts.tsv" ]; then
    say ""
    say "contacts: both servers restarted, then $CONTACTS lines registered once each at $CONTACT_RATE/s; memory at the start, when done and $CONTACT_SETTLE s later (MiB)"
    column -t -s $'\t' "$BENCH_DIR/contacts.tsv" | tee -a "$RESULTS"
    c=$(awk -F'\t' '$1 == "carillon"' "$BENCH_DIR/contacts.tsv")
    k=$(awk -F'\t' '$1 == "kamailio"' "$BENCH_DIR/contacts.tsv")
    say "    ratios carillon / Kamailio, settled: RSS $(ratio "$(field "$c" 9)" "$(field "$k" 9)"), PSS $(ratio "$(field "$c" 10)" "$(field "$k" 10)")"
fi
say ""
say "logs, SIPp statistics and response times: $BENCH_DIR"
