#!/usr/bin/env bash
# Builds two of QEMU's own qtests, migration-test and netdev-socket, in the
# cached build of the patched QEMU that build-qemu.sh made (or makes now),
# links them at build/qemu/qtest/ and prints their paths.  They compile in
# seconds on top of that build.  A separate script, because build-qemu.sh
# is part of the cache key: changing it would rebuild QEMU.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LIMEVI_CACHE:-$HOME/.cache/limevi}
OUT=$ROOT/build/qemu
QTESTS="migration-test netdev-socket"

say() { echo "build-qtests: $*"; }
die() { echo "build-qtests: error: $*" >&2; exit 1; }

# build-qemu.sh knows the key; the binary's link leads to its build dir.
bash "$ROOT/qemu-patches/build-qemu.sh"
qemu=$(readlink -f "$OUT/qemu-system-x86_64") ||
  die "build-qemu.sh left no $OUT/qemu-system-x86_64"
dir=$(dirname "$qemu")
[ -f "$dir/build.ninja" ] || die "$dir is not QEMU's build directory"

# The lock keeps build-qemu.sh in another tree from pruning the build
# under us and two trees from running ninja in it at once.
exec 9>"$CACHE/qemu/.lock"
flock 9 || die "cannot lock $CACHE/qemu/.lock"
targets=
for t in $QTESTS; do targets="$targets tests/qtest/$t"; done
say "building$targets in $dir"
# shellcheck disable=SC2086  # one word per target
if ! nice -n 10 ninja -C "$dir" $targets > "$dir/qtests.log" 2>&1; then
  grep -E 'error|FAILED' "$dir/qtests.log" | head -n 20 >&2
  die "building the qtests failed; see $dir/qtests.log"
fi

mkdir -p "$OUT/qtest"
for t in $QTESTS; do
  ln -sfn "$dir/tests/qtest/$t" "$OUT/qtest/$t"
  echo "$OUT/qtest/$t"
done
