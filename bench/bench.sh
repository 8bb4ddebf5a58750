#!/usr/bin/env bash
# Runs benchmark NAME (the program build/meson/bench/NAME) with the build
# tree's QEMU, guest and tools, and sweeps what it leaves behind when it
# is killed.  bench/NAME.sh calls this; the arguments after NAME go to the
# program (--runs N, --json FILE, --help, ...).
#
#   bench/bench.sh NAME [ARGS...]
#
# LIMEVI_BUILD (the meson build directory), LIMEVI_QEMU, LIMEVI_GUEST_DIR,
# LIMEVI_CLI, LIMEVI_WAN and LIMEVI_WAN_SITES override the defaults.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: bench/bench.sh NAME [ARGS...]" >&2; exit 2; }
NAME=$1
shift
BUILD=${LIMEVI_BUILD:-$ROOT/build/meson}
BENCH=${LIMEVI_BENCH:-$BUILD/bench/$NAME}
export LIMEVI_QEMU=${LIMEVI_QEMU:-$ROOT/build/qemu/qemu-system-x86_64}
export LIMEVI_GUEST_DIR=${LIMEVI_GUEST_DIR:-$ROOT/build/guest}
export LIMEVI_CLI=${LIMEVI_CLI:-$BUILD/coordinator/limevi}
export LIMEVI_WAN=${LIMEVI_WAN:-$BUILD/tests/wan/limevi-wan}
export LIMEVI_WAN_SITES=${LIMEVI_WAN_SITES:-$ROOT/tests/wan/wan-sites.sh}

[ -x "$BENCH" ] || { echo "bench: no $BENCH (run 'make build')" >&2; exit 2; }

pid=
# The programs remove what they create, also on SIGINT and SIGTERM; only
# a SIGKILL leaves their namespaces ("limevi-bench-TAG-PID-SUFFIX") and
# the QEMUs in them behind.
sweep() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' |
              grep -E "^limevi-bench-[a-z0-9]+-$1-[A-Za-z0-9]+$" || true); do
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
