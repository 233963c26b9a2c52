#!/usr/bin/env bash
# A whole replicated cashier deployment on this machine, every part on a host of its own: a network namespace
# with its own address on one bridge. Base data and each order group are Patroni clusters (a primary and a
# synchronous standby, one etcd), two sites each with a haproxy front door and its cashierd instances, and a
# Prometheus scraping everything with the alert rules.
#
#   scripts/deploy-local.sh start DIR              build it all (bounded waits) and record it in DIR/deploy.env
#   scripts/deploy-local.sh stop DIR               stop everything started in DIR and remove its network (data is kept)
#   scripts/deploy-local.sh status DIR             what runs, and each cluster's primary
#   scripts/deploy-local.sh primary-kill DIR C     SIGKILL cluster C's primary (C: base or a group tag); prints the member
#   scripts/deploy-local.sh wait-primary DIR C [S] wait at most S seconds (60) until C has a primary taking writes
#   scripts/deploy-local.sh member-rejoin DIR C M  start member M of cluster C again (it rejoins as a standby)
#   scripts/deploy-local.sh wait-sync DIR C [S]    wait at most S seconds (60) until C has a synchronous standby again
#   scripts/deploy-local.sh group-cut DIR N TAG    cut instance N off group TAG's servers by the network (a blackhole
#                                                  route on its host); group-uncut DIR N TAG  joins them again
#   scripts/deploy-local.sh site-down DIR S        take site S off the network (link down: its front door and instances)
#   scripts/deploy-local.sh site-up DIR S          bring it back
#   scripts/deploy-local.sh instance-kill DIR N    SIGKILL instance N;   instance-start DIR N   start it again
#   scripts/deploy-local.sh door-kill DIR N        SIGKILL front door N; door-start DIR N       start it again
#   scripts/deploy-local.sh group-add DIR TAG      scale out: a new cluster for group TAG; group-retire DIR TAG  scale in
#
# Settings (environment): DEPLOY_GROUPS (3), DEPLOY_INSTANCES (2; odd ones at site 1, even ones at site 2),
# DEPLOY_ALERT_DIVISOR (20: the alert rules' durations divided by it, so alerts fire and clear within a drill's
# phases; 1 keeps deploy/prometheus/alerts.yml as it is), CASHIER_PRODUCTS (where cashierd and cashier-drill
# are; default: the package's debug build).
#
# Addresses: network 10.199.K.0/24 (K, 1–250, the first whose bridge cshbrK is free), the bridge 10.199.K.1 (this
# machine's own namespace: terminals, the drill, Prometheus on :9090), etcd .5, base members .10–.11, group T's
# members .(20+2T)–.(21+2T), instance N .(100+N) (plain HTTP :8080), front door S .(200+S) (TLS :8443).
# Members: PostgreSQL :5432/:5434 and Patroni's REST API :5433/:5435 (scripts/ha-cluster.sh). Needs root
# (network namespaces), PostgreSQL, Patroni, etcd, haproxy and Prometheus (installed with apt-get when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# libpq prints a NOTICE for every "CREATE ... IF NOT EXISTS" that finds the table; keep the logs readable.
export PGOPTIONS="${PGOPTIONS:--c client_min_messages=warning}"
root=$(dirname "$here")
# shellcheck source=lib/daemons.sh
. "$here/lib/daemons.sh"

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

die() { echo "deploy-local: $*" >&2; exit 1; }

products() {
    if [ -n "${CASHIER_PRODUCTS:-}" ]; then echo "$CASHIER_PRODUCTS"; else echo "$root/.build/debug"; fi
}

# Installs Debian package $2 when command $1 is missing (we must be root).
ensure_command() {
    command -v "$1" >/dev/null 2>&1 && return 0
    [ -x "/usr/sbin/$1" ] && return 0
    [ "$(id -u)" = 0 ] || die "$1 is missing (apt-get install $2)"
    echo "deploy-local: installing $2" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null; }
}

haproxy_bin() { command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy; }

