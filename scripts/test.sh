#!/usr/bin/env bash
# Builds everything and runs the whole test suite (unit, storage on SQLite and PostgreSQL,
# end-to-end against real cashierd processes, and the terminal front end in tmux).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests -j 2
# Tests find the built cashier and cashierd here.
export CASHIER_PRODUCTS="$(swift build --show-bin-path)"
swift test --skip-build "$@"
