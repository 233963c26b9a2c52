#!/usr/bin/env bash
# A whole cashier deployment on this machine: PostgreSQL clusters, cashierd instances, haproxy front doors.
#
#   scripts/deploy-local.sh start DIR            PostgreSQL for base + one per group, instances, two TLS front doors
#   scripts/deploy-local.sh stop DIR             stop everything started in DIR (data is kept)
#   scripts/deploy-local.sh status DIR           what runs, from the pids recorded in DIR
#   scripts/deploy-local.sh pg-stop DIR TAG [MODE]   stop group TAG's cluster (MODE immediate = a crash; default fast)
#   scripts/deploy-local.sh pg-start DIR TAG     start it again
#   scripts/deploy-local.sh instance-kill DIR N  SIGKILL instance N;   instance-start DIR N   start it again
#   scripts/deploy-local.sh door-kill DIR N      SIGKILL front door N; door-start DIR N       start it again
#   scripts/deploy-local.sh group-add DIR TAG    scale out: a new cluster for group TAG; group-retire DIR TAG  scale in
#
# Settings (environment): DEPLOY_GROUPS (3), DEPLOY_INSTANCES (2), CASHIER_PRODUCTS (where cashierd and cashier-drill are;
# default: the package's debug build). Everything listens on loopback, on free ports chosen at start; DIR/deploy.env
# records them (shell syntax) for scripts/drill.sh and cashier-drill. Needs postgresql and haproxy (installed
# with apt-get when missing and we are root).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# libpq prints a NOTICE for every "CREATE ... IF NOT EXISTS" that finds the table; keep the logs readable.
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
root=$(dirname "$here")

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

die() { echo "deploy-local: $*" >&2; exit 1; }

products() {
    if [ -n "${CASHIER_PRODUCTS:-}" ]; then echo "$CASHIER_PRODUCTS"; else echo "$root/.build/debug"; fi
}

# A TCP port nobody uses (nor was handed out by this run), from 20000–32767: below the kernel's ephemeral
# range (32768–60999 by default), so an outgoing connection cannot take it between this pick and the bind.
taken_ports=" "
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12768))
        case "$taken_ports" in *" $p "*) continue ;; esac
        if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
            taken_ports="$taken_ports$p "
            echo "$p"; return 0
        fi
    done
    die "no free port found"
}

ensure_haproxy() {
    command -v haproxy >/dev/null 2>&1 && return 0
    [ -x /usr/sbin/haproxy ] && return 0
    [ "$(id -u)" = 0 ] || die "haproxy is missing (apt-get install haproxy)"
    echo "deploy-local: installing haproxy" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null; }
}

haproxy_bin() { command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy; }

