#!/usr/bin/env bash
# A throwaway Prometheus for a local deployment (the drill, tests): scrapes cashierd instances and Patroni members
# with the jobs of deploy/prometheus/prometheus.yml and evaluates the alert rules it is given.
#
#   scripts/prometheus-local.sh start DIR --listen HOST:PORT --rules FILE [--cashierd HOST:PORT,...]
#                                        [--patroni CLUSTER=HOST:PORT,...] [--interval 1s]
#                         write DIR/prometheus.yml (scrape and evaluation every INTERVAL; jobs cashierd and patroni
#                         from file_sd files under DIR/targets/, each Patroni target labelled cluster: CLUSTER; the
#                         rules FILE copied to DIR/alerts.yml), check it with promtool, start prometheus as a daemon
#                         (pid in DIR/pid, log in DIR/prometheus.log, data in DIR/data), wait at most 30 s until it
#                         is ready, and print its base URL http://HOST:PORT
#   scripts/prometheus-local.sh targets DIR [--cashierd HOST:PORT,...] [--patroni CLUSTER=HOST:PORT,...]
#                         rewrite the target files (Prometheus re-reads them by itself, within a second or two)
#   scripts/prometheus-local.sh stop DIR    SIGTERM, wait at most 20 s, then SIGKILL; remove DIR/pid
#
# --cashierd and --patroni may be repeated; each takes a comma-separated list. The drill runs the production rules
# on its time scale: `cashier-drill alert-rules --rules deploy/prometheus/alerts.yml --divide 20 --minimum 2`.
# Needs prometheus and promtool (installed with apt-get when missing and we are root). A prometheus system service
# that Debian's package may have started is neither used nor touched: this one listens on its own address.
set -euo pipefail

# shellcheck source=lib/daemons.sh
. "$(dirname "$0")/lib/daemons.sh"

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

die() { echo "prometheus-local: $*" >&2; exit 1; }

ensure_prometheus() {
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && return 0
    [ "$(id -u)" = 0 ] || die "prometheus is missing (apt-get install prometheus)"
    echo "prometheus-local: installing prometheus" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
    command -v prometheus >/dev/null 2>&1 || die "prometheus is still missing after apt-get install"
}



# HOST:PORT, checked.
check_address() {
    [[ "$1" =~ ^[A-Za-z0-9._-]+:[0-9]+$ ]] || die "not HOST:PORT: $1"
}

# Parsed --cashierd and --patroni lists.
cashierd_targets=()
patroni_targets=()   # CLUSTER=HOST:PORT

add_cashierd() {
    local a items
    IFS=, read -r -a items <<< "$1"
    for a in "${items[@]}"; do
        [ -n "$a" ] || continue
        check_address "$a"; cashierd_targets+=("$a")
    done
}

add_patroni() {
    local a items
    IFS=, read -r -a items <<< "$1"
    for a in "${items[@]}"; do
        [ -n "$a" ] || continue
        [[ "$a" == *=* ]] || die "--patroni takes CLUSTER=HOST:PORT, not $a"
        [[ "${a%%=*}" =~ ^[A-Za-z0-9._-]+$ ]] || die "not a cluster name: ${a%%=*}"
        check_address "${a#*=}"; patroni_targets+=("$a")
    done
}

# A JSON string of $1 (names and addresses hold no quotes or backslashes: check_address and add_patroni saw to it).
json_string() { printf '"%s"' "$1"; }

# Writes file $2 atomically ($1: the directory): a temporary name the job's glob does not match, then a rename,
# so Prometheus never reads half a file.
write_atomically() {
    local dir=$1 file=$2 tmp="$1/.$2.tmp"
    cat > "$tmp"
    mv -f "$tmp" "$dir/$file"
}

