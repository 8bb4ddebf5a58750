#!/usr/bin/env bash
# make demo: a virtual cluster of three VMs on two LANs moves live from
# site A to site B over an emulated WAN (25 ms one way, 100 Mbit/s), with
# probe streams between the VMs and from a TAP endpoint, driven by
# `limevi migrate`: live progress, one switchover for all, a report.  A
# gateway at site A gives LAN back DHCP and a port forward, through which
# a client outside the VC downloads from db for the whole move.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QEMU=${LIMEVI_QEMU:-$ROOT/build/qemu/qemu-system-x86_64}
GUEST=${LIMEVI_GUEST_DIR:-$ROOT/build/guest}
ACCEL=${LIMEVI_ACCEL:-tcg}
BUILD=$ROOT/build/meson
LIMEVI=$BUILD/coordinator/limevi
WAN=$BUILD/tests/wan/limevi-wan
TAP=$BUILD/net-backend/limevi-tap
PROBE=$BUILD/tests/probe/probe
export LIMEVI_GATEWAY=$BUILD/gateway/limevi-gateway
BIG_MIB=24
PACE=262144                     # the client's bytes/s: it outlasts the move
SITES=$ROOT/tests/wan/wan-sites.sh
TAG=lvd$$
WORK=$(mktemp -d /tmp/limevi-demo.XXXXXX)
OUT=${LIMEVI_DEMO_OUT:-$ROOT/build/demo}
PIDS=()

die() { echo "demo: error: $*" >&2; exit 1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  [ -f "$WORK/vc1.conf" ] && "$LIMEVI" stop "$WORK/vc1.conf" >/dev/null 2>&1
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$SITES" down "$TAG" A B C >/dev/null 2>&1 || true
  # LIMEVI_DEMO_KEEP=1 keeps the consoles, logs and samples to look at.
  if [ "${LIMEVI_DEMO_KEEP:-0}" = 1 ]; then
    echo "demo: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$QEMU" ] || die "no QEMU at $QEMU (run 'make qemu')"
[ -f "$GUEST/initrd.img" ] || die "no guest in $GUEST (run 'make guest')"
[ "$(id -u)" = 0 ] || die "needs root for network namespaces"
KERNEL=$GUEST/vmlinux
[ -f "$KERNEL" ] || KERNEL=$GUEST/vmlinuz
mkdir -p "$OUT"

step "Three sites on an emulated WAN: A-B 25 ms one way at 100 Mbit/s"
bash "$SITES" up "$TAG" A B C
"$WAN" --help >/dev/null
ip netns exec "$TAG-wan" "$WAN" --site A=A --site B=B --site C=C \
  --default delay=10ms \
  --link A-B:delay=25ms,jitter=1ms,rate=100mbit >"$WORK/wan.json" 2>&1 &
PIDS+=($!)

# A VM: its QEMU line (limevi adds -netdev limevi, the NIC, QMP and
# -daemonize); the guest starts its probes from the kernel command line.
vm() {
  local name=$1 lan=$2 ip=$3 mac=$4 port=$5 runs=$6
  cat <<VM
[vm $name]
host = a1
lan = $lan
mac = $mac
memory = 256
port = $port
qemu = $QEMU -machine pc -accel $ACCEL -cpu max -m \${memory} -nodefaults -no-user-config -display none -kernel $KERNEL -initrd $GUEST/initrd.img -append "console=ttyS0 quiet no_timer_check limevi.ip=$ip limevi.name=$name $runs" -serial file:\${run_dir}/\${vm}.log

VM
}

# The VC's key: every tunnel packet of the VC is sealed with it.
head -c 32 /dev/urandom > "$WORK/vc1.key"
# The VC's certificates: its migration streams (RAM, disks) run over TLS,
# each end checking the other's against the VC's own CA.
"$ROOT/scripts/tls-certs.sh" "$WORK/tls" vc1 198.18.0.1 198.18.0.2

cat > "$WORK/vc1.conf" <<CONF
# The demo's VC: web and app on LAN front, db on LAN back.
[vc]
name = vc1
lans = front;back
key = vc1.key
tls = tls

[host a1]
site = A
address = 198.18.0.1
netns = $TAG-A
run-dir = $WORK/a1

[host b1]
site = B
address = 198.18.0.2
netns = $TAG-B
run-dir = $WORK/b1

