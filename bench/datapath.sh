#!/usr/bin/env bash
# bench/datapath: the tunnel data path side by side with the kernel's, in
# one run (docs/bench-datapath.md).  Two namespaces joined by a veth (MTU
# 1600); across it, these paths with the same inner MTU (1500):
#   veth      the bare veth (the limit)
#   vxlan     kernel VXLAN over the veth
#   limevi    limevi-tap to limevi-tap over the veth (TAP offloads: TSO
#             super-frames cut to the MTU by limevi-tap)
#   limevi-nooff  the same with --no-offload: one MTU-size frame a read()
#   limevi-nogso  TAP offloads, but --no-udp-gso: each datagram of a batch
#             sent on its own (the path before UDP GSO/GRO)
#   bare-fwd  bench/datapath-bare to itself: the same syscalls per frame
#             as limevi-tap with no library (what one-frame-per-syscall
#             reaches at best)
# Each: TCP throughput (iperf3), the 64-byte UDP rate at a high offered
# rate (received pps, loss), ping RTT p50/p99 (200 pings, -i 0.01), CPU
# seconds per GB.  Then where limevi-tap's time goes (perf record, TCP)
# and its user-space instructions per frame against datapath-bare's
# (valgrind callgrind: this VM has no hardware counters for perf stat).
# Some 2 minutes, as root:
#
#   bench/datapath.sh [--json FILE] [--tcp-seconds N] [--udp-seconds N]
#                     [--insecure]
#
# limevi-tap runs with a VC key, as users run it (every packet sealed);
# --insecure runs it without, as the bare forwarder does.
# LIMEVI_BUILD (the meson build directory), LIMEVI_TAP and
# LIMEVI_DATAPATH_BARE override where the programs are.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${LIMEVI_BUILD:-$ROOT/build/meson}
TAP=${LIMEVI_TAP:-$BUILD/net-backend/limevi-tap}
BARE=${LIMEVI_DATAPATH_BARE:-$BUILD/bench/datapath-bare}
JSON=
TCP_S=4
UDP_S=3
PINGS=200
KEYED=1

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --json) JSON=${2:?--json needs FILE}; shift 2 ;;
    --tcp-seconds) TCP_S=${2:?}; shift 2 ;;
    --udp-seconds) UDP_S=${2:?}; shift 2 ;;
    --insecure) KEYED=; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "datapath: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for t in iperf3 ip ping python3 perf valgrind; do
  command -v "$t" >/dev/null ||
    { echo "datapath: needs $t (scripts/deps.sh installs it)" >&2; exit 2; }
done
for p in "$TAP" "$BARE"; do
  [ -x "$p" ] || { echo "datapath: no $p (run 'make build')" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "datapath: needs root (namespaces)" >&2; exit 2; }

A=lvedp-a
B=lvedp-b
# Names as limevi-tap puts them in every header: 24 + 3 + 4 + 1 + 1 bytes,
# which datapath-bare prepends too.
VC=vc1 LAN=lan1 HDR=33
OUT=$(mktemp -d /tmp/lvedp.XXXXXX)
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # $! of a backgrounded ina/inb is the subshell, not what it ran (the
  # iperf3 server): whatever still runs in our namespaces goes too.
  ip netns pids $A 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns pids $B 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del $A 2>/dev/null || true
  ip netns del $B 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$KEYED" ]; then
  head -c 32 /dev/urandom > "$OUT/vc.key"
  KEY_ARGS=(--key-file "$OUT/vc.key")
else
  KEY_ARGS=(--insecure)
fi

ina() { ip netns exec $A "$@"; }
inb() { ip netns exec $B "$@"; }

