#!/usr/bin/env bash
# Runs the whole test suite and cleans up after it, also on failure or interrupt: network
# namespaces, throwaway PostgreSQL clusters and processes the tests started.
set -uo pipefail

cleanup() {
  # Namespaces made by wglab are named wgt-*; delete any a killed test left behind.
  for ns in $(ip netns list 2>/dev/null | awk '/^wgt-/ {print $1}'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
  done
  for dir in /tmp/wiregui-pgtest-*; do
    [ -d "$dir/data" ] || continue
    pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | tail -n1)
    [ -n "$pg_ctl" ] && runuser -u postgres -- "$pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$dir"
  done
}
trap cleanup EXIT INT TERM
cleanup

start=$(date +%s)
go test -count=1 -timeout 14m ./... 2>&1
status=$?
# Then every fuzz target for a moment (FUZZTIME, 2s by default) beyond its seed corpus.
"$(dirname "$0")/fuzz.sh" || status=1
echo "make test: $(( $(date +%s) - start ))s wall time"
exit $status
