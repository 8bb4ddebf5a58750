#!/usr/bin/env bash
# bench/datapath-guests: two patched-QEMU guests streaming UDP to each
# other over three paths, in one run (docs/bench-datapath.md):
#   limevi   -netdev limevi to -netdev limevi over loopback, with a VC key
#   dgram    QEMU's own -netdev dgram pair over loopback (no LimeVI)
#   vxlan    -netdev tap on a bridge with kernel VXLAN, across a veth
#            between two namespaces: how VMs are joined without LimeVI
# In each, guest a sends SIZE-byte datagrams as fast as it can (COUNT of
# them) and guest b counts what arrived; reported: datagrams and Mbit/s
# received, the sender's rate, and the ratio to vxlan.  The guests run
# under TCG here, so every path is bounded by the guests' CPU, not by the
# path: the ratios say what the path costs on top of that, no more.
# Some 2 minutes, as root:
#
#   bench/datapath-guests.sh [--json FILE] [--count N] [--size BYTES]
#
# LIMEVI_QEMU and LIMEVI_GUEST_DIR override the QEMU and the guest image
# (make qemu guest builds them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QEMU=${LIMEVI_QEMU:-$ROOT/build/qemu/qemu-system-x86_64}
GUEST=${LIMEVI_GUEST_DIR:-$ROOT/build/guest}
JSON= COUNT=40000 SIZE=1400
while [ $# -gt 0 ]; do
  case $1 in
    --json) JSON=${2:?--json needs FILE}; shift 2 ;;
    --count) COUNT=${2:?}; shift 2 ;;
    --size) SIZE=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "datapath-guests: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $COUNT$SIZE in *[!0-9]*) echo "datapath-guests: --count and --size" \
  "take numbers" >&2; exit 2 ;; esac
[ -x "$QEMU" ] && [ -f "$GUEST/vmlinux" ] || {
  echo "datapath-guests: no $QEMU or $GUEST/vmlinux (make qemu guest)" >&2
  exit 1; }

