#!/bin/sh
# The benchmark (separate from the tests): builds in release mode, runs every measurement on loopback
# and prints one table of goals (ratios measured in this run) and one of every figure, each with how it
# was measured. Results and what they mean: docs/PERFORMANCE.md.
#
#   scripts/bench.sh            full run (about 7-10 minutes on 2 cores after the build; every load run
#                               is bounded in count or seconds and stops by itself)
#   BENCH_SECONDS=3 scripts/bench.sh      shorter load runs
#   BENCH_BIG=100000 scripts/bench.sh     fewer stored orders for the large growth run (default 1,000,000)
#   BENCH_ONLY=e2e,fsync scripts/bench.sh only these steps of cashier-bench (storage, e2e, fsync, hopping,
#                                         growth, idle, postgres, wan, list, client; add "wrk" for the wrk rows)
#   BENCH_HALF_LOAD_RATE=300 scripts/bench.sh   the "half load" runs at this many sales/s instead of half
#                                         of each run's maximum (to compare builds at one load)
#
# Installs what it needs from Debian (apt-get) only if it is missing: wrk, nginx-light, strace, openssl,
# the PostgreSQL server and pgbench, sqlite3, time. Work files: $BENCH_WORK (default /tmp/cashier-bench),
# deleted at the start of each run; the build: $BENCH_BUILD (default /tmp/build-bench-release). Ports
# that must be fixed: BENCH_PGPORT (55439), BENCH_NGINX_HTTP (58080), BENCH_NGINX_HTTPS (58443).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/cashier-bench}
BUILD=${BENCH_BUILD:-/tmp/build-bench-release}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
BIG=${BENCH_BIG:-1000000}
ROWS=$WORK/rows.tsv
GOALS=$WORK/goals.tsv
export BENCH_LUA_DIR="$ROOT/bench"

log() { echo "bench: $*" >&2; }
# Whether step $1 runs: all do when BENCH_ONLY is unset.
wanted() { [ -z "${BENCH_ONLY:-}" ] || echo ",$BENCH_ONLY," | grep -q ",$1,"; }

# --- Tools -------------------------------------------------------------------------------------
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
command -v pgbench >/dev/null 2>&1 || missing="$missing postgresql-contrib"
"$ROOT/scripts/pg-cluster.sh" bindir >/dev/null 2>&1 || missing="$missing postgresql"
[ -x /usr/bin/strace ] || missing="$missing strace"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
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
: > "$GOALS"
row() { printf 'ROW\t%s\t%s\t%s\n' "$1" "$2" "$3" >> "$ROWS"; }
goal() { printf 'GOAL\t%s\t%s\t%s\n' "$1" "$2" "$3" >> "$GOALS"; }

# --- The machine ---------------------------------------------------------------------------------
# Other work on the machine (other engineers, CI) skews every figure: say what it is and how busy it was.
disk_of() { # the block device holding $1, its model and whether it spins
    source=$(df -P "$1" | awk 'NR == 2 { print $1 }')
    name=$(basename "$(readlink -f "$source" 2>/dev/null || echo "$source")")
    parent=$(lsblk -no PKNAME "/dev/$name" 2>/dev/null | head -n 1)
    dev=${parent:-$name}
    model=$(cat "/sys/block/$dev/device/model" 2>/dev/null | sed 's/ *$//' || true)
    rota=$(cat "/sys/block/$dev/queue/rotational" 2>/dev/null || echo "?")
    size=$(df -hP "$1" | awk 'NR == 2 { print $2 " file system, " $4 " free" }')
    echo "$source ($dev${model:+, $model}, $( [ "$rota" = 0 ] && echo "not rotational" || echo "rotational=$rota" )), $size, $(findmnt -no FSTYPE -T "$1" 2>/dev/null || echo "?")"
}
{
    echo "- cores: $(nproc) (\`nproc\`), $(lscpu | sed -n 's/^Model name: *//p' | head -n 1) (\`lscpu\`)"
    echo "- memory (\`free -h\`): $(free -h | awk '/^Mem:/ { print $2 " total, " $7 " available" }'), swap $(free -h | awk '/^Swap:/ { print $2 }')"
    echo "- disk under $WORK: $(disk_of "$WORK")"
    echo "- kernel $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- \`uptime\` before: $(uptime)"
} > "$WORK/machine.md"
row "machine load before" "$(cut -d ' ' -f 1-3 /proc/loadavg)" "/proc/loadavg (1, 5, 15 min) when the benchmark started"

