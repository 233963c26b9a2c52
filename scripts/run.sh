#!/usr/bin/env bash
# The main job: a local cashierd (two HTTPS domains, four SQLite order groups, demo store) and the
# cashier terminal front end against it, activated and ready to take a payment.
#
#   scripts/run.sh            build, start the service, open the terminal UI (needs a terminal ≥ 80×24)
#   scripts/run.sh --serve    build and only serve (Ctrl-C stops)
#
# State lives in var/demo/ (delete it to start afresh). The service stops when the UI exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --product cashierd >&2
swift build --product cashier >&2
bin="$(swift build --show-bin-path)"

root="var/demo"
data="$root/service"
client="$root/client"
mkdir -p "$root" "$client"
if [ ! -f "$data/cashierd.json" ]; then
  "$bin/cashierd" init --data "$data" --groups 4 --listen 127.0.0.1:8443 --listen 127.0.0.2:8444 --demo | tee "$root/init.txt" >&2
fi

"$bin/cashierd" serve --data "$data" >"$root/cashierd.out" 2>&1 &
service_pid=$!
trap 'kill -TERM $service_pid 2>/dev/null; wait $service_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$root/cashierd.out" 2>/dev/null && break
  kill -0 $service_pid 2>/dev/null || { cat "$root/cashierd.out" >&2; exit 1; }
  sleep 0.1
done
grep "listening on" "$root/cashierd.out" >&2

if [ "${1:-}" = "--serve" ]; then
  echo "serving; Ctrl-C stops" >&2
  wait $service_pid
  exit 0
fi

export CASHIER_CONFIG="$PWD/$client/config.json"
if [ ! -f "$CASHIER_CONFIG" ]; then
  cat >"$CASHIER_CONFIG" <<JSON
{
  "domains": ["https://127.0.0.1:8443", "https://127.0.0.2:8444"],
  "ca_file": "$PWD/$data/ca.pem",
  "receipt_sink": "receipts.txt",
  "catalog_path": "catalog.json"
}
JSON
fi
if [ ! -f "$client/catalog.json" ]; then
  cat >"$client/catalog.json" <<'JSON'
[
  {"sku": "1001", "name": "Oolong tea 乌龙茶", "unit_price": 350},
  {"sku": "1002", "name": "Steamed bun 包子", "unit_price": 300},
  {"sku": "1003", "name": "Soy milk 豆浆", "unit_price": 250},
  {"sku": "1004", "name": "Rice ball 饭团", "unit_price": 600}
]
JSON
fi
if [ ! -f "$client/keystore.json" ]; then
  store=$("$bin/cashierd" store list --data "$data" | head -n 1 | cut -f1)
  code=$("$bin/cashierd" activation-code --data "$data" --store "$store")
  "$bin/cashier" activate --code "$code" >&2
fi
cat >&2 <<'TEXT'
Demo: supervisor PIN 2468 (refunds), cashier PIN 1357. Sandbox payment codes are 18 digits starting 99;
the last digit picks the outcome: 0-3 paid, 4 customer confirms, 5 never confirms, 6 declined,
7 unknown then paid, 8 slow, 9 unknown then not paid (docs/SANDBOX.md). Item codes 1001-1004
(e.g. 1001*2) come from var/demo/client/catalog.json. F1 or ? shows the keys.
TEXT
"$bin/cashier" tui
