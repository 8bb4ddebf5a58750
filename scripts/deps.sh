#!/usr/bin/env bash
# Install what LimeVI needs to build and test on Debian 12, idempotently:
# apt sources (deb-src, bookworm-backports, trixie deb-src) and packages.
# A second run with everything present does no network access.
set -euo pipefail

SRC=/etc/apt/sources.list.d/limevi.sources
STAMP=/var/lib/limevi/deps.stamp
PKGS=(
  build-essential pkg-config ninja-build dpkg-dev python3 python3-venv
  libglib2.0-dev libjson-glib-dev libsqlite3-dev libgnutls28-dev
  libslirp-dev libfdt-dev libpixman-1-dev zlib1g-dev
  seabios ipxe-qemu qemu-system-data
  busybox-static cpio kmod iproute2 iputils-ping curl
  file xz-utils zstd ccache
  iperf3 valgrind linux-perf gnutls-bin
  # make fuzz: clang, libFuzzer and the sanitizers' runtimes, and
  # llvm-symbolizer for their stack traces.
  clang libclang-rt-14-dev llvm
)
# libvirt 11 (not bookworm's 9): switchover-ack through migrations it runs.
# qemu-utils 10 (with QEMU 10): qemu-img makes and checks local disks.
BACKPORTS_PKGS=(meson libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu qemu-utils
  libvirt-clients)

# The stamp records the package list; it changes when the list does.
want="$(printf '%s\n' "${PKGS[@]}" "${BACKPORTS_PKGS[@]}" | sha256sum | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f "$SRC" ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "deps: needs root to install packages (run as root or with sudo)" >&2
  exit 1
fi

if [ ! -f "$SRC" ]; then
  cat > "$SRC" <<'SOURCES'
# Added by LimeVI scripts/deps.sh: sources for Debian packages we build from.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS_PKGS[@]}"
mkdir -p "$(dirname "$STAMP")"
echo "$want" > "$STAMP"