# --- A throwaway PostgreSQL cluster for the PostgreSQL rows ---------------------------------------
PG_ARGS=""
PGDIR=$WORK/pg
PGPORT=${BENCH_PGPORT:-55439}
if wanted postgres && "$ROOT/scripts/pg-cluster.sh" bindir >/dev/null 2>&1; then
    if "$ROOT/scripts/pg-cluster.sh" start "$PGDIR" "$PGPORT" >/dev/null; then
        PG_ARGS="--pg-port $PGPORT --pg-dir $PGDIR"
    else
        log "could not start PostgreSQL; skipping the PostgreSQL rows"
    fi
fi

# --- Swift-measured figures ------------------------------------------------------------------------
ONLY=$(echo "${BENCH_ONLY:-}" | sed 's/,*wrk,*/,/; s/^,//; s/,$//')
if [ -z "${BENCH_ONLY:-}" ] || [ -n "$ONLY" ]; then
    log "cashier-bench run (storage, end to end, flushes, hopping, growth, idle connections, PostgreSQL, WAN, lists, client)"
    timeout 1500 "$BIN/cashier-bench" run --work "$WORK/swift" --cashierd "$BIN/cashierd" --cashier "$BIN/cashier" \
        --seconds "$SECONDS_PER_RUN" --big "$BIG" ${ONLY:+--only "$ONLY"} $PG_ARGS \
        ${BENCH_HALF_LOAD_RATE:+--half-load-rate "$BENCH_HALF_LOAD_RATE"} > "$WORK/swift-rows.txt" \
        || log "cashier-bench run failed (rows so far are kept)"
    grep '^ROW' "$WORK/swift-rows.txt" >> "$ROWS" || true
    grep '^GOAL' "$WORK/swift-rows.txt" >> "$GOALS" || true
fi
[ -z "$PG_ARGS" ] || "$ROOT/scripts/pg-cluster.sh" destroy "$PGDIR" >/dev/null 2>&1 || true

# --- Server alone with wrk: one-call sales, signed ping, /healthz, and nginx as the ceiling ------------
wrk_row() { # name how url script [threads connections] -> prints the rate
    threads=${5:-2} connections=${6:-32}
    out=$(timeout $((SECONDS_PER_RUN + 30)) wrk -t "$threads" -c "$connections" -d "${SECONDS_PER_RUN}s" --latency -s "$4" "$3" 2>&1 || true)
    line=$(echo "$out" | grep '^WRKRESULT' || true)
    if [ -z "$line" ]; then
        row "$1" "failed" "$(echo "$out" | tail -n 1)"
        echo 0
        return
    fi
    rps=$(echo "$line" | sed -n 's/.*rps=\([0-9]*\).*/\1/p')
    rest=$(echo "$line" | sed -n 's/.*p50=\([0-9.]*\) p99=\([0-9.]*\) p999=\([0-9.]*\) requests=\([0-9]*\) non2xx_or_errors=\([0-9]*\).*/p50 \1 \/ p99 \2 \/ p99.9 \3 ms, \4 requests, \5 non-2xx or errors/p')
    row "$1" "${rps}/s" "$2: wrk -t$threads -c$connections -d${SECONDS_PER_RUN}s, keep-alive; $rest"
    echo "$rps"
}