# Utime + stime of PIDs, in clock ticks.
ticks() {
  local sum=0 p f
  for p in "$@"; do
    f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    sum=$((sum + ${f% *} + ${f#* }))
  done
  echo $sum
}
# Busy ticks of the whole machine (every job on it), from /proc/stat.
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

setup() {
  local ns
  ip netns add $A
  ip netns add $B
  for ns in $A $B; do
    ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
    ip netns exec $ns ip link set lo up
  done
  ip link add lvedp-va netns $A mtu 1600 type veth \
      peer name lvedp-vb netns $B mtu 1600
  ina ip addr add 198.18.100.1/24 dev lvedp-va
  inb ip addr add 198.18.100.2/24 dev lvedp-vb
  ina ip link set lvedp-va up
  inb ip link set lvedp-vb up
  ina ip link add lvedp-vx mtu 1500 type vxlan id 4242 local 198.18.100.1 \
      remote 198.18.100.2 dstport 4789 dev lvedp-va
  inb ip link add lvedp-vx mtu 1500 type vxlan id 4242 local 198.18.100.2 \
      remote 198.18.100.1 dstport 4789 dev lvedp-vb
  # Persistent TAPs: an endpoint restarted under valgrind finds its
  # addresses and counters where they were.
  for ns in $A $B; do
    ip netns exec $ns ip tuntap add dev lvedp-lv mode tap
    ip netns exec $ns ip tuntap add dev lvedp-bf mode tap
    ip netns exec $ns ip tuntap add dev lvedp-ln mode tap
    ip netns exec $ns ip tuntap add dev lvedp-lg mode tap
  done
  addr $A lvedp-vx 198.18.101.1
  addr $B lvedp-vx 198.18.101.2
  addr $A lvedp-lv 198.18.102.1
  addr $B lvedp-lv 198.18.102.2
  addr $A lvedp-bf 198.18.103.1
  addr $B lvedp-bf 198.18.103.2
  addr $A lvedp-ln 198.18.104.1
  addr $B lvedp-ln 198.18.104.2
  addr $A lvedp-lg 198.18.105.1
  addr $B lvedp-lg 198.18.105.2
}
addr() {
  ip netns exec "$1" ip link set "$2" mtu 1500 up
  ip netns exec "$1" ip addr add "$3/24" dev "$2"
}

# Waits until NS's TAP DEV has an endpoint (carrier) and UDP PORT is bound.
wait_endpoint() {
  local ns=$1 dev=$2 port=$3 i
  for i in $(seq 300); do
    if [ "$(ip netns exec "$ns" cat "/sys/class/net/$dev/carrier" \
              2>/dev/null)" = 1 ] &&
       ip netns exec "$ns" ss -Hlun "sport = :$port" | grep -q .; then
      return 0
    fi
    sleep 0.1
  done
  echo "datapath: $dev in $ns did not come up" >&2
  exit 1
}

# Until PID (not our child when started by a function) has exited.
wait_gone() {
  local i
  [ -n "$1" ] || return 0
  for i in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

# start_limevi NS SELF PEER SELF-IP PEER-IP [WRAPPER...]: PID in STARTED.
# LV_DEV, LV_PORT, LV_ARGS, LV_TAG: another instance (the baseline).
start_limevi() {
  local ns=$1 self=$2 peer=$3 ip=$4 peer_ip=$5 port=${LV_PORT:-7000}
  shift 5
  ip netns exec "$ns" "$@" "$TAP" --tap "${LV_DEV:-lvedp-lv}" --vm "$self" \
      --vc $VC --lan $LAN --listen "$ip:$port" \
      --route "$peer=$peer_ip:$port" ${LV_ARGS:-} \
      "${KEY_ARGS[@]}" > "$OUT/limevi${LV_TAG:-}-$self.out" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}
start_bare() {
  local ns=$1 self=$2 ip=$3 peer_ip=$4
  shift 4
  ip netns exec "$ns" "$@" "$BARE" lvedp-bf "$ip" 7100 "$peer_ip" 7100 $HDR \
      > "$OUT/bare-$self.out" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}

# measure NAME DST-IP [PIDS...]: the three measures over one path.
measure() {
  local name=$1 dst=$2 t0 t1 b0 b1
  shift 2
  # Warm the neighbour caches, so no measure starts with ARP.
  ina ping -c 2 -i 0.2 -W 2 -q "$dst" > /dev/null ||
    { echo "datapath: $name: $dst unreachable" >&2; exit 1; }
  t0=$(ticks "$@") b0=$(busy)
  ina timeout $((TCP_S + 15)) iperf3 -c "$dst" -t "$TCP_S" -J \
      > "$OUT/$name-tcp.json" || true
  t1=$(ticks "$@") b1=$(busy)
  echo "$((t1 - t0)) $((b1 - b0))" > "$OUT/$name-tcp.ticks"
  sleep 0.5
  ina timeout $((UDP_S + 15)) iperf3 -c "$dst" -u -l 64 -b 2G \
      -t "$UDP_S" -J > "$OUT/$name-udp.json" || true
  sleep 0.5
  ina timeout 20 ping -c $PINGS -i 0.01 -W 1 "$dst" \
      > "$OUT/$name-ping.txt" || true
  echo "datapath: $name done" >&2
}

tap_frames() {
  local d=/sys/class/net/$1/statistics
  echo $(( $(ina cat $d/rx_packets) + $(ina cat $d/tx_packets) ))
}
# callgrind_run KIND N: side A's endpoint (KIND limevi or bare) again,
# under callgrind, for N pings; appends "KIND N INSTRUCTIONS FRAMES"
# (frames both ways through side A's TAP) to callgrind.txt.
callgrind_run() {
  local kind=$1 n=$2 dev f0 f1 dst cg=$OUT/cg-$1-$2.out
  local vg=(valgrind --tool=callgrind --callgrind-out-file="$cg")
  if [ "$kind" = limevi ]; then
    dev=lvedp-lv dst=198.18.102.2
    if [ -n "$LV_A" ]; then
      kill "$LV_A" 2>/dev/null || true
      wait_gone "$LV_A"
    fi
    f0=$(tap_frames $dev)
    start_limevi $A a b 198.18.100.1 198.18.100.2 "${vg[@]}"
    LV_A=$STARTED
    wait_endpoint $A $dev 7000
  else
    dev=lvedp-bf dst=198.18.103.2
    if [ -n "$BF_A" ]; then
      kill "$BF_A" 2>/dev/null || true
      wait_gone "$BF_A"
    fi
    f0=$(tap_frames $dev)
    start_bare $A a 198.18.100.1 198.18.100.2 "${vg[@]}"
    BF_A=$STARTED
    wait_endpoint $A $dev 7100
  fi
  ina timeout 30 ping -c "$n" -i 0.002 -W 1 -q $dst > /dev/null || true
  kill -TERM "$STARTED"
  wait_gone "$STARTED"
  f1=$(tap_frames $dev)
  echo "$kind $n $(awk '/^(summary|totals):/{print $2; exit}' "$cg")" \
       "$((f1 - f0))" >> "$OUT/callgrind.txt"
}

echo "datapath: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
setup
inb iperf3 -s > /dev/null 2>&1 &
PIDS+=($!)
IPERF_S=$!
start_limevi $A a b 198.18.100.1 198.18.100.2; LV_A=$STARTED
start_limevi $B b a 198.18.100.2 198.18.100.1; LV_B=$STARTED
LV_DEV=lvedp-ln LV_PORT=7001 LV_ARGS=--no-offload LV_TAG=-nooff
start_limevi $A a b 198.18.100.1 198.18.100.2; LN_A=$STARTED
start_limevi $B b a 198.18.100.2 198.18.100.1; LN_B=$STARTED
LV_DEV=lvedp-lg LV_PORT=7002 LV_ARGS=--no-udp-gso LV_TAG=-nogso
start_limevi $A a b 198.18.100.1 198.18.100.2; LG_A=$STARTED
start_limevi $B b a 198.18.100.2 198.18.100.1; LG_B=$STARTED
unset LV_DEV LV_PORT LV_ARGS LV_TAG
start_bare $A a 198.18.100.1 198.18.100.2; BF_A=$STARTED
start_bare $B b 198.18.100.2 198.18.100.1; BF_B=$STARTED
wait_endpoint $A lvedp-lv 7000
wait_endpoint $B lvedp-lv 7000
wait_endpoint $A lvedp-ln 7001
wait_endpoint $B lvedp-ln 7001
wait_endpoint $A lvedp-lg 7002
wait_endpoint $B lvedp-lg 7002
wait_endpoint $A lvedp-bf 7100
wait_endpoint $B lvedp-bf 7100
sleep 1                 # the iperf3 server listening

measure veth 198.18.100.2
measure vxlan 198.18.101.2
measure limevi 198.18.102.2 "$LV_A" "$LV_B"
measure limevi-nooff 198.18.104.2 "$LN_A" "$LN_B"
measure limevi-nogso 198.18.105.2 "$LG_A" "$LG_B"
measure bare-fwd 198.18.103.2 "$BF_A" "$BF_B"

# Where limevi-tap's time goes during a TCP run: both endpoints, kernel
# and user, sampled on the cpu-clock (no hardware counters here).
ina timeout $((TCP_S + 15)) iperf3 -c 198.18.102.2 -t "$TCP_S" \
    > /dev/null 2>&1 &
perf_client=$!
sleep 0.5
perf record -q -e cpu-clock -F 2000 -p "$LV_A,$LV_B" -o "$OUT/perf.data" \
    -- sleep $((TCP_S - 1)) > /dev/null 2>&1 || true
wait $perf_client || true
perf report -i "$OUT/perf.data" --stdio --no-children --sort dso,sym \
    2>/dev/null | grep -E '^ +[0-9]' | head -10 > "$OUT/perf-top.txt" || true
perf report -i "$OUT/perf.data" --stdio --no-children --sort dso \
    2>/dev/null | grep -E '^ +[0-9]' | head -5 > "$OUT/perf-dso.txt" || true

# User-space instructions per frame, by difference of two runs (so
# start-up and exit cancel out).
# limevi-tap's counters (its JSON at exit) are kept from the main runs.
kill -TERM "$LV_A" "$LV_B" 2>/dev/null || true
wait_gone "$LV_A"; wait_gone "$LV_B"
cp "$OUT/limevi-a.out" "$OUT/limevi-a.main"
cp "$OUT/limevi-b.out" "$OUT/limevi-b.main"
start_limevi $B b a 198.18.100.2 198.18.100.1; LV_B=$STARTED
wait_endpoint $B lvedp-lv 7000
LV_A=
for run in "limevi 200" "limevi 1200" "bare 200" "bare 1200"; do
  callgrind_run $run
done
# Where those instructions go: limevi-tap's functions by their own cost,
# then what the main loop's and our callbacks' calls add up to.
callgrind_annotate --inclusive=no "$OUT/cg-limevi-1200.out" 2>/dev/null |
    grep -E '^ *[0-9,]+ ' | grep -v 'PROGRAM TOTALS' | head -10 \
    > "$OUT/callgrind-top.txt" || true
CG_FUNCS=':(g_main_context_(dispatch|check|prepare|query)|poll) '
CG_FUNCS+='|:(tap_readable|udp_readable|limevi_port_send|port_on_datagram) '
callgrind_annotate --inclusive=yes "$OUT/cg-limevi-1200.out" 2>/dev/null |
    grep -E "$CG_FUNCS" \
    | head -12 > "$OUT/callgrind-calls.txt" || true

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
echo "datapath: load average at end: $LOAD1" >&2
ELAPSED=$(( $(date +%s) - START ))

python3 "$ROOT/bench/datapath-report.py" "$OUT" "$LOAD0" "$LOAD1" \
    "$ELAPSED" "$(getconf CLK_TCK)" "$(nproc)" "$JSON"
