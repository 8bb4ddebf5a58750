#!/usr/bin/env bash
# Runs one of QEMU's own qtests (built by qemu-patches/build-qtests.sh)
# against the patched QEMU, as TAP.
#
#   run-qtest.sh QTEST [--full-set] [PATH | --match WORD]...
#
# Each PATH must be one of the qtest's cases (or suites: -p runs a case and
# those under it); a PATH the qtest does not list fails the run rather than
# silently running nothing.  --match WORD adds every listed case whose path
# holds WORD, and none when there is none (cases other series may add).
# --full-set passes migration-test's --full, without which it registers only
# its quick set.  No PATH and no --match: every case.  LIMEVI_QTEST_FULL=1
# ignores the selection and runs every case of the full set.
set -euo pipefail

qtest=${1:?usage: run-qtest.sh QTEST [--full-set] [PATH | --match WORD]...}
shift
bin=${LIMEVI_QTEST_DIR:?}/$qtest
export QTEST_QEMU_BINARY=${LIMEVI_QEMU:?}

bail() { echo "Bail out! $*"; exit 1; }
[ -x "$QTEST_QEMU_BINARY" ] ||
  bail "no patched QEMU at $QTEST_QEMU_BINARY: run make qemu"
[ -x "$bin" ] || bail "no $bin: run qemu-patches/build-qtests.sh (make check does)"

set_args=()
if [ "${1:-}" = --full-set ]; then
  set_args=(--full)
  shift
fi
if [ "${LIMEVI_QTEST_FULL:-0}" = 1 ]; then
  echo "# LIMEVI_QTEST_FULL=1: every case of $qtest"
  exec "$bin" "${set_args[@]}" --tap
fi

listed=$("$bin" "${set_args[@]}" -l | grep '^/') ||
  bail "$qtest -l listed no case"
paths=()
# TRUE when $1 is a selected path or under one: -p runs those.
selected() {
  local p
  for p in "${paths[@]}"; do
    case $1 in "$p" | "$p"/*) return 0 ;; esac
  done
  return 1
}
while [ $# -gt 0 ]; do
  if [ "$1" = --match ]; then
    while read -r path; do
      [ -n "$path" ] && ! selected "$path" && paths+=("$path")
    done < <(grep -F -- "$2" <<<"$listed" || true)
    shift 2
    continue
  fi
  # A suite path is a prefix of its cases' paths.
  grep -qx -e "$1" -e "$1/.*" <<<"$listed" ||
    bail "$qtest has no case $1 (QEMU changed? update tests/upstream)"
  paths+=("$1")
  shift
done
if [ ${#paths[@]} -eq 0 ]; then
  exec "$bin" "${set_args[@]}" --tap
fi

# GLib prints a TAP plan per -p; meson takes one.  So one run per path,
# the cases numbered on across the runs and one plan at the end.
n=0 status=0
for path in "${paths[@]}"; do
  ran=0
  exec 3< <(rc=0; "$bin" "${set_args[@]}" --tap -p "$path" || rc=$?
            echo "rc $rc")
  while IFS= read -r line <&3; do
    case $line in
      "rc "*) [ "${line#rc }" != 0 ] || ran=1
              # Every case may pass and the binary still fail (its
              # teardown): say which run it was.
              [ $ran = 1 ] || echo "# $qtest -p $path exited ${line#rc }" ;;
      1..*) ;;
      "ok "* | "not ok "*)
        n=$((n + 1))
        printf '%s %d%s\n' "${line%% [0-9]*}" "$n" \
          "$(sed -E 's/^(not )?ok [0-9]+//' <<<"$line")" ;;
      *) echo "$line" ;;
    esac
  done
  exec 3<&-
  [ $ran = 1 ] || status=1
done
echo "1..$n"
exit $status
