#!/usr/bin/env bash
# make demo: two emulated hosts (network namespaces joined by a veth link,
# 198.18.0.1 and 198.18.0.2), one patched QEMU on each, and their guests
# talking over LimeVI tunnels: a ping, a probe stream, the netdevs' view.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QEMU=${LIMEVI_QEMU:-$ROOT/build/qemu/qemu-system-x86_64}
GUEST=${LIMEVI_GUEST_DIR:-$ROOT/build/guest}
ACCEL=${LIMEVI_ACCEL:-tcg}
TAG=lvdemo$$
WORK=$(mktemp -d /tmp/limevi-demo.XXXXXX)
PIDS=()

die() { echo "demo: error: $*" >&2; exit 1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$TAG-a" 2>/dev/null || true
  ip netns del "$TAG-b" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$QEMU" ] || die "no QEMU at $QEMU (run 'make qemu')"
# PVH direct boot of the ELF kernel skips decompression: faster under TCG.
KERNEL=$GUEST/vmlinux
[ -f "$KERNEL" ] || KERNEL=$GUEST/vmlinuz
[ -f "$KERNEL" ] || die "no guest in $GUEST (run 'make guest')"
[ "$(id -u)" = 0 ] || die "needs root for network namespaces"

step "Two emulated hosts: namespaces $TAG-a (198.18.0.1) and $TAG-b (198.18.0.2)"
ip netns add "$TAG-a"
ip netns add "$TAG-b"
ip link add "$TAG-a" type veth peer name "$TAG-b"
ip link set "$TAG-a" netns "$TAG-a"
ip link set "$TAG-b" netns "$TAG-b"
for h in a b; do
  n=$([ $h = a ] && echo 1 || echo 2)
  ip -n "$TAG-$h" link set lo up
  ip -n "$TAG-$h" addr add "198.18.0.$n/24" dev "$TAG-$h"
  ip -n "$TAG-$h" link set "$TAG-$h" up
done

# start_vm NAME HOST GUEST_IP MAC NETDEV_OPTIONS
# The serial console and the monitor are FIFO pairs (NAME.in/NAME.out).
start_vm() {
  local name=$1 host=$2 ip=$3 mac=$4 netdev=$5
  for f in "$name.con" "$name.mon"; do
    mkfifo "$WORK/$f.in" "$WORK/$f.out"
  done
  ip netns exec "$TAG-$host" "$QEMU" -machine pc -accel "$ACCEL" -cpu max \
    -m 256 -nodefaults -no-user-config -display none \
    -kernel "$KERNEL" -initrd "$GUEST/initrd.img" \
    -append "console=ttyS0 quiet limevi.ip=$ip/24 limevi.name=$name" \
    -chardev "pipe,id=con,path=$WORK/$name.con" -serial chardev:con \
    -chardev "pipe,id=mon,path=$WORK/$name.mon" -mon chardev=mon \
    -netdev "limevi,id=n0,$netdev" \
    -device "virtio-net-pci,netdev=n0,mac=$mac" \
    2> "$WORK/$name.err" &
  PIDS+=($!)
}

# expect FIFO PATTERN SECONDS: read until a line matches; print the lines.
expect() {
  local fifo=$1 pattern=$2 deadline=$((SECONDS + $3)) line
  while [ $SECONDS -lt $deadline ]; do
    if IFS= read -r -t 1 line < "$fifo"; then
      line=${line%$'\r'}
      [[ $line =~ $pattern ]] && { LAST=$line; return 0; }
      [[ $line == @@* ]] || echo "    $line"
    fi
  done
  return 1
}

# guest NAME COMMAND [SECONDS]: runs COMMAND in the guest, shows its output.
SEQ=0
guest() {
  local name=$1 cmd=$2 t=${3:-30}
  SEQ=$((SEQ + 1))
  echo "  [$name]\$ $cmd"
  echo "$SEQ $cmd" > "$WORK/$name.con.in"
  expect "$WORK/$name.con.out" "^@@LIMEVI-END $SEQ " "$t" ||
    die "$name: '$cmd' did not finish in ${t}s"
  [ "${LAST##* }" = 0 ] || die "$name: '$cmd' failed (status ${LAST##* })"
}

monitor() {
  local name=$1 cmd=$2
  echo "$cmd" > "$WORK/$name.mon.in"
  sleep 0.5
  timeout 1 cat "$WORK/$name.mon.out" | tr -d '\r' |
    grep -v '^(qemu)\|QEMU .* monitor' | sed 's/^/    /' || true
}

step "Booting vm1 on host a and vm2 on host b (VC vc1, LAN lan1, under $ACCEL)"
start_vm vm1 a 198.18.10.1 52:54:00:18:10:01 \
  "vm=vm1,vc=vc1,lan=lan1,listen=198.18.0.1:7001,routes.0.vm=vm2,routes.0.endpoint=198.18.0.2:7001"
start_vm vm2 b 198.18.10.2 52:54:00:18:10:02 \
  "vm=vm2,vc=vc1,lan=lan1,listen=198.18.0.2:7001,routes.0.vm=vm1,routes.0.endpoint=198.18.0.1:7001"
# Hold the FIFOs open both ways so neither side ever sees EOF.
for n in vm1 vm2; do
  for f in con mon; do
    exec {fd}<>"$WORK/$n.$f.out"; exec {fd}<>"$WORK/$n.$f.in"
  done
done
start=$SECONDS
for n in vm1 vm2; do
  expect "$WORK/$n.con.out" '^@@LIMEVI-READY' 120 ||
    die "$n did not boot: $(cat "$WORK/$n.err")"
done
echo "  both guests up in $((SECONDS - start)) s"

step "vm1 pings vm2 through the tunnel between the hosts"
guest vm1 "ping -c 5 -W 2 198.18.10.2"

step "A probe stream vm1 -> vm2: 5000 datagrams at 1000/s"
guest vm2 "probe recv --port 7000 --senders 1 --timeout-ms 15000 --ready-file /tmp/ready > /tmp/recv.json 2>&1 &"
guest vm2 "i=0; while [ ! -e /tmp/ready ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i+1)); done; [ -e /tmp/ready ]"
guest vm1 "probe send --to 198.18.10.2:7000 --rate 1000 --count 5000 --id vm1" 60
guest vm2 "wait; cat /tmp/recv.json" 30

step "What the netdevs saw (HMP 'info limevi')"
echo "  host a:"; monitor vm1 "info limevi"
echo "  host b:"; monitor vm2 "info limevi"

step "Done: guests on two hosts exchanged traffic over LimeVI tunnels"
