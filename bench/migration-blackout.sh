#!/usr/bin/env bash
# make bench: runs bench/migration-blackout (live migration of a receiving
# VM, LimeVI against bridge + VXLAN) with the build tree's QEMU and guest.
# Arguments go to the program: --runs N, --json FILE, --help, ...
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${LIMEVI_BENCH:-$ROOT/build/meson/bench/migration-blackout}
export LIMEVI_QEMU=${LIMEVI_QEMU:-$ROOT/build/qemu/qemu-system-x86_64}
export LIMEVI_GUEST_DIR=${LIMEVI_GUEST_DIR:-$ROOT/build/guest}

[ -x "$BENCH" ] || { echo "bench: no $BENCH (run 'make build')" >&2; exit 2; }

pid=
# The program removes what it creates, also on SIGINT and SIGTERM; only
# a SIGKILL leaves its namespaces ("limevi-bench-TAG-PID-N") behind.
sweep() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' |
              grep -E "^limevi-bench-[a-z0-9]+-$1-[0-9]+$" || true); do
    echo "bench: removing leftover namespace $ns" >&2
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
cleanup() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sweep "$pid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# In the background so that a signal to this script runs cleanup() at
# once rather than after the program.
"$BENCH" "$@" &
pid=$!
status=0
wait "$pid" || status=$?
sweep "$pid"
pid=
exit "$status"