$(vm web front 198.18.10.1/24 52:54:00:18:0a:01 7001 \
  "limevi.run=probe,recv,--port,7000,--senders,2,--rcvbuf,16777216,--timeout-ms,120000")
$(vm app front 198.18.10.2/24 52:54:00:18:0a:02 7002 \
  "limevi.run=probe,send,--to,198.18.10.1:7000,--rate,1000,--count,75000,--id,app,--delay-ms,3000,--wait-peer-ms,60000")
$(vm db back dhcp:198.19.0.15 52:54:00:18:14:01 7003 \
  "limevi.run=dd,if=/dev/zero,of=/tmp/big,bs=1M,count=$BIG_MIB limevi.run=httpd,-p,80,-h,/tmp")

# LAN back's way in and out: it stays at site A when the VC moves.
[gateway gw]
host = a1
lan = back
port = 7050
net = 198.19.0.0/24
forwards = tcp:198.18.0.1:8080-198.19.0.15:80
CONF
echo "  VC file: $WORK/vc1.conf"

step "Starting the VC at site A"
"$LIMEVI" start "$WORK/vc1.conf"
# A TAP endpoint at site A joins LAN front, as a host tool would.
ip netns exec "$TAG-A" "$TAP" --tap lvdemo0 --vm tap --vc vc1 --lan front \
  --listen 198.18.0.1:7100 --route web=198.18.0.1:7001 \
  --route app=198.18.0.1:7002 --key-file "$WORK/vc1.key" \
  >"$WORK/tap.log" 2>&1 &
PIDS+=($!)
for i in $(seq 50); do
  ip -n "$TAG-A" link show lvdemo0 >/dev/null 2>&1 && break
  sleep 0.1
done
ip -n "$TAG-A" addr add 198.18.10.100/24 dev lvdemo0
ip -n "$TAG-A" link set lvdemo0 up
# The VMs learn where the TAP endpoint is; it moves with them that way.
"$LIMEVI" route-set "$WORK/vc1.conf" web tap 198.18.0.1:7100
"$LIMEVI" route-set "$WORK/vc1.conf" app tap 198.18.0.1:7100
for vm in web app db; do
  for i in $(seq 600); do
    grep -q '@@LIMEVI-READY' "$WORK/a1/$vm.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '@@LIMEVI-READY' "$WORK/a1/$vm.log" || die "$vm did not boot"
done
echo "  web, app and db are up; for 75 s app streams 1000 frames/s to web,"
echo "  and a TAP endpoint at site A 500 frames/s"
ip netns exec "$TAG-A" "$PROBE" send --to 198.18.10.1:7000 --rate 500 \
  --count 37500 --id tap --wait-peer-ms 60000 >"$WORK/tap-send.json" 2>&1 &
PIDS+=($!)
# A client outside the VC, at site A, downloads from db through the
# gateway's forward, paced so that it runs through the whole move; once
# db's file is whole (the guest writes it at boot).
want=$((BIG_MIB * 1024 * 1024))
whole=0
for i in $(seq 120); do
  ip netns exec "$TAG-A" curl -sI --max-time 2 http://198.18.0.1:8080/big 2>/dev/null |
    tr -d '\r' | grep -qix "content-length: $want" && { whole=1; break; }
  sleep 0.5
done
[ "$whole" = 1 ] || die "db's file never reached $BIG_MIB MiB through the forward"
# Read at an even pace from a small receive buffer (probe get), so that
# the file stops growing only when the network does: curl --limit-rate
# reads all its socket holds, megabytes, then sleeps 20-40 s to make up.
ip netns exec "$TAG-A" "$PROBE" get --to 198.18.0.1:8080 --path /big \
  --rate $PACE --out "$WORK/big" --timeout-ms 60000 \
  >"$WORK/client.out" 2>"$WORK/client.err" &
CLIENT=$!
PIDS+=($CLIENT)
# What the client would feel: the file's size every 50 ms, for at most
# 150 s, so that its longest stall can be told before, during and after
# the move.
ms() { echo $(($(date +%s%N) / 1000000)); }
(
  for i in $(seq 3000); do
    kill -0 $CLIENT 2>/dev/null || break
    echo "$(ms) $(stat -c %s "$WORK/big" 2>/dev/null || echo 0)"
    sleep 0.05
  done
) >"$WORK/sizes" &
SAMPLER=$!
PIDS+=($SAMPLER)
echo "  a client at site A downloads $BIG_MIB MiB from db through the gateway's"
echo "  forward 198.18.0.1:8080, at $((PACE / 1024)) KiB/s"
sleep 3
"$LIMEVI" status "$WORK/vc1.conf" || die "limevi status failed before the move"

