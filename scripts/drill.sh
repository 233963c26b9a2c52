#!/usr/bin/env bash
# The seed's failure drill on the replicated local deployment: starts one (scripts/deploy-local.sh, as root),
# runs sales through both front doors while database primaries are killed (one group's, two groups', the base
# data's), an instance is cut off from a group, an instance is killed, a whole site is lost and groups are added
# and retired; times the recoveries, checks Prometheus's alerts, prints the report and stops the deployment.
#
#   scripts/drill.sh [--quick] [--phase-seconds S] [--tills N] [--json FILE] [--svg FILE] [--keep DIR]
#
# --quick: 5-second phases (about 5 minutes in all, set-up included); the default is 20-second phases.
# --svg FILE: also draw paid sales per second per group over the drill, phases marked (any browser shows it).
# --keep DIR: run in DIR and leave its logs there (it must not hold a deployment yet); default: a temporary
# directory that is removed afterwards. Exit 0 only when the drill passed. CASHIER_PRODUCTS names the
# directory with cashierd and cashier-drill; by default the package is built (debug) first.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

args=()
keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --keep) keep=$2; shift 2 ;;
        --quick) args+=(--quick); shift ;;
        --phase-seconds|--tills|--json|--svg) args+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "drill: unknown option $1" >&2; exit 2 ;;
    esac
done

if [ -z "${CASHIER_PRODUCTS:-}" ]; then
    (cd "$root" && swift build --product cashierd >&2 && swift build --product cashier-drill >&2)
    CASHIER_PRODUCTS=$(cd "$root" && swift build --show-bin-path)
fi
export CASHIER_PRODUCTS

if [ -n "$keep" ]; then
    dir=$keep
else
    dir=$(mktemp -d /tmp/cashier-drill.XXXXXX)
    chmod 755 "$dir"
    trap 'rm -rf "$dir"' EXIT
fi
"$CASHIER_PRODUCTS/cashier-drill" run --deployment "$dir/deployment" --start --script "$here/deploy-local.sh" "${args[@]}"
