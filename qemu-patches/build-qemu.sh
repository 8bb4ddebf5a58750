#!/usr/bin/env bash
# Builds QEMU 10.0.x from Debian trixie's source package with our patch
# series and liblimevi, and links the binary at build/qemu/.  The build is
# cached outside the tree, keyed by QEMU's version and a hash of the series,
# the library sources and this script: a second call with nothing changed
# only re-links.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATCHES=$ROOT/qemu-patches
CACHE=${LIMEVI_CACHE:-$HOME/.cache/limevi}
OUT=$ROOT/build/qemu
JOBS=${JOBS:-$(nproc)}

say() { echo "build-qemu: $*"; }
die() { echo "build-qemu: error: $*" >&2; exit 1; }

mkdir -p "$CACHE/src" "$CACHE/qemu" "$OUT"
exec 9>"$CACHE/qemu/.lock"
flock 9 || die "cannot lock $CACHE/qemu/.lock"

# 1. The source package, fetched once.
src=$(find "$CACHE/src" -maxdepth 1 -type d -name 'qemu-10.0.*' | sort -V |
      tail -n 1)
if [ -z "$src" ] || [ ! -f "$src/VERSION" ]; then
  say "fetching Debian's qemu source package (apt-get source qemu)"
  (cd "$CACHE/src" && apt-get source -q qemu) ||
    die "apt-get source qemu failed: is trixie's deb-src in apt's sources? (make deps)"
  src=$(find "$CACHE/src" -maxdepth 1 -type d -name 'qemu-*' | sort -V |
        tail -n 1)
fi
version=$(cat "$src/VERSION")
case $version in
  10.0.*) ;;
  *) die "$src is QEMU $version; this series is for 10.0.x" ;;
esac

# 2. The cache key: every input that changes the binary.
key=$version-$(
  cd "$ROOT" &&
  { cat qemu-patches/series
    while read -r p; do cat "qemu-patches/$p"; done < qemu-patches/series
    cat qemu-patches/build-qemu.sh meson.build net-backend/meson.build
    cat net-backend/*.c net-backend/*.h; } | sha256sum | cut -c1-16)
dir=$CACHE/qemu/$key
if [ -f "$dir/.done" ] && [ -x "$dir/build/qemu-system-x86_64" ]; then
  ln -sfn "$dir/build/qemu-system-x86_64" "$OUT/qemu-system-x86_64"
  say "cached: $OUT/qemu-system-x86_64 (QEMU $version, key $key)"
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"

# 3. liblimevi, staged where QEMU's pkg-config finds it.
say "building liblimevi for QEMU"
meson setup "$dir/limevi-build" "$ROOT" --prefix="$dir/stage" \
  --libdir=lib -Dbuildtype=debugoptimized >"$dir/limevi-setup.log" ||
  die "meson setup of liblimevi failed; see $dir/limevi-setup.log"
ninja -C "$dir/limevi-build" net-backend/liblimevi.a >/dev/null
meson install -C "$dir/limevi-build" --tags devel --no-rebuild >/dev/null

# 4. The series, on a pristine copy of the source.
say "applying qemu-patches/series to QEMU $version"
cp -a "$src" "$dir/src"
rm -rf "$dir/src/.pc" "$dir/src/debian"
while read -r p; do
  [ -n "$p" ] || continue
  if ! patch -d "$dir/src" -p1 --forward --batch --quiet \
         < "$PATCHES/$p" > "$dir/patch.log" 2>&1; then
    cat "$dir/patch.log" >&2
    die "patch '$p' does not apply to QEMU $version"
  fi
done < "$PATCHES/series"

# 5. A minimal x86_64 system emulator; firmware from Debian's packages.
say "configuring (log: $dir/configure.log)"
mkdir -p "$dir/build"
# ccache, with paths made relative to the cache, turns a rebuild under a
# new key (a patch or a library change) into mostly cache hits.
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache} CCACHE_BASEDIR=$dir
export CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
cc=cc
command -v ccache >/dev/null && cc="ccache cc"
(cd "$dir/build" &&
 PKG_CONFIG_PATH=$dir/stage/lib/pkgconfig ../src/configure --cc="$cc" \
   --target-list=x86_64-softmmu --python=/usr/bin/python3 \
   --without-default-features --disable-install-blobs --disable-docs \
   --disable-user --disable-werror --enable-tcg --enable-kvm \
   --enable-slirp --enable-fdt=system --enable-limevi --enable-gnutls \
   --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu \
   > "$dir/configure.log" 2>&1) ||
  { tail -n 20 "$dir/configure.log" >&2; die "configure failed"; }
say "compiling with $JOBS jobs (about 5 minutes; log: $dir/build.log)"
if ! ninja -C "$dir/build" -j "$JOBS" qemu-system-x86_64 \
       > "$dir/build.log" 2>&1; then
  grep -E 'error|FAILED' "$dir/build.log" | head -n 20 >&2
  die "compilation failed; see $dir/build.log"
fi
# Run from its build tree, QEMU looks for firmware under qemu-bundle/
# plus the configured path; point that at Debian's firmware packages.
for fw in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu; do
  mkdir -p "$(dirname "$dir/build/qemu-bundle$fw")"
  ln -sfn "$fw" "$dir/build/qemu-bundle$fw"
done
"$dir/build/qemu-system-x86_64" -netdev help | grep -qx limevi ||
  die "the built QEMU does not list the limevi netdev"

touch "$dir/.done"
# Older keys are dead weight (about 1 GB each); keep the newest few
# (LIMEVI_CACHE_KEEP, 3 by default) so that work trees on other branches
# do not rebuild each other away.
keep=${LIMEVI_CACHE_KEEP:-3}
ls -1dt "$CACHE"/qemu/*/ | tail -n +$((keep + 1)) | xargs -r rm -rf
ln -sfn "$dir/build/qemu-system-x86_64" "$OUT/qemu-system-x86_64"
say "built $OUT/qemu-system-x86_64 (QEMU $version, key $key)"
