#!/bin/sh
# The benchmark (separate from the tests): builds in release mode, runs every measurement on loopback
# and prints one table, each figure with how it was measured. Results: docs/PERFORMANCE.md.
#
#   scripts/bench.sh            full run (about 4-6 minutes on 2 cores; every load run is bounded in seconds)
#   BENCH_SECONDS=3 scripts/bench.sh      shorter load runs
#   BENCH_BIG=100000 scripts/bench.sh     fewer stored orders for the large growth run (default 1,000,000)
#   BENCH_HALF_LOAD_RATE=300 scripts/bench.sh   the "half load" runs at this many sales/s instead of half
#                                         of each run's maximum (to compare builds at one load)
#
# Installs wrk and nginx from Debian (apt-get) only if they are missing. Work files: $BENCH_WORK
# (default /tmp/cashier-bench), deleted at the start of each run.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/cashier-bench}
BUILD=${BENCH_BUILD:-/tmp/build-bench-release}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
BIG=${BENCH_BIG:-1000000}
ROWS=$WORK/rows.tsv
export BENCH_LUA_DIR="$ROOT/bench"

log() { echo "bench: $*" >&2; }

# --- Tools -------------------------------------------------------------------------------------
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
command -v pgbench >/dev/null 2>&1 || missing="$missing postgresql-contrib"
[ -x /usr/bin/sqlite3 ] || missing="$missing sqlite3"
[ -x /usr/bin/time ] || missing="$missing time"
if [ -n "$missing" ]; then
    log "installing from Debian:$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y $missing >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y $missing >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- Build ---------------------------------------------------------------------------------------
log "building release binaries in $BUILD"
cd "$ROOT"
for product in cashierd cashier cashier-bench; do
    swift build -c release --scratch-path "$BUILD" --product "$product" >"$WORK.build.log" 2>&1 \
        || { tail -n 30 "$WORK.build.log" >&2; exit 1; }
done
BIN=$(swift build -c release --scratch-path "$BUILD" --show-bin-path)

rm -rf "$WORK"
mkdir -p "$WORK"
: > "$ROWS"
row() { printf 'ROW\t%s\t%s\t%s\n' "$1" "$2" "$3" >> "$ROWS"; }
# Other work on the machine skews every figure; record how busy it was.
row "machine load before" "$(cut -d ' ' -f 1-3 /proc/loadavg)" "/proc/loadavg (1, 5, 15 min) when the benchmark started"

# --- Swift-measured figures: storage, end to end, hopping, growth, lists, client ----------------
log "cashier-bench run (storage, end to end, fsync count, hopping, growth, order lists, client)"
timeout 540 "$BIN/cashier-bench" run --work "$WORK/swift" --cashierd "$BIN/cashierd" --cashier "$BIN/cashier" \
    --seconds "$SECONDS_PER_RUN" --big "$BIG" ${BENCH_ONLY:+--only "$BENCH_ONLY"} \
    ${BENCH_HALF_LOAD_RATE:+--half-load-rate "$BENCH_HALF_LOAD_RATE"} > "$WORK/swift-rows.txt" \
    || log "cashier-bench run failed (rows so far are kept)"
grep '^ROW' "$WORK/swift-rows.txt" >> "$ROWS" || true

# --- PostgreSQL storage limit with pgbench ------------------------------------------------------
if [ -z "${BENCH_ONLY:-}" ] && "$ROOT/scripts/pg-cluster.sh" bindir >/dev/null 2>&1 && command -v pgbench >/dev/null 2>&1; then
    log "pgbench on a throwaway cluster"
    PGDIR=$WORK/pg
    PGPORT=${BENCH_PGPORT:-55439}
    if "$ROOT/scripts/pg-cluster.sh" start "$PGDIR" "$PGPORT" >/dev/null; then
        cat > "$WORK/insert.sql" <<'SQL'
