#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ and runs each for a while.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [target ...]
#
# Targets: order-number signing money request-body (default: all). Each runs N seconds (default 20)
# with its corpus in fuzz-out/corpus/<target> (kept between runs), the seeds in Fuzz/seeds/<target>
# (read only), and crash files in fuzz-out/crashes/<target>. Exits non-zero if any target crashed or failed to build.
#
# SwiftPM cannot link a fuzz executable (libFuzzer brings its own main), so the CashierCrypto and
# CashierCore sources are compiled here with swiftc into static libraries with fuzzer and address
# sanitizer instrumentation, and each Fuzz/*.swift entry point is linked against them.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
seconds=20
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#--seconds=}"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
all=(order-number signing money request-body)
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

out="${FUZZ_OUT:-$root/fuzz-out}"
build="$out/build"
mkdir -p "$build/modules" "$build/bin"

source_of() {
    case "$1" in
        order-number) echo Fuzz/OrderNumberFuzz.swift ;;
        signing) echo Fuzz/SigningFuzz.swift ;;
        money) echo Fuzz/MoneyFuzz.swift ;;
        request-body) echo Fuzz/RequestBodyFuzz.swift ;;
        *) echo "unknown fuzz target: $1 (known: ${all[*]})" >&2; return 1 ;;
    esac
}

sanitize=(-sanitize=fuzzer,address -parse-as-library -O -g)
openssl_flags=(-I "$root/Sources/COpenSSL" $(pkg-config --cflags-only-I libcrypto | sed 's/-I/-Xcc -I/g'))
openssl_libs=$(pkg-config --libs libcrypto)

# Drops gold's harmless warnings about sanitizer helper symbols.
quiet() { grep -v "Cannot export local symbol" || true; }

# Rebuilds a static library when any of its sources is newer than it.
library() {
    local name="$1"; shift
    local lib="$build/lib$name.a"
    local stale=0
    [ -f "$lib" ] || stale=1
    for f in "$@"; do [ "$f" -nt "$lib" ] && stale=1; done
    if [ $stale -eq 1 ]; then
        echo "building $name" >&2
        swiftc "${sanitize[@]}" -module-name "$name" -emit-library -static -emit-module \
            -emit-module-path "$build/modules/$name.swiftmodule" -I "$build/modules" "${openssl_flags[@]}" \
            "$@" -o "$lib" 2> >(quiet >&2)
    fi
}

library CashierCrypto Sources/CashierCrypto/Crypto.swift
library CashierCore $(find Sources/CashierCore -name "*.swift" | sort)

failed=0
for target in "${targets[@]}"; do
    src=$(source_of "$target")
    bin="$build/bin/$target"
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$build/libCashierCore.a" -nt "$bin" ]; then
        echo "building fuzz target $target" >&2
        swiftc "${sanitize[@]}" -module-name "Fuzz_${target//-/_}" -I "$build/modules" "${openssl_flags[@]}" \
            "$src" "$build/libCashierCore.a" "$build/libCashierCrypto.a" $openssl_libs -o "$bin" 2> >(quiet >&2)
    fi
    corpus="$out/corpus/$target"
    crashes="$out/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    echo "fuzzing $target for ${seconds}s" >&2
    seeds="$root/Fuzz/seeds/$target"
    if ! SWIFT_BACKTRACE=enable=no "$bin" "$corpus" "$seeds" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$crashes/" -print_final_stats=1 > "$out/$target.log" 2>&1; then
        echo "CRASH in $target; see $out/$target.log and $crashes/" >&2
        grep -m 6 -E "runtime failure|Fatal error|deadly signal|ERROR: AddressSanitizer|Test unit written" "$out/$target.log" >&2 || true
        failed=1
    else
        grep -m 1 "stat::number_of_executed_units" "$out/$target.log" >&2 || true
    fi
done
exit $failed
