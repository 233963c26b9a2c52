#!/bin/bash
# Starts and stops throwaway replicated PostgreSQL clusters (Patroni + etcd) for tests, drills and local runs.
#
#   scripts/ha-cluster.sh start DIR --name N --base-port P [--members 2] [--etcd URL | --etcd-host A [--etcd-netns X]]
#                                       [--hosts A,B] [--netns X,Y]
#                                       create (first time) and start: one etcd (unless --etcd names a shared one) and
#                                       a Patroni cluster N of a primary and MEMBERS-1 standbys; waits (bounded) until the
#                                       primary takes writes and, with 2 members or more, a synchronous standby is in
#                                       place; prints the libpq multi-host connection string
#   scripts/ha-cluster.sh conninfo DIR          print that connection string again
#   scripts/ha-cluster.sh primary DIR           print the current leader's member name (Patroni's REST API); exit 3 if none
#   scripts/ha-cluster.sh wait-primary DIR [S]  wait at most S seconds (30) until a leader accepts writes; print its name
#   scripts/ha-cluster.sh wait-sync DIR [S]     wait at most S seconds (60) until a synchronous standby streams from it
#   scripts/ha-cluster.sh kill-primary DIR      SIGKILL the leader's patroni and its postgres (a crashed host); print its name
#   scripts/ha-cluster.sh restart-member DIR NAME   stop member NAME if it runs, then start it (it rejoins as a standby)
#   scripts/ha-cluster.sh members DIR           one line per member: name, PostgreSQL port, REST API port, address
#   scripts/ha-cluster.sh stop DIR              stop every member (patroni stops its postgres), then our etcd
#   scripts/ha-cluster.sh destroy DIR           kill everything started in DIR and delete DIR
#
# Ports, from P: etcd clients P, etcd peers P+1; member K (1, 2, ...) PostgreSQL P+2K, REST API P+2K+1 — on 127.0.0.1, or
# with --hosts on member K's address (the K-th of the list; our own etcd on --etcd-host, in --etcd-netns). --netns runs member K's Patroni
# and PostgreSQL in network namespace K of the list (made by the caller, e.g. scripts/deploy-local.sh, with the address
# of --hosts on one of its links), like a host of its own.
# Members are named N-1, N-2, ...; every member trusts local connections and those from 127.0.0.1 and from the /24 of each
# member's address (user "postgres"). Patroni and
# PostgreSQL run as the "postgres" user when this script runs as root (PostgreSQL refuses root), etcd as the caller.
# Replication is synchronous (Patroni's synchronous_mode, not strict: a primary left alone keeps taking writes), so a
# commit acknowledged while a standby is in sync is on two servers. Failover: ttl 10 s, loop_wait 2 s, retry_timeout 4 s
# (a SIGKILLed primary is replaced in about 10 s). failsafe_mode: a primary stays writable while etcd is unreachable.
set -eu

# shellcheck source=lib/daemons.sh
. "$(dirname "$0")/lib/daemons.sh"

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

die() { echo "ha-cluster: $*" >&2; exit 1; }

# The directory with the PostgreSQL server binaries: $PGBIN, else the newest /usr/lib/postgresql/*/bin.
find_bindir() {
    if [ -n "${PGBIN:-}" ] && [ -x "$PGBIN/postgres" ]; then echo "$PGBIN"; return 0; fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}

# Runs a command as the user that owns the clusters: "postgres" when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}



load_env() {
    [ -f "$1/cluster.env" ] || die "no cluster in $1 (run start first)"
    # shellcheck disable=SC1091
    . "$1/cluster.env"
    ETCD_HOST=${ETCD_HOST:-127.0.0.1}
}

pg_port() { echo $((BASE_PORT + 2 * $1)); }
rest_port() { echo $((BASE_PORT + 2 * $1 + 1)); }
# Member K's address and network namespace (none: the caller's).
member_host() { local h; h=$(echo "${HOSTS:-}" | cut -d, -f"$1"); echo "${h:-127.0.0.1}"; }
member_netns() { echo "${NETNS:-}" | cut -d, -f"$1"; }

conninfo() {
    local hosts="" ports="" k
    for k in $(seq 1 "$MEMBERS"); do
        hosts="$hosts${hosts:+,}$(member_host "$k")"
        ports="$ports${ports:+,}$(pg_port "$k")"
    done
    echo "host=$hosts port=$ports user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
}

# The member number K of member name N-K.
member_number() {
    case "$1" in
        "$NAME"-*) local k=${1#"$NAME"-} ;;
        *) die "no member $1 in cluster $NAME" ;;
    esac
    [ "$k" -ge 1 ] 2>/dev/null && [ "$k" -le "$MEMBERS" ] || die "no member $1 in cluster $NAME"
    echo "$k"
}