\set n random(1, 1000000000)
INSERT INTO bench_nonces (device_id, nonce, expires_at) VALUES ('bench-device', 'n' || :n || '-' || :client_id, 0);
SQL
        psql_cmd="psql -q -h 127.0.0.1 -p $PGPORT -U postgres -d postgres"
        $psql_cmd -c "CREATE TABLE bench_nonces (id bigserial PRIMARY KEY, device_id text NOT NULL, nonce text NOT NULL, expires_at bigint NOT NULL)" >/dev/null
        for clients in 1 8; do
            tps=$(timeout 60 pgbench -n -h 127.0.0.1 -p "$PGPORT" -U postgres -c "$clients" -j "$clients" -T "$SECONDS_PER_RUN" \
                -f "$WORK/insert.sql" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
            row "storage limit: PostgreSQL single-row insert tx/s ($clients client(s))" "${tps%.*}/s" \
                "pgbench -c $clients -T $SECONDS_PER_RUN, one INSERT per transaction, default durability (fsync=on, synchronous_commit=on)"
        done
        "$ROOT/scripts/pg-cluster.sh" destroy "$PGDIR" >/dev/null 2>&1 || true
    else
        log "could not start PostgreSQL; skipping pgbench"
    fi
fi

# --- Server alone with wrk: signed ping, /healthz, and nginx as the ceiling ---------------------
wrk_row() { # name how url script [threads connections]
    threads=${5:-2} connections=${6:-32}
    out=$(timeout $((SECONDS_PER_RUN + 30)) wrk -t "$threads" -c "$connections" -d "${SECONDS_PER_RUN}s" --latency -s "$4" "$3" 2>&1 || true)
    line=$(echo "$out" | grep '^WRKRESULT' || true)
    if [ -z "$line" ]; then
        row "$1" "failed" "$(echo "$out" | tail -n 1)"
        return
    fi
    rps=$(echo "$line" | sed -n 's/.*rps=\([0-9]*\).*/\1/p')
    rest=$(echo "$line" | sed -n 's/.*p50=\([0-9.]*\) p99=\([0-9.]*\) p999=\([0-9.]*\) requests=\([0-9]*\) non2xx_or_errors=\([0-9]*\).*/p50 \1 \/ p99 \2 \/ p99.9 \3 ms, \4 requests, \5 non-2xx or errors/p')
    row "$1" "${rps}/s" "$2: wrk -t$threads -c$connections -d${SECONDS_PER_RUN}s, keep-alive; $rest"
}

if [ -z "${BENCH_ONLY:-}" ] || echo "$BENCH_ONLY" | grep -q wrk; then
    log "wrk: cashierd signed ping and /healthz, nginx static"
    SVC=$WORK/wrk-svc
    "$BIN/cashierd" init --data "$SVC" --groups 4 --listen 127.0.0.1:0 --plain 127.0.0.1:0 --demo > "$WORK/wrk-init.txt"
    STORE=$(sed -n 's/^demo store \([^ ]*\).*/\1/p' "$WORK/wrk-init.txt")
    "$BIN/cashierd" serve --data "$SVC" > "$WORK/wrk-serve.txt" 2>&1 &
    SVC_PID=$!
    i=0
    while ! grep -q "listening on" "$WORK/wrk-serve.txt" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    HTTPS_URL=$(sed -n 's/.*listening on \(https:[^,]*\).*/\1/p' "$WORK/wrk-serve.txt" | head -n 1)
    HTTP_URL=$(sed -n 's/.*\(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/wrk-serve.txt" | head -n 1)
    set -- $("$BIN/cashier-bench" activate --data "$SVC" --url "$HTTPS_URL" --cashierd "$BIN/cashierd" --store "$STORE")
    export CASHIER_DEVICE=$1 CASHIER_SECRET=$2
    wrk_row "server alone: signed GET /v1/ping, HTTPS" "cashierd, HMAC-signed in wrk's LuaJIT (bench/signed-ping.lua), fresh nonce per request" \
        "$HTTPS_URL/v1/ping" "$ROOT/bench/signed-ping.lua"
    wrk_row "server alone: signed GET /v1/ping, plain HTTP" "same, on cashierd's plain (load-balancer) listener" \
        "$HTTP_URL/v1/ping" "$ROOT/bench/signed-ping.lua"
    # Sales with a load generator that costs the machine little, so cashierd gets (nearly) both cores.
    wrk_row "server alone: signed sales (create+pay), HTTPS" "sales/s; 8 terminals, one connection each, signed in LuaJIT (bench/signed-sale.lua), latency per request" \
        "$HTTPS_URL" "$ROOT/bench/signed-sale.lua" 8 8
    wrk_row "server alone: GET /healthz, HTTPS" "cashierd, unsigned" "$HTTPS_URL/healthz" "$ROOT/bench/static.lua"
    wrk_row "server alone: GET /healthz, plain HTTP" "cashierd, unsigned" "$HTTP_URL/healthz" "$ROOT/bench/static.lua"
    kill "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true

    mkdir -p "$WORK/nginx-tmp"
    sed -e "s|@WORK@|$WORK|g" -e "s|@HTTP_PORT@|${BENCH_NGINX_HTTP:-58080}|g" -e "s|@HTTPS_PORT@|${BENCH_NGINX_HTTPS:-58443}|g" \
        -e "s|@CERT@|$SVC/server.pem|g" -e "s|@KEY@|$SVC/server-key.pem|g" "$ROOT/bench/nginx.conf.template" > "$WORK/nginx.conf"
    "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
    NGINX_PID=$!
    sleep 1
    wrk_row "HTTP ceiling: nginx static, HTTPS" "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), fixed 16-byte JSON, same certificate as cashierd" \
        "https://127.0.0.1:${BENCH_NGINX_HTTPS:-58443}/" "$ROOT/bench/static.lua"
    wrk_row "HTTP ceiling: nginx static, plain HTTP" "nginx, fixed 16-byte JSON" "http://127.0.0.1:${BENCH_NGINX_HTTP:-58080}/" "$ROOT/bench/static.lua"
    # The signing script against nginx (which ignores the headers): how fast wrk itself can sign, so the
    # signed-ping figure above is known not to be limited by the load generator.
    wrk_row "load generator ceiling: wrk signing in Lua, against nginx HTTPS" "bench/signed-ping.lua against nginx (headers ignored)" \
        "https://127.0.0.1:${BENCH_NGINX_HTTPS:-58443}/v1/ping" "$ROOT/bench/signed-ping.lua"
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
fi

row "machine load after" "$(cut -d ' ' -f 1-3 /proc/loadavg)" "/proc/loadavg when the benchmark ended"

# --- Table ---------------------------------------------------------------------------------------
{
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "| figure | value | how measured |"
    echo "|---|---|---|"
    awk -F '\t' '{ printf "| %s | %s | %s |\n", $2, $3, $4 }' "$ROWS"
} | tee "$WORK/results.md"