write_targets() {
    local dir=$1/targets a first cluster clusters
    mkdir -p "$dir"
    {
        if [ ${#cashierd_targets[@]} -eq 0 ]; then
            echo "[]"
        else
            printf '[{"targets": ['
            first=1
            for a in "${cashierd_targets[@]}"; do
                [ $first = 1 ] || printf ', '
                first=0; json_string "$a"
            done
            printf ']}]\n'
        fi
    } | write_atomically "$dir" cashierd.json
    # One group per cluster, its members' addresses together, labelled with the cluster's name.
    clusters=$(for a in ${patroni_targets[@]+"${patroni_targets[@]}"}; do echo "${a%%=*}"; done | awk '!seen[$0]++')
    {
        printf '['
        first=1
        for cluster in $clusters; do
            [ $first = 1 ] || printf ', '
            first=0
            printf '{"targets": ['
            local inner=1
            for a in "${patroni_targets[@]}"; do
                [ "${a%%=*}" = "$cluster" ] || continue
                [ $inner = 1 ] || printf ', '
                inner=0; json_string "${a#*=}"
            done
            printf '], "labels": {"cluster": %s}}' "$(json_string "$cluster")"
        done
        printf ']\n'
    } | write_atomically "$dir" patroni.json
}

cmd_start() {
    local dir=${1:-}
    [ -n "$dir" ] || usage
    shift
    local listen="" rules="" interval=1s
    while [ $# -gt 0 ]; do
        case "$1" in
            --listen) listen=${2:?--listen needs HOST:PORT}; shift 2 ;;
            --rules) rules=${2:?--rules needs a file}; shift 2 ;;
            --cashierd) add_cashierd "${2:?--cashierd needs HOST:PORT,...}"; shift 2 ;;
            --patroni) add_patroni "${2:?--patroni needs CLUSTER=HOST:PORT,...}"; shift 2 ;;
            --interval) interval=${2:?--interval needs a duration}; shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    [ -n "$listen" ] || die "--listen HOST:PORT is required"
    [ -n "$rules" ] || die "--rules FILE is required"
    check_address "$listen"
    [ -f "$rules" ] || die "no rules file $rules"
    [[ "$interval" =~ ^[0-9]+(ms|s|m)$ ]] || die "--interval is a duration like 1s, not $interval"
    ensure_prometheus

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    alive "$dir/pid" && die "a prometheus already runs for $dir (pid $(cat "$dir/pid")); stop it first"
    rm -f "$dir/pid"
    # Another server on the address would answer our readiness check for us.
    if ss -Htln "sport = :${listen##*:}" 2>/dev/null | grep -q .; then die "something already listens on port ${listen##*:}"; fi
    cp "$rules" "$dir/alerts.yml"
    write_targets "$dir"
    # The jobs as deploy/prometheus/prometheus.yml names them; relative paths are read from DIR.
    # A scrape may take the whole interval (the scrape timeout may not be longer).
    cat > "$dir/prometheus.yml" <<EOF
# Written by scripts/prometheus-local.sh for a local deployment; deploy/prometheus/prometheus.yml is the production one.
global:
  scrape_interval: $interval
  scrape_timeout: $interval
  evaluation_interval: $interval

rule_files:
  - alerts.yml

scrape_configs:
  - job_name: cashierd
    metrics_path: /metrics
    scheme: http
    file_sd_configs:
      - files: ["targets/cashierd*.json"]

  - job_name: patroni
    metrics_path: /metrics
    scheme: http
    file_sd_configs:
      - files: ["targets/patroni*.json"]
EOF
    promtool check config "$dir/prometheus.yml" >"$dir/promtool.log" 2>&1 \
        || { cat "$dir/promtool.log" >&2; die "promtool rejects $dir/prometheus.yml"; }

    # The shell writes its own pid and then becomes prometheus, so the pid file names prometheus itself.
    (
        close_inherited_fds
        exec </dev/null >>"$dir/prometheus.log" 2>&1
        exec setsid sh -c 'echo $$ > "$1/pid"; shift; exec prometheus "$@"' sh "$dir" \
            --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
            --web.listen-address="$listen" --web.enable-lifecycle
    ) &
    local url="http://$listen" deadline=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if alive "$dir/pid" && curl -fsS -m 1 "$url/-/ready" >/dev/null 2>&1; then echo "$url"; return 0; fi
        # The pid file appears once the starting shell has closed its inherited descriptors (slow when the caller,
        # a test runner, holds many): only a pid file whose process is gone means prometheus died.
        if [ -f "$dir/pid" ] && ! alive "$dir/pid"; then break; fi
        sleep 0.1
    done
    tail -n 20 "$dir/prometheus.log" >&2
    if alive "$dir/pid"; then kill -KILL "$(cat "$dir/pid")" 2>/dev/null || true; fi
    rm -f "$dir/pid"
    die "prometheus did not become ready on $listen"
}

cmd_targets() {
    local dir=${1:-}
    [ -n "$dir" ] || usage
    shift
    [ -f "$dir/prometheus.yml" ] || die "no prometheus in $dir (run start first)"
    while [ $# -gt 0 ]; do
        case "$1" in
            --cashierd) add_cashierd "${2:?--cashierd needs HOST:PORT,...}"; shift 2 ;;
            --patroni) add_patroni "${2:?--patroni needs CLUSTER=HOST:PORT,...}"; shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    write_targets "$dir"
}

cmd_stop() {
    local dir=${1:-}
    [ -n "$dir" ] || usage
    stop_pidfile "$dir/pid" TERM 20
}

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
    start) cmd_start "$@" ;;
    targets) cmd_targets "$@" ;;
    stop) cmd_stop "$@" ;;
    -h|--help|help) usage ;;
    *) usage ;;
esac