load_env() {
    [ -f "$1/deploy.env" ] || die "no deployment in $1 (run start first)"
    # shellcheck disable=SC1091
    . "$1/deploy.env"
}

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

# Signal $2 to the process of pid file $1, then SIGKILL if it has not ended within 10 s.
kill_pidfile() { stop_pidfile "$1" "$2" 10; }

# --- the network: one bridge, one namespace per host ------------------------------------------------------

# The names of host H's namespace and of its link's end on the bridge (at most 15 characters).
host_netns() { echo "csh$NET-$1"; }
host_link() { echo "c$NET-$1"; }
address() { echo "10.199.$NET.$1"; }
instance_address() { address $((100 + $1)); }
door_address() { address $((200 + $1)); }
member_address() {   # cluster (base or tag), member 1 or 2
    if [ "$1" = base ]; then address $((9 + $2)); else address $((20 + 2 * $1 + $2 - 1)); fi
}
site_of_instance() { echo $(( ($1 - 1) % 2 + 1 )); }

# Claims the first free network number K (creating its bridge is the claim) and prints it.
claim_network() {
    local k
    for k in $(seq 1 250); do
        if ip link add "cshbr$k" type bridge 2>/dev/null; then
            ip addr add "10.199.$k.1/24" dev "cshbr$k"
            ip link set "cshbr$k" up
            echo "$k"; return 0
        fi
    done
    die "no free network 10.199.K.0/24 (bridges cshbr1–cshbr250 all exist)"
}

# A host: namespace H with address A on a veth whose other end is on the bridge.
add_host() {
    local name=$1 addr=$2 ns link
    ns=$(host_netns "$name"); link=$(host_link "$name")
    ip netns list | grep -q "^$ns\b" && return 0
    ip netns add "$ns"
    ip link add "$link" type veth peer name eth0 netns "$ns"
    ip link set "$link" master "cshbr$NET" up
    ip netns exec "$ns" ip addr add "$addr/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip link set lo up
    echo "$name $addr" >> "$DIR/hosts"
}

remove_network() {
    local dir=$1 name _
    if [ -f "$dir/hosts" ]; then
        while read -r name _; do
            ip netns del "$(host_netns "$name")" 2>/dev/null || true
            ip link del "$(host_link "$name")" 2>/dev/null || true
        done < "$dir/hosts"
        rm -f "$dir/hosts"
    fi
    ip link del "cshbr$NET" 2>/dev/null || true
}

# --- clusters ----------------------------------------------------------------------------------------------

cluster_dir() { if [ "$2" = base ]; then echo "$1/pg/base"; else echo "$1/pg/group-$2"; fi; }
cluster_name() { if [ "$1" = base ]; then echo base; else echo "group$1"; fi; }

# Starts cluster C (base or a tag) on two hosts of its own; prints its multi-host connection string.
start_cluster() {
    local c=$1 name; name=$(cluster_name "$c")
    local h1="$name-1" h2="$name-2"
    add_host "$h1" "$(member_address "$c" 1)"
    add_host "$h2" "$(member_address "$c" 2)"
    local etcd=(--etcd "http://$(address 5):5430")
    if [ "$c" = base ]; then
        add_host etcd "$(address 5)"
        etcd=(--etcd-host "$(address 5)" --etcd-netns "$(host_netns etcd)")
    fi
    "$here/ha-cluster.sh" start "$(cluster_dir "$DIR" "$c")" --name "$name" --base-port 5430 --members 2 \
        --hosts "$(member_address "$c" 1),$(member_address "$c" 2)" --netns "$(host_netns "$h1"),$(host_netns "$h2")" "${etcd[@]}"
}

patroni_targets() {
    local list="" c
    for c in base $(seq 0 $((GROUP_COUNT - 1))) ${ADDED_GROUPS:-}; do
        list="$list${list:+,}$(cluster_name "$c")=$(member_address "$c" 1):5433,$(cluster_name "$c")=$(member_address "$c" 2):5435"
    done
    echo "$list"
}