step "limevi migrate vc1 --to B"
move_from=$(ms)
"$LIMEVI" migrate "$WORK/vc1.conf" --to B --bandwidth 100 \
  --journal "$WORK/journal.db" \
  --report "$OUT/report.json" --svg "$OUT/timeline.svg"
move_to=$(ms)
client_at_move=$(stat -c %s "$WORK/big" 2>/dev/null || echo 0)

# What each QEMU's query-migrate-parameters said during the move.
echo "  migration streams over TLS (tls-creds read back from both QEMUs):"
python3 - "$OUT/report.json" <<'PY' || die "a migration stream ran in plain TCP"
import json, sys
plain = 0
for vm in json.load(open(sys.argv[1]))["vms"]:
    src, dst = vm["tls_creds_source"], vm["tls_creds_destination"]
    print(f"    {vm['vm']}: source {src or 'NONE'}, destination {dst or 'NONE'}")
    plain += not (src and dst)
sys.exit(plain)
PY

step "After the move"
"$LIMEVI" status "$WORK/vc1.conf" || die "limevi status failed after the move"

step "The client outside the VC"
wait $CLIENT || die "the client's download failed: $(cat "$WORK/client.err")"
got=$(grep -o '"bytes":[0-9]*' "$WORK/client.out" | cut -d: -f2)
secs=$(grep -o '"duration_ms":[0-9]*' "$WORK/client.out" | cut -d: -f2)
secs=$((secs / 1000))
[ "$got" = "$want" ] || die "the client got $got bytes of $want"
[ "$client_at_move" -lt "$want" ] ||
  die "the download ended before the move did: it proves nothing"
[ "$(head -c "$want" /dev/zero | sha256sum)" = "$(sha256sum < "$WORK/big")" ] ||
  die "the client's file differs from db's"
echo "  $got of $want bytes in $secs s, with the checksum of db's file; the"
echo "  connection was never reset, and was still open when the move ended"
echo "  ($client_at_move bytes in by then)"
wait $SAMPLER
# The longest time the file did not grow, in a stall that overlapped the
# move, in one before it and in one after it: the sampling's 50 ms and
# the pace's make the latter two.
awk -v from="$move_from" -v to="$move_to" '
  NR == 1 { since = $1 }
  NR > 1 && $2 > last {
    gap = $1 - since
    if ($1 > from && since < to) { if (gap > during) during = gap }
    else if (since < from) { if (gap > before) before = gap }
    else if (gap > after) after = gap
    since = $1 }
  { last = $2 }
  END { printf "  longest stall: %d ms during the move, %d ms before it, " \
        "%d ms after it\n", during, before, after }' "$WORK/sizes"

step "What web's receiver counted when the streams ended (per sender)"
for i in $(seq 1200); do
  [ "$(grep -c '"received"' "$WORK/b1/web.log" 2>/dev/null)" -ge 2 ] && break
  sleep 0.1
done
grep '"received"' "$WORK/b1/web.log" | sed 's/^/  /' ||
  die "no probe result in web's console ($WORK/b1/web.log)"
# The verdict: each sender's every frame arrived once, in order.
verdict() {
  local id=$1 count=$2 line
  line=$(grep -o "{\"sender\":\"$id\"[^}]*}" "$WORK/b1/web.log" | tail -n 1)
  [ -n "$line" ] || die "web's receiver reported nothing from $id"
  field() { printf '%s' "$line" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
  [ "$(field received)" = "$count" ] && [ "$(field lost)" = 0 ] &&
    [ "$(field duplicated)" = 0 ] && [ "$(field reordered)" = 0 ] ||
    die "the stream from $id was not whole: $line"
}
verdict app 75000
verdict tap 37500
# A receiver that reported at A finished before the switchover, and its
# clean count would then say nothing about the move.
! grep -q '"received"' "$WORK/a1/web.log" ||
  die "web's receiver finished at site A, before the switchover"
echo "  both streams outlasted the move: web's receiver reported at site B"
echo
echo "  report: $OUT/report.json, timeline: $OUT/timeline.svg"
step "Done: the VC moved from site A to site B with one switchover, every frame delivered once and in order, and the client outside the VC kept its connection"
