#!/usr/bin/env bash
# Builds the test guest: OUTDIR/vmlinuz (Debian's kernel package, fetched
# with apt-get download, never installed), OUTDIR/vmlinux (the same kernel
# decompressed, booted through its PVH entry point) and OUTDIR/initrd.img
# (busybox-static, the virtio-net and virtio-blk modules, our probe and
# tests/guest/init).
# Idempotent: the extracted kernel is cached, the initrd rebuilt only when
# one of its inputs changed.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 OUTDIR PROBE_BINARY" >&2
  exit 2
fi
OUTDIR=$1
PROBE=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${LIMEVI_CACHE:-$HOME/.cache/limevi}/guest
BUSYBOX=/bin/busybox
# virtio_net and virtio_blk are modular in Debian; modprobe adds what
# these depend on (virtio, virtio_ring, virtio_pci_*_dev, failover,
# net_failover).  virtio_blk: the optional disk (probe disk).
MODULES=(virtio_pci virtio_net virtio_blk)

die() { echo "build-image: $*" >&2; exit 1; }

# Writes the ELF kernel inside bzImage $1 to $2.  QEMU boots an ELF with
# a PVH note directly: under TCG that skips some 3 s of decompression.
# Tries each xz or zstd magic, as the kernel's extract-vmlinux does.
extract_vmlinux() {
  local off
  for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | cut -d: -f1); do
    tail -c +$((off + 1)) "$1" | xz -dcq > "$2" 2>/dev/null || true
    [ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] && return 0
  done
  for off in $(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$1" | cut -d: -f1); do
    tail -c +$((off + 1)) "$1" | zstd -dcq > "$2" 2>/dev/null || true
    [ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] && return 0
  done
  rm -f "$2"
  return 1
}

[ -x "$PROBE" ] || die "no probe binary at $PROBE (run 'make build')"
file -L "$PROBE" 2>/dev/null | grep -q 'statically linked' ||
  die "$PROBE is not statically linked"
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (apt-get install busybox-static)"
for tool in cpio file xz zstd; do
  command -v $tool >/dev/null || die "$tool missing (run 'make deps')"
done

# The kernel that linux-image-amd64 currently points at, e.g.
# linux-image-6.1.0-56-amd64 at version 6.1.192-2.
kpkg=$(apt-cache depends linux-image-amd64 |
       awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
kver_pkg=$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')
kver=${kpkg#linux-image-}
modhash=$(printf '%s\n' "${MODULES[@]}" | sha256sum | cut -c1-8)
kdir=$CACHE/$kpkg-$kver_pkg-$modhash

# Cache only the kernel and the resolved modules (the full package
# unpacks to some 400 MB): load order is resolved once, here.
if [ ! -f "$kdir/modules.order" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "build-image: fetching $kpkg $kver_pkg"
  # _apt cannot write to a private mktemp dir; download as ourselves.
  if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root \
          "$kpkg=$kver_pkg"); then
    apt-get update -qq
    (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root \
       "$kpkg=$kver_pkg")
  fi
  dpkg-deb -x "$tmp"/"$kpkg"_*.deb "$tmp/root"
  # The package ships no modules.dep: dpkg's postinst makes it.
  depmod -b "$tmp/root" "$kver"
  rm -rf "$kdir.new"
  mkdir -p "$kdir.new/modules"
  cp "$tmp/root/boot/vmlinuz-$kver" "$kdir.new/vmlinuz"
  : > "$kdir.new/modules.order"
  # "insmod /path/x.ko[.xz]" lines in load order; builtins are skipped.
  modprobe -d "$tmp/root" -S "$kver" --show-depends -a "${MODULES[@]}" |
  awk '$1 == "insmod" { print $2 }' | while read -r path; do
    name=$(basename "$path")
    case $name in
      *.ko.xz) xz -dc "$path" > "$kdir.new/modules/${name%.xz}" ;;
      *.ko.zst) zstd -qdc "$path" > "$kdir.new/modules/${name%.zst}" ;;
      *.ko) cp "$path" "$kdir.new/modules/$name" ;;
      *) die "unexpected module file $path" ;;
    esac
    name=${name%.xz}; name=${name%.zst}
    # modprobe lists a module once per dependent; keep the first.
    grep -qx "$name" "$kdir.new/modules.order" ||
      echo "$name" >> "$kdir.new/modules.order"
  done
  grep -q '^virtio_net.ko$' "$kdir.new/modules.order" ||
    die "virtio_net.ko not found in $kpkg"
  rm -rf "$kdir"
  mv "$kdir.new" "$kdir"
  rm -rf "$tmp"
  trap - EXIT
fi
# Also for caches made before vmlinux was.
if [ ! -f "$kdir/vmlinux" ]; then
  extract_vmlinux "$kdir/vmlinuz" "$kdir/vmlinux.new" ||
    die "no xz or zstd ELF kernel inside $kdir/vmlinuz"
  mv "$kdir/vmlinux.new" "$kdir/vmlinux"
fi

mkdir -p "$OUTDIR"
stamp=$(cat "$HERE/init" "$PROBE" "$BUSYBOX" "$kdir/modules.order" |
        sha256sum | cut -c1-16)-$(basename "$kdir")
if [ -f "$OUTDIR/initrd.img" ] && [ -f "$OUTDIR/vmlinuz" ] &&
   [ -f "$OUTDIR/vmlinux" ] &&
   [ "$(cat "$OUTDIR/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,lib/modules}
cp "$BUSYBOX" "$root/bin/busybox"
cp "$PROBE" "$root/bin/probe"
cp "$HERE/init" "$root/init"
chmod 755 "$root/init" "$root/bin/probe"
cp "$kdir"/modules/*.ko "$kdir/modules.order" "$root/lib/modules/"
# /dev/console comes from the kernel's built-in initramfs.
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
  gzip -1 > "$OUTDIR/initrd.img.new"
cp "$kdir/vmlinuz" "$OUTDIR/vmlinuz.new"
cp "$kdir/vmlinux" "$OUTDIR/vmlinux.new"
mv "$OUTDIR/vmlinuz.new" "$OUTDIR/vmlinuz"
mv "$OUTDIR/vmlinux.new" "$OUTDIR/vmlinux"
mv "$OUTDIR/initrd.img.new" "$OUTDIR/initrd.img"
echo "$stamp" > "$OUTDIR/.stamp"
echo "build-image: $OUTDIR/vmlinu[xz], $OUTDIR/initrd.img ($(basename "$kdir"))"