# pg_hba lines trusting the /24 of every member's address (the members' and their clients' network).
trusted_networks() {
    local k net
    for k in $(seq 1 "$MEMBERS"); do
        net=$(member_host "$k" | awk -F. '{ print $1 "." $2 "." $3 ".0/24" }')
        [ "$net" = 127.0.0.0/24 ] && continue
        echo "    - host all all $net trust"
        echo "    - host replication all $net trust"
    done | sort -u
}

write_member_config() {
    local dir=$1 k=$2 bindir=$3 mdir="$1/m$2"
    mkdir -p "$mdir"
    cat > "$mdir/patroni.yml" <<EOF
# Written by scripts/ha-cluster.sh: member $NAME-$k of a throwaway cluster on loopback.
scope: $NAME
namespace: /cashier/
name: $NAME-$k
log:
  level: INFO
restapi:
  listen: $(member_host "$k"):$(rest_port "$k")
  connect_address: $(member_host "$k"):$(rest_port "$k")
etcd3:
  url: $ETCD_URL
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    primary_start_timeout: 0
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: false
    synchronous_node_count: 1
    # Keep the primary writable while etcd cannot be reached, as long as it reaches every member itself;
    # without it an etcd outage demotes every primary (measured: read-only 6-9 s after etcd froze).
    failsafe_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 50
        max_wal_senders: 8
        max_replication_slots: 8
        wal_level: replica
        wal_log_hints: "on"
        hot_standby: "on"
        wal_keep_size: 64MB
  initdb:
    - encoding: UTF8
    - locale: C
postgresql:
  listen: $(member_host "$k"):$(pg_port "$k")
  connect_address: $(member_host "$k"):$(pg_port "$k")
  data_dir: $mdir/data
  bin_dir: $bindir
  pgpass: $mdir/pgpass
  remove_data_directory_on_rewind_failure: true
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
    rewind:
      username: postgres
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
$(trusted_networks)
  parameters:
    unix_socket_directories: $mdir
    shared_buffers: 16MB
    logging_collector: "off"
watchdog:
  mode: "off"
EOF
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$mdir"; fi
    chmod 700 "$mdir"
}

start_etcd() {
    local dir=$1
    [ "$OWN_ETCD" = 1 ] || return 0
    alive "$dir/etcd.pid" && return 0
    command -v etcd >/dev/null 2>&1 || die "etcd not found (install etcd-server)"
    rm -f "$dir/etcd.pid"
    # The shell writes its own pid and then becomes etcd, so the pid file names etcd itself.
    (
        close_inherited_fds
        exec </dev/null >>"$dir/etcd.log" 2>&1
        local ns=()
        if [ -n "${ETCD_NETNS:-}" ]; then ns=(ip netns exec "$ETCD_NETNS"); fi
        exec setsid "${ns[@]}" sh -c 'echo $$ > "$1/etcd.pid"; shift; exec etcd "$@"' sh "$dir" \
            --name "$NAME-etcd" --data-dir "$dir/etcd" \
            --listen-client-urls "http://$ETCD_HOST:$BASE_PORT" --advertise-client-urls "http://$ETCD_HOST:$BASE_PORT" \
            --listen-peer-urls "http://$ETCD_HOST:$((BASE_PORT + 1))" \
            --initial-advertise-peer-urls "http://$ETCD_HOST:$((BASE_PORT + 1))" \
            --initial-cluster "$NAME-etcd=http://$ETCD_HOST:$((BASE_PORT + 1))" --initial-cluster-state new
    ) &
    for _ in $(seq 1 100); do
        if curl -fsS -m 1 "http://$ETCD_HOST:$BASE_PORT/health" 2>/dev/null | grep -q '"true"'; then return 0; fi
        # The pid file appears once the starting shell has closed its inherited descriptors (slow when the
        # caller, a test runner, holds many): only a pid file whose process is gone means etcd died.
        if [ -f "$dir/etcd.pid" ] && ! alive "$dir/etcd.pid"; then break; fi
        sleep 0.1
    done
    tail -n 20 "$dir/etcd.log" >&2
    die "etcd did not become healthy on $ETCD_HOST:$BASE_PORT"
}

