#!/usr/bin/env bash
# Installs the Debian packages the project builds and tests with, if any is missing.
# Used by scripts/run.sh and scripts/test.sh; safe to run again (it does nothing when all are there).
set -euo pipefail

packages=(
  pkg-config
  libcurl4-openssl-dev   # CCurl: the client's HTTPS transport
  libmicrohttpd-dev      # CMicroHTTPD: the service's HTTP(S) server
  libssl-dev             # COpenSSL: HMAC, hashes, certificates
  libsqlite3-dev         # CSQLite: embedded order groups, client journal
  libpq-dev              # CPostgres: PostgreSQL order groups
  libncurses-dev         # CNcursesw: the terminal front end
  zlib1g-dev             # CZlib: inflating Alipay's zipped statements
  python3                # tests run the Alipay simulator (Tests/Simulators/alipay_sim.py)
  sqlite3                # tests lock a group database from another process
  postgresql             # tests start throwaway PostgreSQL clusters
  tmux                   # tests drive the real terminal front end
  haproxy                # the local multi-instance deployment's front doors (drills)
  iproute2               # the local deployment's hosts are network namespaces (ip netns, veth, a bridge)
  patroni etcd-server    # replicated PostgreSQL clusters with automatic failover (scripts/ha-cluster.sh)
  prometheus             # promtool checks deploy/prometheus/ (and the server scrapes a deployment)
  systemd                # systemd-analyze verifies deploy/systemd/ units
  curl openssl           # tests use the command-line tools as independent peers
  faketime               # tests run the terminal with its clock set wrong
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
