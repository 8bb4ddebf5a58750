#!/usr/bin/env python3
"""The table (and --json) of bench/datapath.sh from its run directory.

datapath-report.py DIR LOAD-START LOAD-END ELAPSED CLK-TCK NPROC [JSON]
"""
import json
import re
import statistics
import sys

PATHS = ["veth", "vxlan", "limevi", "limevi-nooff", "limevi-nogso",
         "bare-fwd"]
# Issue 12's targets, against kernel VXLAN in the same run.
TARGETS = {"tcp_gbps": (">=", 0.8), "udp64_rx_pps": (">=", 1.0),
           "rtt_p50_ms": ("<=", 2.0), "rtt_p99_ms": ("<=", 2.0),
           "instructions_per_frame": ("<=", 1.2)}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def path_result(d, name, clk):
    r = {"path": name}
    tcp = load_json(f"{d}/{name}-tcp.json") or {}
    end = tcp.get("end", {})
    recv = end.get("sum_received", {})
    proc_ticks, busy_ticks = (int(x) for x in
                              open(f"{d}/{name}-tcp.ticks").read().split())
    if recv:
        secs = recv["seconds"]
        gb = recv["bytes"] / 1e9
        cpu = end.get("cpu_utilization_percent", {})
        iperf_s = (cpu.get("host_total", 0) + cpu.get("remote_total", 0)) \
            / 100 * secs
        r["tcp_gbps"] = recv["bits_per_second"] / 1e9
        r["tcp_retransmits"] = end.get("sum_sent", {}).get("retransmits")
        r["cpu_s_per_gb"] = (iperf_s + proc_ticks / clk) / gb
        r["machine_cpu_s_per_gb"] = busy_ticks / clk / gb
    else:
        r["tcp_error"] = tcp.get("error", "no result")
    udp = load_json(f"{d}/{name}-udp.json") or {}
    s = udp.get("end", {}).get("sum", {})
    if s.get("packets"):
        r["udp64_sent_pps"] = s["packets"] / s["seconds"]
        r["udp64_rx_pps"] = (s["packets"] - s["lost_packets"]) / s["seconds"]
        r["udp64_loss_pct"] = 100 * s["lost_packets"] / s["packets"]
    else:
        r["udp_error"] = udp.get("error", "no result")
    rtts = [float(m) for m in re.findall(r"time=([0-9.]+) ms",
                                         open(f"{d}/{name}-ping.txt").read())]
    r["pings_answered"] = len(rtts)
    if rtts:
        r["rtt_p50_ms"] = statistics.median(rtts)
        r["rtt_p99_ms"] = percentile(rtts, 99)
    return r


def per_frame(d):
    runs = {}
    try:
        for line in open(f"{d}/callgrind.txt"):
            kind, n, ir, frames = line.split()
            runs.setdefault(kind, []).append((int(ir), int(frames)))
    except (OSError, ValueError):
        return {}
    out = {}
    for kind, pts in runs.items():
        if len(pts) == 2 and pts[1][1] > pts[0][1]:
            out[kind] = (pts[1][0] - pts[0][0]) / (pts[1][1] - pts[0][1])
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    d, load0, load1, elapsed, clk, nproc = sys.argv[1:7]
    json_out = sys.argv[7] if len(sys.argv) > 7 else ""
    clk = int(clk)
    results = [path_result(d, p, clk) for p in PATHS]
    base = results[1]
    for r in results:
        r["vs_vxlan"] = {k: r[k] / base[k] for k in
                         ("tcp_gbps", "udp64_rx_pps", "rtt_p50_ms",
                          "rtt_p99_ms", "cpu_s_per_gb")
                         if r.get(k) and base.get(k)}
    pf = per_frame(d)
    try:
        counters = json.loads(open(f"{d}/limevi-a.main").read()
                              .strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        counters = None
    perf_top = open(f"{d}/perf-top.txt").read().rstrip("\n").splitlines()
    perf_dso = open(f"{d}/perf-dso.txt").read().rstrip("\n").splitlines()
    cg_top = open(f"{d}/callgrind-top.txt").read().rstrip("\n").splitlines()
    cg_calls = open(f"{d}/callgrind-calls.txt").read().rstrip("\n") \
        .splitlines()

    print(f"datapath: load average {load0} at start, {load1} at end; "
          f"{nproc} CPUs; {elapsed} s")
    print("| path | TCP Gbit/s | x VXLAN | 64-B UDP rx pps | loss % | x VXLAN"
          " | RTT p50 ms | p99 ms | x VXLAN (p50) | CPU s/GB | x VXLAN |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        v = r["vs_vxlan"]
        print(f"| {r['path']} | {fmt(r.get('tcp_gbps'), '.2f')} "
              f"| {fmt(v.get('tcp_gbps'), '.2f')} "
              f"| {fmt(r.get('udp64_rx_pps'), ',.0f')} "
              f"| {fmt(r.get('udp64_loss_pct'), '.0f')} "
              f"| {fmt(v.get('udp64_rx_pps'), '.2f')} "
              f"| {fmt(r.get('rtt_p50_ms'), '.3f')} "
              f"| {fmt(r.get('rtt_p99_ms'), '.3f')} "
              f"| {fmt(v.get('rtt_p50_ms'), '.2f')} "
              f"| {fmt(r.get('cpu_s_per_gb'), '.2f')} "
              f"| {fmt(v.get('cpu_s_per_gb'), '.2f')} |")
    if "limevi" in pf and "bare" in pf:
        pf["ratio"] = pf["limevi"] / pf["bare"]
        print(f"user-space instructions per frame (callgrind): limevi-tap "
              f"{pf['limevi']:.0f}, datapath-bare {pf['bare']:.0f}, "
              f"ratio {pf['ratio']:.2f}")
    lv = results[2]
    verdict = {}
    for k, (op, t) in TARGETS.items():
        v = pf.get("ratio") if k == "instructions_per_frame" \
            else lv["vs_vxlan"].get(k)
        if v is not None:
            verdict[k] = {"ratio": v, "target": f"{op} {t}",
                          "met": v >= t if op == ">=" else v <= t}
    print("targets (limevi against kernel VXLAN): " + ", ".join(
        f"{k} {v['ratio']:.2f} ({v['target']}: "
        f"{'met' if v['met'] else 'MISSED'})" for k, v in verdict.items()))
    if counters:
        print(f"limevi-tap (side a) counters: {json.dumps(counters)}")
    print("perf top of limevi-tap during TCP (cpu-clock, both endpoints):")
    print("  by object: " + "; ".join(" ".join(l.split()) for l in perf_dso))
    for line in perf_top[:10]:
        print("  " + line.strip())
    print("limevi-tap's instructions by function (callgrind, 1200 pings), "
          "self:")
    for line in cg_top:
        print("  " + " ".join(line.split()))
    print("  inclusive:")
    for line in cg_calls:
        print("  " + " ".join(line.split()))
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"load_average": {"start": load0, "end": load1},
                       "cpus": int(nproc), "elapsed_s": int(elapsed),
                       "paths": results, "instructions_per_frame": pf,
                       "targets": verdict, "limevi_tap_counters": counters,
                       "perf_top": [l.strip() for l in perf_top[:10]],
                       "perf_by_object": [" ".join(l.split())
                                          for l in perf_dso],
                       "callgrind_self": [" ".join(l.split())
                                          for l in cg_top],
                       "callgrind_inclusive": [" ".join(l.split())
                                               for l in cg_calls]},
                      f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