start_member() {
    local dir=$1 k=$2 mdir="$1/m$2"
    alive "$mdir/patroni.pid" && return 0
    rm -f "$mdir/patroni.pid"
    command -v patroni >/dev/null 2>&1 || die "patroni not found (install patroni)"
    # The shell writes its own pid and then becomes patroni, so the pid file names patroni itself (runuser forks).
    (
        close_inherited_fds
        exec </dev/null >>"$mdir/patroni.log" 2>&1
        launch='echo $$ > "$1/patroni.pid"; exec patroni "$1/patroni.yml"'
        local ns=() netns
        netns=$(member_netns "$k")
        if [ -n "$netns" ]; then ns=(ip netns exec "$netns"); fi
        if [ "$(id -u)" = 0 ]; then
            exec setsid "${ns[@]}" runuser -u postgres -- sh -c "$launch" sh "$mdir"
        else
            exec setsid "${ns[@]}" sh -c "$launch" sh "$mdir"
        fi
    ) &
    # As for etcd: the pid file waits for the starting shell to close its inherited descriptors.
    for _ in $(seq 1 300); do alive "$mdir/patroni.pid" && return 0; sleep 0.1; done
    tail -n 20 "$mdir/patroni.log" >&2
    die "patroni for $NAME-$k did not start"
}

# Every member's REST API answer to /cluster, from the first member that answers (empty if none does).
cluster_json() {
    local k
    for k in $(seq 1 "$MEMBERS"); do
        if curl -fsS -m 1 "http://$(member_host "$k"):$(rest_port "$k")/cluster" 2>/dev/null; then return 0; fi
    done
    return 0
}

# Prints "NAME HOST:PORT" of members with ROLE (leader, sync_standby, replica) in state running/streaming.
members_with_role() {
    cluster_json | python3 -c '
import json, sys
role = sys.argv[1]
try:
    data = json.load(sys.stdin)
except Exception:
    sys.exit(0)
for m in data.get("members", []):
    if m.get("role") == role and m.get("state") in ("running", "streaming"):
        print(m["name"], "%s:%s" % (m.get("host", "127.0.0.1"), m.get("port", "")))
' "$1"
}

# Whether the server at HOST:PORT commits a transaction that has a transaction id (so it waits for a synchronous standby).
accepts_writes() {
    local out
    out=$(timeout 6 "$BINDIR/psql" -X -q -At "host=${1%:*} port=${1##*:} user=postgres dbname=postgres connect_timeout=2" \
        -c "SET statement_timeout = 4000" -c "SELECT pg_is_in_recovery(), txid_current() > 0" 2>&1) || return 1
    [ "$out" = "f|t" ]
}

cmd_wait_primary() {
    local dir=$1 seconds=${2:-30}
    load_env "$dir"
    local deadline=$((SECONDS + seconds)) line
    while [ "$SECONDS" -lt "$deadline" ]; do
        line=$(members_with_role leader | head -n 1)
        if [ -n "$line" ] && accepts_writes "${line#* }"; then echo "${line% *}"; return 0; fi
        sleep 0.2
    done
    die "no primary accepting writes within ${seconds}s"
}

cmd_wait_sync() {
    local dir=$1 seconds=${2:-60}
    load_env "$dir"
    local deadline=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ -n "$(members_with_role sync_standby)" ]; then return 0; fi
        sleep 0.2
    done
    die "no synchronous standby within ${seconds}s"
}

cmd_start() {
    local dir="" name="" base="" members=2 etcd="" hosts="" netns="" etcd_host=127.0.0.1 etcd_netns=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --hosts) hosts=$2; shift 2 ;;
            --etcd-host) etcd_host=$2; shift 2 ;;
            --etcd-netns) etcd_netns=$2; shift 2 ;;
            --netns) netns=$2; shift 2 ;;
            --name) name=$2; shift 2 ;;
            --base-port) base=$2; shift 2 ;;
            --members) members=$2; shift 2 ;;
            --etcd) etcd=$2; shift 2 ;;
            -*) usage ;;
            *) [ -z "$dir" ] || usage; dir=$1; shift ;;
        esac
    done
    [ -n "$dir" ] || usage
    BINDIR=$(find_bindir) || die "PostgreSQL server binaries not found (install postgresql)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user"
        chmod 755 "$dir"
    fi
    if [ ! -f "$dir/cluster.env" ]; then
        [ -n "$name" ] && [ -n "$base" ] || die "a new cluster needs --name and --base-port"
        case "$name" in *[!a-z0-9_]*|"") die "--name: lower-case letters, digits and _ only" ;; esac
        [ "$members" -ge 1 ] 2>/dev/null && [ "$members" -le 9 ] || die "--members: 1 to 9"
        [ "$base" -ge 1024 ] 2>/dev/null && [ "$((base + 2 * members + 1))" -le 65535 ] || die "--base-port out of range"
        local own=1
        if [ -n "$etcd" ]; then own=0; else etcd="http://$etcd_host:$base"; fi
        cat > "$dir/cluster.env" <<EOF