cashierd_targets() {
    local list="" n
    for ((n = 1; n <= INSTANCE_COUNT; n++)); do list="$list${list:+,}$(instance_address "$n"):8080"; done
    echo "$list"
}

# --- instances and front doors ------------------------------------------------------------------------------

instance_start() {
    local dir=$1 n=$2
    load_env "$dir"
    local idir="$dir/instance-$n"
    alive "$idir/pid" && { echo "instance $n already runs"; return 0; }
    local skip=0
    [ -f "$idir/serve.log" ] && skip=$(wc -l < "$idir/serve.log")
    ip netns exec "$(host_netns "instance$n")" "$PRODUCTS/cashierd" serve --data "$idir" --plain "$(instance_address "$n"):8080" \
        --quiet </dev/null >>"$idir/serve.log" 2>&1 &
    echo $! > "$idir/pid"
    wait_for_line "$idir/serve.log" "listening on" "$skip" 30 "$idir/pid" \
        || { tail -n 20 "$idir/serve.log" >&2; die "instance $n did not start"; }
    echo "instance $n (site $(site_of_instance "$n")): http://$(instance_address "$n"):8080 (pid $(cat "$idir/pid"))"
}

door_start() {
    local dir=$1 n=$2
    load_env "$dir"
    local cfg="$dir/door-$n/haproxy.cfg"
    alive "$dir/door-$n/pid" && { echo "front door $n already runs"; return 0; }
    rm -f "$dir/door-$n/pid"
    ip netns exec "$(host_netns "door$n")" "$(haproxy_bin)" -q -D -f "$cfg" </dev/null >>"$dir/door-$n/haproxy.log" 2>&1 \
        || { cat "$dir/door-$n/haproxy.log" >&2; die "front door $n did not start"; }
    for _ in $(seq 1 50); do alive "$dir/door-$n/pid" && break; sleep 0.1; done
    alive "$dir/door-$n/pid" || die "front door $n wrote no pid"
    local url_var="DOOR_${n}_URL"
    echo "front door $n (site $n): ${!url_var} (pid $(cat "$dir/door-$n/pid"))"
}

# Front door S balances over the instances of both sites (active-active): a site lost takes its front door and
# half the instances, and the other door masks those within its health checks.
write_door_config() {
    local dir=$1 s=$2 i
    mkdir -p "$dir/door-$s"
    sed -e "s|@PIDFILE@|$dir/door-$s/pid|" -e "s|@BIND@|$(door_address "$s"):8443|" -e "s|@CERT@|$dir/haproxy.pem|" \
        "$root/deploy/haproxy.cfg.in" > "$dir/door-$s/haproxy.cfg"
    for ((i = 1; i <= INSTANCE_COUNT; i++)); do
        echo "    server instance-$i $(instance_address "$i"):8080 check" >> "$dir/door-$s/haproxy.cfg"
    done
}

# --- commands ------------------------------------------------------------------------------------------------