A=lvgp-a B=lvgp-b
OUT=$(mktemp -d /tmp/lvgp.XXXXXX)
cleanup() {
  local ns
  for ns in $A $B; do
    ip netns pids $ns 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del $ns 2>/dev/null || true
  done
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add $A
ip netns add $B
for ns in $A $B; do ip netns exec $ns ip link set lo up; done
ip link add lvgp-va netns $A mtu 1600 type veth peer name lvgp-vb netns $B \
    mtu 1600
ip netns exec $A ip addr add 198.18.110.1/24 dev lvgp-va
ip netns exec $B ip addr add 198.18.110.2/24 dev lvgp-vb
for side in a:$A:1:2 b:$B:2:1; do
  IFS=: read -r s ns me peer <<< "$side"
  ip netns exec $ns ip link set lvgp-v$s up
  ip netns exec $ns ip link add lvgp-vx type vxlan id 4343 dstport 4789 \
      local 198.18.110.$me remote 198.18.110.$peer dev lvgp-v$s
  ip netns exec $ns ip link add lvgp-br type bridge
  ip netns exec $ns ip tuntap add dev lvgp-tap mode tap
  ip netns exec $ns ip link set lvgp-vx master lvgp-br
  ip netns exec $ns ip link set lvgp-tap master lvgp-br
  for dev in lvgp-vx lvgp-br lvgp-tap; do
    ip netns exec $ns ip link set $dev mtu 1500 up
  done
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$OUT/vc.key"

# qemu NS NAME IP NETDEV RUN: a guest whose console goes to $OUT/NAME.log.
qemu() {
  local ns=$1 name=$2 ip=$3 netdev=$4 run=$5 mac
  mac=52:54:00:18:6e:$([ "${name: -1}" = a ] && echo 01 || echo 02)
  ip netns exec "$ns" "$QEMU" -machine pc -accel tcg -cpu max -m 128 \
      -nodefaults -no-user-config -display none -no-reboot \
      -kernel "$GUEST/vmlinux" -initrd "$GUEST/initrd.img" \
      -append "console=ttyS0 quiet no_timer_check limevi.ip=$ip/24 limevi.name=$name limevi.run=$run" \
      -object secret,id=k0,file="$OUT/vc.key" \
      -netdev "$netdev" -device virtio-net-pci,netdev=n0,mac=$mac \
      -serial file:"$OUT/$name.log" > "$OUT/$name.err" 2>&1 &
  echo $! > "$OUT/$name.pid"
}

# measure PATH NETDEV_A NETDEV_B [NS_B]: one stream a -> b.
measure() {
  local path=$1 na=$2 nb=$3 nsb=${4:-$A} i
  qemu $nsb "$path-b" 198.18.120.2 "$nb" \
      "probe,recv,--port,7000,--senders,1,--timeout-ms,60000"
  qemu $A "$path-a" 198.18.120.1 "$na" \
      "probe,send,--to,198.18.120.2:7000,--rate,1000000,--count,$COUNT,--size,$SIZE,--id,a,--wait-peer-ms,90000"
  # Bounded: boot, the receiver's echo, the stream, 180 s in all.
  for i in $(seq 1 1800); do
    grep -q '"received"' "$OUT/$path-b.log" 2>/dev/null && break
    sleep 0.1
  done
  sleep 0.5
  kill "$(cat "$OUT/$path-a.pid")" "$(cat "$OUT/$path-b.pid")" \
      2>/dev/null || true
  wait 2>/dev/null || true
  echo "datapath-guests: $path done" >&2
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
echo "datapath-guests: load average at start: $LOAD0" >&2
measure limevi \
  "limevi,id=n0,vm=a,vc=vc1,lan=lan1,listen=127.0.0.1:7301,routes.0.vm=b,routes.0.endpoint=127.0.0.1:7302,key-secret=k0" \
  "limevi,id=n0,vm=b,vc=vc1,lan=lan1,listen=127.0.0.1:7302,routes.0.vm=a,routes.0.endpoint=127.0.0.1:7301,key-secret=k0"
measure dgram \
  "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=7311,remote.type=inet,remote.host=127.0.0.1,remote.port=7312" \
  "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=7312,remote.type=inet,remote.host=127.0.0.1,remote.port=7311"
measure vxlan "tap,id=n0,ifname=lvgp-tap,script=no,downscript=no" \
  "tap,id=n0,ifname=lvgp-tap,script=no,downscript=no" $B
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
echo "datapath-guests: load average at end: $LOAD1" >&2

python3 - "$OUT" "$LOAD0" "$LOAD1" "$(( $(date +%s) - START ))" \
    "$(nproc)" "$SIZE" "$COUNT" "$JSON" <<'EOF'
import json, sys
out, load0, load1, elapsed, nproc, size, count, json_out = sys.argv[1:9]
size, count = int(size), int(count)

def line(path, key):
    try:
        for l in open(f"{out}/{path}.log", errors="replace"):
            l = l.strip()
            if l.startswith("{") and key in l:
                return json.loads(l)
    except (OSError, ValueError):
        pass
    return None

rows = []
for p in ("limevi", "dgram", "vxlan"):
    s, r = line(f"{p}-a", '"sent"'), line(f"{p}-b", '"received"')
    row = {"path": p}
    if s and r and s.get("duration_ms"):
        secs = s["duration_ms"] / 1000
        row.update(sent=s["sent"], received=r["received"], lost=r["lost"],
                   rcvbuf_errors=r.get("rcvbuf_errors"),
                   send_pps=s["sent"] / secs,
                   rx_mbps=r["received"] * size * 8 / secs / 1e6)
    rows.append(row)
base = rows[2].get("rx_mbps")
print(f"datapath-guests: load average {load0} at start, {load1} at end; "
      f"{nproc} CPUs; {elapsed} s; TCG guests; {count} datagrams of "
      f"{size} bytes")
print("| path | sent/s (guest a) | received | lost | guest RcvbufErrors "
      "| Mbit/s received | x vxlan |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    if "rx_mbps" not in r:
        print(f"| {r['path']} | failed: no result in its guests' consoles "
              "| | | | | |")
        continue
    ratio = r["rx_mbps"] / base if base else None
    print(f"| {r['path']} | {r['send_pps']:,.0f} | {r['received']:,} "
          f"| {r['lost']:,} | {r['rcvbuf_errors']} | {r['rx_mbps']:.1f} "
          f"| {'-' if ratio is None else format(ratio, '.2f')} |")
if json_out:
    with open(json_out, "w") as f:
        json.dump({"load_average": {"start": load0, "end": load1},
                   "cpus": int(nproc), "elapsed_s": int(elapsed),
                   "size": size, "count": count, "paths": rows}, f,
                  indent=1)
if any("rx_mbps" not in r for r in rows):
    sys.exit(1)
EOF