NAME=$name
BASE_PORT=$base
MEMBERS=$members
ETCD_URL=$etcd
OWN_ETCD=$own
BINDIR=$BINDIR
HOSTS=$hosts
NETNS=$netns
ETCD_HOST=$etcd_host
ETCD_NETNS=$etcd_netns
EOF
        load_env "$dir"
        for k in $(seq 1 "$members"); do write_member_config "$dir" "$k" "$BINDIR"; done
    fi
    load_env "$dir"
    start_etcd "$dir"
    for k in $(seq 1 "$MEMBERS"); do start_member "$dir" "$k"; done
    cmd_wait_primary "$dir" 90 >/dev/null
    if [ "$MEMBERS" -ge 2 ]; then cmd_wait_sync "$dir" 90; fi
    conninfo
}

cmd_primary() {
    load_env "$1"
    local line
    line=$(members_with_role leader | head -n 1)
    [ -n "$line" ] || exit 3
    echo "${line% *}"
}

cmd_members() {
    load_env "$1"
    for k in $(seq 1 "$MEMBERS"); do echo "$NAME-$k $(pg_port "$k") $(rest_port "$k") $(member_host "$k")"; done
}

# SIGKILLs the postmaster of member K and every process it started (its backends, walsender, ...).
kill_postgres() {
    local mdir=$1 pm
    pm=$(head -n 1 "$mdir/data/postmaster.pid" 2>/dev/null) || return 0
    [ -n "$pm" ] && kill -0 "$pm" 2>/dev/null || return 0
    local children
    children=$(ps -o pid= --ppid "$pm" 2>/dev/null || true)
    kill -KILL "$pm" $children 2>/dev/null || true
}

cmd_kill_primary() {
    local dir=$1
    load_env "$dir"
    local leader k
    leader=$(cmd_primary "$dir") || die "no current primary"
    k=$(member_number "$leader")
    if alive "$dir/m$k/patroni.pid"; then kill -KILL "$(cat "$dir/m$k/patroni.pid")" 2>/dev/null || true; fi
    kill_postgres "$dir/m$k"
    rm -f "$dir/m$k/patroni.pid"
    echo "$leader"
}

stop_member() {
    local mdir=$1 pid
    if alive "$mdir/patroni.pid"; then
        pid=$(cat "$mdir/patroni.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$mdir/patroni.pid"
    # A postgres left behind by a killed patroni: stop it quickly (bounded), or kill it.
    if [ -f "$mdir/data/postmaster.pid" ] && as_owner "$BINDIR/pg_ctl" -D "$mdir/data" status >/dev/null 2>&1; then
        as_owner "$BINDIR/pg_ctl" -D "$mdir/data" -m fast -w -t 20 stop >/dev/null 2>&1 || kill_postgres "$mdir"
    fi
}

cmd_restart_member() {
    local dir=$1 name=$2
    load_env "$dir"
    local k
    k=$(member_number "$name")
    stop_member "$dir/m$k"
    start_member "$dir" "$k"
}

cmd_stop() {
    local dir=$1
    load_env "$dir"
    local k
    # Standbys first, so none of them takes over from a primary being stopped.
    for k in $(seq "$MEMBERS" -1 1); do stop_member "$dir/m$k"; done
    if [ "$OWN_ETCD" = 1 ] && alive "$dir/etcd.pid"; then
        local pid; pid=$(cat "$dir/etcd.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/etcd.pid"
}

cmd_destroy() {
    local dir=$1
    if [ -f "$dir/cluster.env" ]; then
        load_env "$dir"
        for k in $(seq 1 "$MEMBERS"); do
            alive "$dir/m$k/patroni.pid" && kill -KILL "$(cat "$dir/m$k/patroni.pid")" 2>/dev/null || true
            kill_postgres "$dir/m$k"
        done
        alive "$dir/etcd.pid" && kill -KILL "$(cat "$dir/etcd.pid")" 2>/dev/null || true
        sleep 0.2
    fi
    rm -rf "$dir"
}

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
    start) cmd_start "$@" ;;
    conninfo) [ $# -eq 1 ] || usage; load_env "$1"; conninfo ;;
    primary) [ $# -eq 1 ] || usage; cmd_primary "$1" ;;
    wait-primary) [ $# -ge 1 ] || usage; cmd_wait_primary "$@" ;;
    wait-sync) [ $# -ge 1 ] || usage; cmd_wait_sync "$@" ;;
    kill-primary) [ $# -eq 1 ] || usage; cmd_kill_primary "$1" ;;
    restart-member) [ $# -eq 2 ] || usage; cmd_restart_member "$1" "$2" ;;
    members) [ $# -eq 1 ] || usage; cmd_members "$1" ;;
    stop) [ $# -eq 1 ] || usage; cmd_stop "$1" ;;
    destroy) [ $# -eq 1 ] || usage; cmd_destroy "$1" ;;
    *) usage ;;
esac
