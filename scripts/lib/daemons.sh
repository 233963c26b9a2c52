# Shell functions for scripts that start daemons which outlive them (sourced by scripts/ha-cluster.sh and
# scripts/prometheus-local.sh).

# Closes every inherited descriptor above stderr: the daemons outlive the script, and a descriptor one kept
# (a caller's pipe, or the one Foundation's Process watches to learn its child exited) would make the caller wait.
close_inherited_fds() {
    local fd
    for fd in $(ls /proc/$BASHPID/fd 2>/dev/null); do
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}

# Whether the process named in pid file $1 runs (a zombie nobody reaped yet does not).
alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# Stops the process named in pid file $1: signal $2, then at most $3 seconds for it to end, then SIGKILL (saying
# so on standard error); removes the pid file.
stop_pidfile() {
    local file=$1 sig=$2 seconds=$3
    if alive "$file"; then
        local pid; pid=$(cat "$file")
        kill "-$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((seconds * 10))); do alive "$file" || break; sleep 0.1; done
        if alive "$file"; then
            echo "$(basename "$0"): pid $pid did not end ${seconds} s after SIG$sig; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do alive "$file" || break; sleep 0.1; done
        fi
    fi
    rm -f "$file"
}