cmd_start() {
    local dir=$1
    local groups=${DEPLOY_GROUPS:-3} instances=${DEPLOY_INSTANCES:-2} divisor=${DEPLOY_ALERT_DIVISOR:-20}
    [ "$groups" -ge 1 ] 2>/dev/null && [ "$groups" -le 30 ] || die "DEPLOY_GROUPS: 1 to 30"
    [ "$instances" -ge 2 ] 2>/dev/null && [ "$instances" -le 9 ] || die "DEPLOY_INSTANCES: 2 to 9 (two sites)"
    [ "$divisor" -ge 1 ] 2>/dev/null || die "DEPLOY_ALERT_DIVISOR: a whole number, 1 or more"
    [ "$(id -u)" = 0 ] || die "the deployment's hosts are network namespaces: run as root"
    local prod; prod=$(cd "$(products)" && pwd) || die "no products directory $(products)"
    [ -x "$prod/cashierd" ] && [ -x "$prod/cashier-drill" ] || die "build first: cashierd and cashier-drill not in $prod"
    "$here/pg-cluster.sh" bindir >/dev/null || die "PostgreSQL server binaries not found (apt-get install postgresql)"
    ensure_command haproxy haproxy
    ensure_command patroni patroni
    ensure_command etcd etcd-server
    ensure_command prometheus prometheus
    [ -f "$dir/deploy.env" ] && die "$dir already holds a deployment (stop it and remove DIR first)"
    mkdir -p "$dir"
    DIR=$(cd "$dir" && pwd)
    dir=$DIR
    # The postgres user runs the clusters and must reach their directories.
    chmod 755 "$dir"
    mkdir -p "$dir/pg"
    chmod 755 "$dir/pg"

    NET=$(claim_network)
    GROUP_COUNT=$groups INSTANCE_COUNT=$instances
    local env="$dir/deploy.env.partial"
    {
        echo "NET=$NET"
        echo "PRODUCTS='$prod'"
        echo "GROUP_COUNT=$groups"
        echo "INSTANCE_COUNT=$instances"
        echo "SHARED='$dir/shared'"
        echo "CA_FILE='$dir/shared/ca.pem'"
    } > "$env"
    # From here on a failure takes the network and whatever started down again.
    trap 'start_failed "$DIR"' EXIT

    # The base data's cluster first (its directory holds the deployment's etcd), then the groups' side by side.
    local base_url; base_url=$(start_cluster base) || die "the base data's cluster did not start"
    echo "BASE_URL='$base_url'" >> "$env"
    echo "base data: $base_url"
    local g pids=()
    for ((g = 0; g < groups; g++)); do
        add_host "group$g-1" "$(member_address "$g" 1)"
        add_host "group$g-2" "$(member_address "$g" 2)"
    done
    for ((g = 0; g < groups; g++)); do
        start_cluster "$g" > "$dir/pg/group-$g.conninfo" 2> "$dir/pg/group-$g.start.log" &
        pids+=($!)
    done
    local group_args=()
    for ((g = 0; g < groups; g++)); do
        wait "${pids[$g]}" || { cat "$dir/pg/group-$g.start.log" >&2; die "group $g's cluster did not start"; }
        local url; url=$(cat "$dir/pg/group-$g.conninfo")
        echo "GROUP_${g}_URL='$url'" >> "$env"
        group_args+=(--group "$g=$url")
        echo "group $g: $url"
    done

    # The shared data directory: certificates for the two doors' addresses, then base and groups on PostgreSQL.
    "$prod/cashierd" init --data "$dir/shared" --groups "$groups" \
        --listen "$(door_address 1):8443" --listen "$(door_address 2):8443" >/dev/null
    local seeded
    seeded=$("$prod/cashier-drill" configure --data "$dir/shared" --base "$base_url" "${group_args[@]}")
    echo "$seeded" >> "$env"
    # The order groups live in the base data from now on: every instance follows groups add/retire run
    # against any data directory of the deployment, within a second, with no file copied.
    "$prod/cashierd" groups share --data "$dir/shared" >/dev/null

    local n
    for ((n = 1; n <= instances; n++)); do
        add_host "instance$n" "$(instance_address "$n")"
        echo "INSTANCE_${n}_URL='http://$(instance_address "$n"):8080'" >> "$env"
        "$prod/cashier-drill" instance-config --from "$dir/shared" --to "$dir/instance-$n" --instance "$n"
    done
    cat "$dir/shared/server.pem" "$dir/shared/server-key.pem" > "$dir/haproxy.pem"
    chmod 600 "$dir/haproxy.pem"
    for n in 1 2; do
        add_host "door$n" "$(door_address "$n")"
        write_door_config "$dir" "$n"
        echo "DOOR_${n}_URL='https://$(door_address "$n"):8443'" >> "$env"
    done
    echo "PROMETHEUS_URL='http://$(address 1):9090'" >> "$env"
    mv "$env" "$dir/deploy.env"

    for ((n = 1; n <= instances; n++)); do instance_start "$dir" "$n"; done
    for n in 1 2; do door_start "$dir" "$n"; done

    # Prometheus on this machine's side of the bridge, with the rules' durations divided for drills.
    "$prod/cashier-drill" alert-rules --rules "$root/deploy/prometheus/alerts.yml" --divide "$divisor" --minimum 2 \
        > "$dir/alerts.yml"
    "$here/prometheus-local.sh" start "$dir/prometheus" --listen "$(address 1):9090" --rules "$dir/alerts.yml" \
        --cashierd "$(cashierd_targets)" --patroni "$(patroni_targets)" >/dev/null
    echo "prometheus: http://$(address 1):9090 (alert durations divided by $divisor)"
    trap - EXIT
    echo "deployment running in $dir (terminals trust $dir/shared/ca.pem)"
}