load_env() {
    [ -f "$1/deploy.env" ] || die "no deployment in $1 (run start first)"
    # shellcheck disable=SC1091
    . "$1/deploy.env"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits (bounded) until FILE has a line containing TEXT beyond its first SKIP lines.
wait_for_line() {
    local file=$1 text=$2 skip=$3 seconds=$4 pidfile=${5:-}
    for _ in $(seq 1 $((seconds * 10))); do
        if [ -f "$file" ] && tail -n +"$((skip + 1))" "$file" | grep -q "$text"; then return 0; fi
        if [ -n "$pidfile" ] && ! alive "$pidfile"; then return 1; fi
        sleep 0.1
    done
    return 1
}

instance_start() {
    local dir=$1 n=$2
    load_env "$dir"
    local port_var="INSTANCE_${n}_PORT" idir="$dir/instance-$n"
    local port=${!port_var}
    alive "$idir/pid" && { echo "instance $n already runs"; return 0; }
    local skip=0
    [ -f "$idir/serve.log" ] && skip=$(wc -l < "$idir/serve.log")
    "$PRODUCTS/cashierd" serve --data "$idir" --plain "127.0.0.1:$port" --quiet </dev/null >>"$idir/serve.log" 2>&1 &
    echo $! > "$idir/pid"
    wait_for_line "$idir/serve.log" "listening on" "$skip" 30 "$idir/pid" \
        || { tail -n 20 "$idir/serve.log" >&2; die "instance $n did not start"; }
    echo "instance $n: http://127.0.0.1:$port (pid $(cat "$idir/pid"))"
}

door_start() {
    local dir=$1 n=$2
    load_env "$dir"
    local cfg="$dir/door-$n/haproxy.cfg"
    alive "$dir/door-$n/pid" && { echo "front door $n already runs"; return 0; }
    rm -f "$dir/door-$n/pid"
    "$(haproxy_bin)" -q -D -f "$cfg" </dev/null >>"$dir/door-$n/haproxy.log" 2>&1 \
        || { cat "$dir/door-$n/haproxy.log" >&2; die "front door $n did not start"; }
    for _ in $(seq 1 50); do alive "$dir/door-$n/pid" && break; sleep 0.1; done
    alive "$dir/door-$n/pid" || die "front door $n wrote no pid"
    local url_var="DOOR_${n}_URL"
    echo "front door $n: ${!url_var} (pid $(cat "$dir/door-$n/pid"))"
}

kill_pidfile() {
    local file=$1 sig=$2
    if alive "$file"; then
        local pid; pid=$(cat "$file")
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

cmd_start() {
    local dir=$1
    local groups=${DEPLOY_GROUPS:-3} instances=${DEPLOY_INSTANCES:-2}
    local prod; prod=$(cd "$(products)" && pwd) || die "no products directory $(products)"
    [ -x "$prod/cashierd" ] && [ -x "$prod/cashier-drill" ] || die "build first: cashierd and cashier-drill not in $prod"
    "$here/pg-cluster.sh" bindir >/dev/null || die "PostgreSQL server binaries not found (apt-get install postgresql)"
    ensure_haproxy
    [ -f "$dir/deploy.env" ] && die "$dir already holds a deployment (stop it and remove DIR first)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # The postgres user runs the clusters and must reach their directories.
    chmod 755 "$dir"

    local env="$dir/deploy.env.partial"
    : > "$env"
    {
        echo "PRODUCTS='$prod'"
        echo "GROUP_COUNT=$groups"
        echo "INSTANCE_COUNT=$instances"
        echo "SHARED='$dir/shared'"
        echo "CA_FILE='$dir/shared/ca.pem'"
    } >> "$env"

    # PostgreSQL: base, then one cluster per order group.
    local base_port; base_port=$(free_port)
    local base_url; base_url=$("$here/pg-cluster.sh" start "$dir/pg/base" "$base_port")
    echo "BASE_URL='$base_url'" >> "$env"
    echo "postgres base: $base_url"
    local group_args=()
    for ((g = 0; g < groups; g++)); do
        local p; p=$(free_port)
        local url; url=$("$here/pg-cluster.sh" start "$dir/pg/group-$g" "$p")
        echo "GROUP_${g}_URL='$url'" >> "$env"
        group_args+=(--group "$g=$url")
        echo "postgres group $g: $url"
    done

    # The shared data directory: certificates for the two doors' addresses, then base and groups on PostgreSQL.
    local door1 door2; door1=$(free_port); door2=$(free_port)
    "$prod/cashierd" init --data "$dir/shared" --groups "$groups" \
        --listen "127.0.0.1:$door1" --listen "127.0.0.2:$door2" >/dev/null
    local seeded
    seeded=$("$prod/cashier-drill" configure --data "$dir/shared" --base "$base_url" "${group_args[@]}")
    echo "$seeded" >> "$env"
    # The order groups live in the base data from now on: every instance follows groups add/retire run
    # against any data directory of the deployment, within a second, with no file copied.
    "$prod/cashierd" groups share --data "$dir/shared" >/dev/null

    # Each instance: its own small data directory (its own instance id and request log) over the shared databases.
    for ((n = 1; n <= instances; n++)); do
        local ip; ip=$(free_port)
        echo "INSTANCE_${n}_PORT=$ip" >> "$env"
        "$prod/cashier-drill" instance-config --from "$dir/shared" --to "$dir/instance-$n" --instance "$n"
    done

    # The front doors: one haproxy each; TLS with the service certificate and key in one file.
    cat "$dir/shared/server.pem" "$dir/shared/server-key.pem" > "$dir/haproxy.pem"
    chmod 600 "$dir/haproxy.pem"
    local hosts=(127.0.0.1 127.0.0.2) ports=("$door1" "$door2")
    for n in 1 2; do
        mkdir -p "$dir/door-$n"
        local host=${hosts[$((n - 1))]} port=${ports[$((n - 1))]}
        sed -e "s|@PIDFILE@|$dir/door-$n/pid|" -e "s|@BIND@|$host:$port|" -e "s|@CERT@|$dir/haproxy.pem|" \
            "$root/deploy/haproxy.cfg.in" > "$dir/door-$n/haproxy.cfg"
        for ((i = 1; i <= instances; i++)); do
            local ivar="INSTANCE_${i}_PORT"
            echo "    server instance-$i 127.0.0.1:$(grep "^$ivar=" "$env" | cut -d= -f2) check" >> "$dir/door-$n/haproxy.cfg"
        done
        echo "DOOR_${n}_URL='https://$host:$port'" >> "$env"
    done
    mv "$env" "$dir/deploy.env"

    for ((n = 1; n <= instances; n++)); do instance_start "$dir" "$n"; done
    for n in 1 2; do door_start "$dir" "$n"; done
    echo "deployment running in $dir (terminals trust $dir/shared/ca.pem)"
}

cmd_stop() {
    local dir=$1
    load_env "$dir"
    for n in 1 2; do kill_pidfile "$dir/door-$n/pid" TERM; done
    for ((n = 1; n <= INSTANCE_COUNT; n++)); do kill_pidfile "$dir/instance-$n/pid" TERM; done
    "$here/pg-cluster.sh" stop "$dir/pg/base" fast 2>/dev/null || true
    # Every group cluster, those added by group-add included.
    for cluster in "$dir"/pg/group-*; do
        [ -d "$cluster" ] && { "$here/pg-cluster.sh" stop "$cluster" fast 2>/dev/null || true; }
    done
    echo "stopped the deployment in $dir"
}

# Scale out: a new PostgreSQL cluster for order group TAG, added with `cashierd groups add` (the groups are
# shared in the base data, so every instance takes it within a second).
cmd_group_add() {
    local dir=$1 tag=$2
    load_env "$dir"
    local p; p=$(free_port)
    local url; url=$("$here/pg-cluster.sh" start "$dir/pg/group-$tag" "$p")
    "$PRODUCTS/cashierd" groups add --data "$SHARED" --tag "$tag" --postgres "$url"
}

# Scale in: `cashierd groups retire` (its cluster keeps running, archived, until stop).
cmd_group_retire() {
    local dir=$1 tag=$2
    load_env "$dir"
    "$PRODUCTS/cashierd" groups retire --data "$SHARED" --tag "$tag"
}

cmd_status() {
    local dir=$1
    load_env "$dir"
    local s
    s=$("$here/pg-cluster.sh" status "$dir/pg/base" 2>/dev/null) && echo "postgres base: up ($s)" || echo "postgres base: down"
    for ((g = 0; g < GROUP_COUNT; g++)); do
        "$here/pg-cluster.sh" status "$dir/pg/group-$g" >/dev/null 2>&1 && echo "postgres group $g: up" || echo "postgres group $g: down"
    done
    for ((n = 1; n <= INSTANCE_COUNT; n++)); do
        alive "$dir/instance-$n/pid" && echo "instance $n: up" || echo "instance $n: down"
    done
    for n in 1 2; do alive "$dir/door-$n/pid" && echo "front door $n: up" || echo "front door $n: down"; done
}

[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2
case "$command" in
    start) cmd_start "$dir" ;;
    stop) cmd_stop "$dir" ;;
    status) cmd_status "$dir" ;;
    pg-stop) [ $# -ge 1 ] || usage; "$here/pg-cluster.sh" stop "$dir/pg/group-$1" "${2:-fast}" ;;
    pg-start) [ $# -ge 1 ] || usage; "$here/pg-cluster.sh" start "$dir/pg/group-$1" >/dev/null ;;
    instance-kill) [ $# -ge 1 ] || usage; kill_pidfile "$dir/instance-$1/pid" KILL ;;
    instance-start) [ $# -ge 1 ] || usage; instance_start "$dir" "$1" ;;
    door-kill) [ $# -ge 1 ] || usage; kill_pidfile "$dir/door-$1/pid" KILL ;;
    door-start) [ $# -ge 1 ] || usage; door_start "$dir" "$1" ;;
    group-add) [ $# -ge 1 ] || usage; cmd_group_add "$dir" "$1" ;;
    group-retire) [ $# -ge 1 ] || usage; cmd_group_retire "$dir" "$1" ;;
    *) usage ;;
esac
