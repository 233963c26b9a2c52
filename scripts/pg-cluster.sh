#!/bin/bash
# Starts and stops throwaway PostgreSQL clusters for tests and local runs.
#
#   scripts/pg-cluster.sh start DIR [PORT]    create (first time) and start a cluster in DIR; prints its connection string
#   scripts/pg-cluster.sh stop DIR [MODE]     stop it; MODE is fast (default), immediate (a crash) or smart
#   scripts/pg-cluster.sh status DIR          exit 0 and print the connection string if it is running, else exit 3
#   scripts/pg-cluster.sh destroy DIR         stop it at once and delete DIR
#   scripts/pg-cluster.sh bindir              print the directory holding initdb/pg_ctl (exit 1 if none)
#
# Each cluster listens on 127.0.0.1:PORT only, keeps its unix socket inside DIR and trusts every local
# connection (user "postgres", database "postgres"). Durability settings (fsync etc.) are the defaults.
# PostgreSQL refuses to run as root, so when run as root the server runs as the "postgres" user, which
# must be able to write DIR (the script creates DIR and hands it over). A started cluster can be stopped
# and started again with `start DIR` (the port is remembered). PGBIN overrides where binaries are found.
set -eu

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The directory with initdb and pg_ctl: $PGBIN, the newest /usr/lib/postgresql/*/bin, then PATH.
find_bindir() {
    if [ -n "${PGBIN:-}" ] && [ -x "$PGBIN/pg_ctl" ]; then echo "$PGBIN"; return 0; fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"; return 0
    fi
    return 1
}

# Runs a command as the user that owns the cluster: "postgres" when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            # su needs one shell string; quote every argument.
            cmd=""
            for a in "$@"; do cmd="$cmd '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"; done
            su postgres -s /bin/sh -c "$cmd"
        fi
    else
        "$@"
    fi
}

# Closes every inherited descriptor above stderr. The server outlives this script, and a descriptor it kept
# (a caller's pipe or the socket a process launcher watches for exit) would make the caller wait forever.
close_inherited_fds() {
    local fd
    for fd in $(ls /proc/$BASHPID/fd 2>/dev/null); do
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}

conninfo() {
    echo "host=127.0.0.1 port=$1 user=postgres dbname=postgres"
}

port_of() {
    cat "$1/port" 2>/dev/null || { echo "pg-cluster: no cluster in $1" >&2; exit 1; }
}

cmd_start() {
    dir=$1
    port=${2:-}
    bindir=$(find_bindir) || { echo "pg-cluster: PostgreSQL server binaries not found (install postgresql)" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || { echo "pg-cluster: running as root needs a 'postgres' user" >&2; exit 1; }
        chown postgres "$dir"
        chmod 700 "$dir"
        as_owner test -w "$dir" || { echo "pg-cluster: user postgres cannot write $dir (check the parent directories' permissions)" >&2; exit 1; }
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        [ -n "$port" ] || { echo "pg-cluster: a new cluster needs a PORT" >&2; exit 2; }
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
        cat >> "$dir/data/postgresql.conf" <<EOF

# pg-cluster.sh: a throwaway cluster on loopback only.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 50
shared_buffers = 16MB
logging_collector = off
EOF
        echo "$port" > "$dir/port"
        chmod 644 "$dir/port"
    fi
    port=$(port_of "$dir")
    if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        ( close_inherited_fds; exec < /dev/null; as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null ) \
            || { echo "pg-cluster: server did not start; last log lines:" >&2; tail -n 20 "$dir/server.log" >&2; exit 1; }
    fi
    conninfo "$port"
}

cmd_stop() {
    dir=$1
    mode=${2:-fast}
    bindir=$(find_bindir) || { echo "pg-cluster: PostgreSQL server binaries not found" >&2; exit 1; }
    [ -f "$dir/data/PG_VERSION" ] || { echo "pg-cluster: no cluster in $dir" >&2; exit 1; }
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null
    fi
}

cmd_status() {
    dir=$1
    bindir=$(find_bindir) || exit 1
    [ -f "$dir/data/PG_VERSION" ] || exit 3
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        conninfo "$(port_of "$dir")"
    else
        exit 3
    fi
}

cmd_destroy() {
    dir=$1
    if [ -f "$dir/data/PG_VERSION" ]; then cmd_stop "$dir" immediate || true; fi
    rm -rf "$dir"
}

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
    start) [ $# -ge 1 ] || usage; cmd_start "$@" ;;
    stop) [ $# -ge 1 ] || usage; cmd_stop "$@" ;;
    status) [ $# -ge 1 ] || usage; cmd_status "$@" ;;
    destroy) [ $# -ge 1 ] || usage; cmd_destroy "$@" ;;
    bindir) find_bindir ;;
    *) usage ;;
esac