# A start that failed half-way: stop what it started, remove its network, and leave no deploy.env behind.
start_failed() {
    local dir=$1
    echo "deploy-local: start failed; stopping what it started" >&2
    [ -f "$dir/deploy.env" ] || cp "$dir/deploy.env.partial" "$dir/deploy.env" 2>/dev/null || true
    if [ -f "$dir/deploy.env" ]; then (cmd_stop "$dir" >/dev/null 2>&1) || true; fi
    remove_network "$dir" 2>/dev/null || true
    rm -f "$dir/deploy.env" "$dir/deploy.env.partial"
}

cmd_stop() {
    local dir=$1
    load_env "$dir"
    DIR=$dir
    "$here/prometheus-local.sh" stop "$dir/prometheus" 2>/dev/null || true
    for n in 1 2; do kill_pidfile "$dir/door-$n/pid" TERM; done
    for ((n = 1; n <= INSTANCE_COUNT; n++)); do kill_pidfile "$dir/instance-$n/pid" TERM; done
    # Every group cluster (those added by group-add too), then the base's, which holds etcd.
    local stops=()
    for cluster in "$dir"/pg/group-*; do
        if [ -f "$cluster/cluster.env" ]; then
            "$here/ha-cluster.sh" stop "$cluster" >/dev/null 2>&1 &
            stops+=($!)
        fi
    done
    for pid in "${stops[@]}"; do wait "$pid" || true; done
    [ -f "$dir/pg/base/cluster.env" ] && { "$here/ha-cluster.sh" stop "$dir/pg/base" 2>/dev/null || true; }
    remove_network "$dir"
    echo "stopped the deployment in $dir"
}

cmd_status() {
    local dir=$1
    load_env "$dir"
    local c p
    for c in base $(seq 0 $((GROUP_COUNT - 1))) ${ADDED_GROUPS:-}; do
        if p=$("$here/ha-cluster.sh" primary "$(cluster_dir "$dir" "$c")" 2>/dev/null); then
            echo "cluster $(cluster_name "$c"): primary $p"
        else
            echo "cluster $(cluster_name "$c"): no primary"
        fi
    done
    for ((n = 1; n <= INSTANCE_COUNT; n++)); do
        alive "$dir/instance-$n/pid" && echo "instance $n: up" || echo "instance $n: down"
    done
    for n in 1 2; do alive "$dir/door-$n/pid" && echo "front door $n: up" || echo "front door $n: down"; done
    alive "$dir/prometheus/pid" && echo "prometheus: up" || echo "prometheus: down"
}

cluster_arg() {
    case "$1" in
        base) echo base ;;
        *[!0-9]*|"") die "a cluster is base or a group tag, not $1" ;;
        *) echo "$1" ;;
    esac
}

# Scale out: a new cluster for order group TAG on two new hosts, added with `cashierd groups add` (the groups are
# shared in the base data, so every instance takes it within a second), and scraped by Prometheus.
cmd_group_add() {
    local dir=$1 tag; tag=$(cluster_arg "$2")
    load_env "$dir"
    DIR=$dir
    [ "$tag" != base ] && [ "$tag" -le 39 ] || die "group tags here are 0–39 (their hosts' addresses)"
    [ -d "$(cluster_dir "$dir" "$tag")" ] && die "group $tag has a cluster already"
    local url; url=$(start_cluster "$tag") || die "group $tag's cluster did not start"
    "$PRODUCTS/cashierd" groups add --data "$SHARED" --tag "$tag" --postgres "$url"
    echo "ADDED_GROUPS='${ADDED_GROUPS:-}${ADDED_GROUPS:+ }$tag'" >> "$dir/deploy.env"
    load_env "$dir"
    "$here/prometheus-local.sh" targets "$dir/prometheus" --cashierd "$(cashierd_targets)" --patroni "$(patroni_targets)" >/dev/null
}