# What TLS cashierd's HTTPS listener speaks, and whether it lets a client resume a session (a cold
# client could then skip the full handshake): a TLS 1.3 ticket, or a TLS 1.2 session reused on reconnect.
tls_row() { # host:port
    proto=$(timeout 10 openssl s_client -connect "$1" -brief </dev/null 2>&1 | sed -n 's/^Protocol version: *//p' | head -n 1)
    rm -f "$WORK/tls-session.pem"
    (printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'; sleep 1) \
        | timeout 10 openssl s_client -connect "$1" -sess_out "$WORK/tls-session.pem" -quiet >/dev/null 2>&1 || true
    ticket=no
    [ -s "$WORK/tls-session.pem" ] && openssl sess_id -in "$WORK/tls-session.pem" -text -noout 2>/dev/null | grep -qi "ticket" && ticket=yes
    reused=$(sleep 1 | timeout 15 openssl s_client -connect "$1" -tls1_2 -reconnect 2>/dev/null | grep -c '^Reused' || true)
    row "TLS of cashierd's HTTPS listener" "${proto:-unknown}; session ticket: $ticket; TLS 1.2 sessions reused: ${reused:-0} of 5" \
        "openssl s_client: the protocol negotiated by default; whether a TLS 1.3 session ticket arrives (-sess_out after a request); -tls1_2 -reconnect (5 reconnects offering the first session)"
}

if wanted wrk; then
    log "wrk: cashierd one-call sales, signed ping and /healthz, nginx static"
    SVC=$WORK/wrk-svc
    "$BIN/cashierd" init --data "$SVC" --groups 4 --listen 127.0.0.1:0 --plain 127.0.0.1:0 --demo > "$WORK/wrk-init.txt"
    STORE=$(sed -n 's/^demo store \([^ ]*\).*/\1/p' "$WORK/wrk-init.txt")
    "$BIN/cashierd" serve --data "$SVC" > "$WORK/wrk-serve.txt" 2>&1 &
    SVC_PID=$!
    i=0
    while ! grep -q "listening on" "$WORK/wrk-serve.txt" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    HTTPS_URL=$(sed -n 's/.*listening on \(https:[^,]*\).*/\1/p' "$WORK/wrk-serve.txt" | head -n 1)
    HTTP_URL=$(sed -n 's/.*\(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/wrk-serve.txt" | head -n 1)
    # wrk signs in LuaJIT with HMAC-SHA256, so its terminal is activated with a shared secret.
    set -- $("$BIN/cashier-bench" activate --data "$SVC" --url "$HTTPS_URL" --cashierd "$BIN/cashierd" --store "$STORE")
    export CASHIER_DEVICE=$1 CASHIER_SECRET=$2
    tls_row "${HTTPS_URL#https://}"
    # Sales with a load generator that costs the machine little, so cashierd gets (nearly) both cores.
    wrk_row "server alone: signed one-call sales (POST /v1/sales), HTTPS, 8 connections" \
        "paid sales/s; 8 terminals, one connection each, HMAC-signed in LuaJIT (bench/signed-one-call-sale.lua), latency per request" \
        "$HTTPS_URL" "$ROOT/bench/signed-one-call-sale.lua" 8 8 >/dev/null
    SATURATED=$(wrk_row "server alone: signed one-call sales, HTTPS, saturated" \
        "the same with 32 connections on 8 threads" "$HTTPS_URL" "$ROOT/bench/signed-one-call-sale.lua" 8 32)
    wrk_row "server alone: signed two-call sales (create+pay), HTTPS, for comparison" \
        "sales/s; 8 terminals, one connection each (bench/signed-sale.lua), latency per request" \
        "$HTTPS_URL" "$ROOT/bench/signed-sale.lua" 8 8 >/dev/null
    wrk_row "server alone: signed GET /v1/ping, HTTPS" "cashierd, HMAC-signed in wrk's LuaJIT (bench/signed-ping.lua), fresh nonce per request" \
        "$HTTPS_URL/v1/ping" "$ROOT/bench/signed-ping.lua" >/dev/null
    wrk_row "server alone: signed GET /v1/ping, plain HTTP" "same, on cashierd's plain (load-balancer) listener" \
        "$HTTP_URL/v1/ping" "$ROOT/bench/signed-ping.lua" >/dev/null
    wrk_row "server alone: GET /healthz, HTTPS" "cashierd, unsigned" "$HTTPS_URL/healthz" "$ROOT/bench/static.lua" >/dev/null
    wrk_row "server alone: GET /healthz, plain HTTP" "cashierd, unsigned" "$HTTP_URL/healthz" "$ROOT/bench/static.lua" >/dev/null
    kill "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true

    # The saturated wrk sales against the SQLite limit of this run (the higher of its two measurements).
    LIMIT=$(awk -F '\t' '$2 ~ /^storage limit: SQLite single-row insert tx\/s/ { v = $3 + 0; if (v > m) m = v } END { print m + 0 }' "$ROWS")
    if [ "${LIMIT:-0}" -gt 0 ] && [ "${SATURATED:-0}" -gt 0 ]; then
        pct=$(awk -v s="$SATURATED" -v l="$LIMIT" 'BEGIN { printf "%.0f", s / l * 100 }')
        verdict="not met"; [ "$SATURATED" -ge "$LIMIT" ] && verdict="met"
        goal "saturated sales/s ≥ 100 % of the single-insert limit, load from wrk (SQLite groups)" \
            "$SATURATED/s against $LIMIT tx/s = $pct % (wrk in LuaJIT, HMAC, 32 connections: a load generator that leaves cashierd most of the 2 cores)" "$verdict"
    fi

    mkdir -p "$WORK/nginx-tmp"
    sed -e "s|@WORK@|$WORK|g" -e "s|@HTTP_PORT@|${BENCH_NGINX_HTTP:-58080}|g" -e "s|@HTTPS_PORT@|${BENCH_NGINX_HTTPS:-58443}|g" \
        -e "s|@CERT@|$SVC/server.pem|g" -e "s|@KEY@|$SVC/server-key.pem|g" "$ROOT/bench/nginx.conf.template" > "$WORK/nginx.conf"
    "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
    NGINX_PID=$!
    sleep 1
    wrk_row "HTTP ceiling: nginx static, HTTPS" "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), fixed 16-byte JSON, same certificate as cashierd" \
        "https://127.0.0.1:${BENCH_NGINX_HTTPS:-58443}/" "$ROOT/bench/static.lua" >/dev/null
    wrk_row "HTTP ceiling: nginx static, plain HTTP" "nginx, fixed 16-byte JSON" "http://127.0.0.1:${BENCH_NGINX_HTTP:-58080}/" "$ROOT/bench/static.lua" >/dev/null
    # The signing script against nginx (which ignores the headers): how fast wrk itself can sign, so the
    # signed-ping figure above is known not to be limited by the load generator.
    wrk_row "load generator ceiling: wrk signing in Lua, against nginx HTTPS" "bench/signed-ping.lua against nginx (headers ignored)" \
        "https://127.0.0.1:${BENCH_NGINX_HTTPS:-58443}/v1/ping" "$ROOT/bench/signed-ping.lua" >/dev/null
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
fi

row "machine load after" "$(cut -d ' ' -f 1-3 /proc/loadavg)" "/proc/loadavg when the benchmark ended"
echo "- \`uptime\` after: $(uptime)" >> "$WORK/machine.md"

# --- Tables --------------------------------------------------------------------------------------
{
    echo "### Machine"
    echo
    cat "$WORK/machine.md"
    echo
    echo "### Goals (ratios measured in this run)"
    echo
    echo "| goal | measured | verdict |"
    echo "|---|---|---|"
    awk -F '\t' '{ printf "| %s | %s | **%s** |\n", $2, $3, $4 }' "$GOALS"
    echo
    echo "### Every figure"
    echo
    echo "| figure | value | how measured |"
    echo "|---|---|---|"
    awk -F '\t' '{ printf "| %s | %s | %s |\n", $2, $3, $4 }' "$ROWS"
} | tee "$WORK/results.md"
