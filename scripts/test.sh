#!/usr/bin/env bash
# Builds everything and runs the whole test suite: a short fuzzing run, then unit tests, storage on
# SQLite and PostgreSQL, end-to-end tests against real cashierd processes, the attack suite, the fault
# drill on a local PostgreSQL deployment, and the terminal front end in tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests -j 2
# A short libFuzzer run of the parsers and the signature canonicalizer (FUZZ_SECONDS each; 0 skips it).
# Longer runs: scripts/fuzz.sh --seconds 600 (docs/SECURITY.md).
if [ "${FUZZ_SECONDS:-10}" != "0" ]; then
  bash scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-10}"
fi
# Tests find the built cashier and cashierd here.
export CASHIER_PRODUCTS="$(swift build --show-bin-path)"
# Every test is XCTest; without Swift Testing the run closes on XCTest's own summary.
swift test --skip-build --disable-swift-testing "$@"