# Scale in: `cashierd groups retire` (its cluster keeps running, archived, until stop).
cmd_group_retire() {
    local dir=$1 tag=$2
    load_env "$dir"
    "$PRODUCTS/cashierd" groups retire --data "$SHARED" --tag "$tag"
}

# Blackhole routes on instance N's host to both of group TAG's members: it reaches every other server still.
cmd_group_cut() {
    local dir=$1 n=$2 tag verb=$4; tag=$(cluster_arg "$3")
    load_env "$dir"
    local ns; ns=$(host_netns "instance$n")
    ip netns list | grep -q "^$ns\b" || die "no instance $n"
    for m in 1 2; do
        if [ "$verb" = add ]; then
            ip netns exec "$ns" ip route replace blackhole "$(member_address "$tag" "$m")/32"
        else
            ip netns exec "$ns" ip route del blackhole "$(member_address "$tag" "$m")/32" 2>/dev/null || true
        fi
    done
}

# Site S's links on the bridge: its front door's and its instances'.
cmd_site() {
    local dir=$1 s=$2 state=$3
    load_env "$dir"
    [ "$s" = 1 ] || [ "$s" = 2 ] || die "sites are 1 and 2"
    ip link set "$(host_link "door$s")" "$state"
    for ((n = 1; n <= INSTANCE_COUNT; n++)); do
        [ "$(site_of_instance "$n")" = "$s" ] && ip link set "$(host_link "instance$n")" "$state"
    done
    return 0
}

[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2
case "$command" in
    start) cmd_start "$dir" ;;
    stop) cmd_stop "$dir" ;;
    status) cmd_status "$dir" ;;
    primary-kill) [ $# -eq 1 ] || usage; c=$(cluster_arg "$1"); "$here/ha-cluster.sh" kill-primary "$(cluster_dir "$dir" "$c")" ;;
    wait-primary) [ $# -ge 1 ] || usage; c=$(cluster_arg "$1"); "$here/ha-cluster.sh" wait-primary "$(cluster_dir "$dir" "$c")" "${2:-60}" ;;
    wait-sync) [ $# -ge 1 ] || usage; c=$(cluster_arg "$1"); "$here/ha-cluster.sh" wait-sync "$(cluster_dir "$dir" "$c")" "${2:-60}" ;;
    member-rejoin) [ $# -eq 2 ] || usage; c=$(cluster_arg "$1"); "$here/ha-cluster.sh" restart-member "$(cluster_dir "$dir" "$c")" "$2" ;;
    group-cut) [ $# -eq 2 ] || usage; cmd_group_cut "$dir" "$1" "$2" add ;;
    group-uncut) [ $# -eq 2 ] || usage; cmd_group_cut "$dir" "$1" "$2" del ;;
    site-down) [ $# -eq 1 ] || usage; cmd_site "$dir" "$1" down ;;
    site-up) [ $# -eq 1 ] || usage; cmd_site "$dir" "$1" up ;;
    instance-kill) [ $# -eq 1 ] || usage; kill_pidfile "$dir/instance-$1/pid" KILL ;;
    instance-start) [ $# -eq 1 ] || usage; instance_start "$dir" "$1" ;;
    door-kill) [ $# -eq 1 ] || usage; kill_pidfile "$dir/door-$1/pid" KILL ;;
    door-start) [ $# -eq 1 ] || usage; door_start "$dir" "$1" ;;
    group-add) [ $# -eq 1 ] || usage; cmd_group_add "$dir" "$1" ;;
    group-retire) [ $# -eq 1 ] || usage; cmd_group_retire "$dir" "$1" ;;
    *) usage ;;
esac
