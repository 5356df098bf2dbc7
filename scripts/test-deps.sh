#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing. Needs root for apt;
# without root it only reports what is missing (the tests that need it then skip outside CI).
set -euo pipefail

packages=(
  wireguard-tools   # wg, wg-quick: independent clients and config checks
  wireguard-go      # Debian's userspace WireGuard: independent clients
  iproute2          # ip netns, veth
  iputils-ping      # ping through tunnels
  nftables          # firewall checks
  postgresql        # throwaway PostgreSQL clusters (initdb, pg_ctl)
  chromium          # browser tests
  victoria-metrics  # metrics tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: not root; missing packages: ${missing[*]}" >&2
  exit 0
fi
echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
