/*
 * What bench/vc-switchover reports: per-run lines, a summary per VC size
 * and way, the ratios of the two ways, and the JSON record.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vc-switchover.h"

/* ---- Report ---- */

typedef struct {
    guint runs;                 /* that completed */
    double stop_skew, stop_skew_max;        /* ms */
    double resume_skew, resume_skew_max;
    double pause, pause_max;    /* over every VM of every run */
    double release, release_max;            /* release to STOP */
    /* Per VM of the VC, its mean pause over the runs. */
    double vm_pause[MAX_VMS];
    guint n_vm_pause[MAX_VMS];
    double downtime, downtime_max;
    double lost, lost_max;      /* per run */
    double moved;               /* seconds */
    guint cut;
    guint n_down, n_pause, n_lost, n_release;
} Summary;

static Summary summarize(GPtrArray *samples, guint size, Mode mode)
{
    Summary m = { 0 };

    for (guint i = 0; i < samples->len; i++) {
        Sample *s = samples->pdata[i];

        if (s->size != size || s->mode != mode || s->error) {
            continue;
        }
        m.runs++;
        m.stop_skew += s->stop_skew_us / 1e3;
        m.stop_skew_max = MAX(m.stop_skew_max, s->stop_skew_us / 1e3);
        m.resume_skew += s->resume_skew_us / 1e3;
        m.resume_skew_max = MAX(m.resume_skew_max, s->resume_skew_us / 1e3);
        m.moved += s->moved_ms / 1000.0;
        m.cut += s->cut;
        if (s->lost >= 0) {
            m.lost += s->lost;
            m.lost_max = MAX(m.lost_max, s->lost);
            m.n_lost++;
        }
        for (guint v = 0; v < s->size; v++) {
            if (s->vm[v].downtime_ms >= 0) {
                m.downtime += s->vm[v].downtime_ms;
                m.downtime_max = MAX(m.downtime_max, s->vm[v].downtime_ms);
                m.n_down++;
            }
            if (s->vm[v].pause_ms >= 0) {
                m.pause += s->vm[v].pause_ms;
                m.pause_max = MAX(m.pause_max, s->vm[v].pause_ms);
                m.n_pause++;
                m.vm_pause[v] += s->vm[v].pause_ms;
                m.n_vm_pause[v]++;
            }
            if (s->vm[v].release_to_stop_ms >= 0) {
                m.release += s->vm[v].release_to_stop_ms;
                m.release_max = MAX(m.release_max,
                                    s->vm[v].release_to_stop_ms);
                m.n_release++;
            }
        }
    }
    if (m.runs) {
        m.stop_skew /= m.runs;
        m.resume_skew /= m.runs;
        m.moved /= m.runs;
    }
    for (guint v = 0; v < MAX_VMS; v++) {
        m.vm_pause[v] = m.n_vm_pause[v] ? m.vm_pause[v] / m.n_vm_pause[v]
                                        : -1;
    }
    m.release = m.n_release ? m.release / m.n_release : -1;
    m.downtime = m.n_down ? m.downtime / m.n_down : -1;
    m.pause = m.n_pause ? m.pause / m.n_pause : -1;
    m.lost = m.n_lost ? m.lost / m.n_lost : -1;
    return m;
}

void print_runs(GPtrArray *samples)
{
    printf("\nEach run (lost: frames the streams lost; cut: streams silent "
           "for %d s; drops: frames\nthe WAN's queues + the guests' own "
           "stacks dropped)\n", RECV_SILENCE_MS / 1000);
    printf("%-4s %-4s %-12s %-5s %9s %9s %13s %13s %13s %5s %3s %3s %7s "
           "%7s\n", "VMs", "run", "mode", "move", "STOP skew", "RES. skew",
           "rel>STOP", "pause", "downtime", "lost", "dup", "cut", "drops",
           "moved");
    printf("%-4s %-4s %-12s %-5s %9s %9s %13s %13s %13s %5s %3s %3s %7s "
           "%7s\n", "", "", "", "", "ms", "ms", "ms mean/max",
           "ms mean/max", "ms mean/max", "", "", "", "", "s");
    for (guint i = 0; i < samples->len; i++) {
        Sample *s = samples->pdata[i];
        double pause = 0, down = 0, rel = 0;
        gint64 pause_max = -1, down_max = -1, rel_max = -1;
        guint n_pause = 0, n_rel = 0;
        g_autofree char *move = g_strdup_printf("%s>%s", s->from, s->to);
        g_autofree char *p = NULL, *d = NULL, *r = NULL, *drops = NULL;

        printf("%-4u %-4u %-12s %-5s ", s->size, s->run, mode_name[s->mode],
               move);
        if (s->error) {
            printf("failed: %s\n", s->error);
            continue;
        }
        for (guint v = 0; v < s->size; v++) {
            if (s->vm[v].pause_ms >= 0) {
                pause += s->vm[v].pause_ms;
                n_pause++;
            }
            pause_max = MAX(pause_max, s->vm[v].pause_ms);
            if (s->vm[v].release_to_stop_ms >= 0) {
                rel += s->vm[v].release_to_stop_ms;
                n_rel++;
            }
            rel_max = MAX(rel_max, s->vm[v].release_to_stop_ms);
            down += s->vm[v].downtime_ms;
            down_max = MAX(down_max, s->vm[v].downtime_ms);
        }
        p = g_strdup_printf("%.0f/%" G_GINT64_FORMAT,
                            n_pause ? pause / n_pause : -1, pause_max);
        d = g_strdup_printf("%.0f/%" G_GINT64_FORMAT, down / s->size,
                            down_max);
        r = n_rel ? g_strdup_printf("%.0f/%" G_GINT64_FORMAT, rel / n_rel,
                                    rel_max)
                  : g_strdup("-");
        drops = g_strdup_printf("%" G_GINT64_FORMAT "+%" G_GINT64_FORMAT,
                                s->wan_dropped, s->guest_dropped);
        printf("%9.1f %9.1f %13s %13s %13s %5" G_GINT64_FORMAT " %3"
               G_GINT64_FORMAT " %3u %7s %7.1f%s%s\n",
               s->stop_skew_us / 1e3, s->resume_skew_us / 1e3, r, p, d,
               s->lost, s->duplicated, s->cut, drops, s->moved_ms / 1000.0,
               s->note ? "  " : "", s->note ? s->note : "");
    }
}

void print_summary(GPtrArray *samples)
{
    printf("\nMeans and maxima over the runs (pause and downtime: over "
           "every VM of every run; lost: frames\nper run; cut: streams cut, "
           "all runs)\n");
    printf("%-4s %-12s %4s %15s %15s %15s %15s %15s %13s %3s %8s\n", "VMs",
           "mode", "runs", "STOP skew ms", "RESUME skew ms", "rel>STOP ms",
           "pause ms", "downtime ms", "lost", "cut", "moved s");
    printf("%-4s %-12s %4s %15s %15s %15s %15s %15s %13s %3s %8s\n", "", "",
           "", "mean    max", "mean    max", "mean    max", "mean    max",
           "mean    max", "mean   max", "", "mean");
    for (guint z = 0; z < opt.n_sizes; z++) {
        for (Mode mode = 0; mode < N_MODES; mode++) {
            Summary m = summarize(samples, opt.sizes[z], mode);
            g_autofree char *rel = NULL;

            if (!m.runs) {
                printf("%-4u %-12s %4u  no run completed\n", opt.sizes[z],
                       mode_name[mode], 0);
                continue;
            }
            rel = m.n_release ? g_strdup_printf("%7.0f %7.0f", m.release,
                                                m.release_max)
                              : g_strdup_printf("%7s %7s", "-", "-");
            printf("%-4u %-12s %4u %7.1f %7.1f %7.1f %7.1f %s %7.0f "
                   "%7.0f %7.0f %7.0f %6.1f %6.0f %3u %8.1f\n",
                   opt.sizes[z], mode_name[mode], m.runs, m.stop_skew,
                   m.stop_skew_max, m.resume_skew, m.resume_skew_max, rel,
                   m.pause, m.pause_max,
                   m.downtime, m.downtime_max, m.lost, m.lost_max, m.cut,
                   m.moved);
        }
    }
}

/* Each VM's mean pause the two ways: the target is that no VM pauses
 * longer under limevi than it does on its own (ratio >= 1.0 here, as
 * baseline / limevi). */
static void print_vm_pauses(guint size, const Summary *in,
                            const Summary *lv)
{
    double lowest = -1;
    guint worst = 0;

    printf("  pause per VM, mean   ");
    for (guint v = 0; v < size; v++) {
        double r;

        if (in->vm_pause[v] < 0 || lv->vm_pause[v] <= 0) {
            printf(" v%u -", v);
            continue;
        }
        r = in->vm_pause[v] / lv->vm_pause[v];
        printf(" v%u %.0f/%.0f", v, in->vm_pause[v], lv->vm_pause[v]);
        if (lowest < 0 || r < lowest) {
            lowest = r;
            worst = v;
        }
    }
    printf("\n");
    if (lowest >= 0) {
        printf("  pause per VM, lowest ratio %.3f (v%u)\n", lowest, worst);
    }
}

void print_ratios(GPtrArray *samples)
{
    for (guint z = 0; z < opt.n_sizes; z++) {
        Summary lv = summarize(samples, opt.sizes[z], MODE_LIMEVI);
        Summary in = summarize(samples, opt.sizes[z], MODE_INDEPENDENT);
        const struct {
            const char *what, *unit;
            double a, b;
        } rows[] = {
            { "STOP skew, mean      ", " ms", in.stop_skew, lv.stop_skew },
            { "STOP skew, max       ", " ms", in.stop_skew_max,
              lv.stop_skew_max },
            { "RESUME skew, mean    ", " ms", in.resume_skew,
              lv.resume_skew },
            { "RESUME skew, max     ", " ms", in.resume_skew_max,
              lv.resume_skew_max },
            { "pause, mean          ", " ms", in.pause, lv.pause },
            { "pause, max           ", " ms", in.pause_max, lv.pause_max },
            { "QEMU downtime, mean  ", " ms", in.downtime, lv.downtime },
            { "QEMU downtime, max   ", " ms", in.downtime_max,
              lv.downtime_max },
            { "frames lost per run  ", "", in.lost, lv.lost },
            { "VC moved in          ", " s", in.moved, lv.moved },
        };

        if (!lv.runs || !in.runs) {
            continue;
        }
        printf("\nbaseline (independent) / limevi, %u VMs:\n", opt.sizes[z]);
        for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
            g_autofree char *text = bench_ratio_text(rows[r].a, rows[r].b,
                                                     rows[r].unit);

            printf("  %s  %s\n", rows[r].what, text);
        }
        print_vm_pauses(opt.sizes[z], &in, &lv);
    }
}

/* Where the numbers came from: the machine and how busy it was. */
char *machine_text(void)
{
    g_autofree char *cpuinfo = NULL, *loadavg = NULL;
    g_autofree char *model = NULL;
    g_auto(GStrv) load = NULL;
    struct utsname u;

    if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
        const char *p = strstr(cpuinfo, "model name");

        p = p ? strchr(p, ':') : NULL;
        model = p ? g_strndup(p + 2, strcspn(p + 2, "\n")) : NULL;
    }
    g_file_get_contents("/proc/loadavg", &loadavg, NULL, NULL);
    load = g_strsplit(loadavg ? loadavg : "? ? ?", " ", 4);
    uname(&u);
    return g_strdup_printf("%u CPUs (%s), Linux %s, load average %s %s %s",
                           g_get_num_processors(), model ? model : "?",
                           u.release, load[0], load[1] ? load[1] : "",
                           load[1] && load[2] ? load[2] : "");
}

static void json_sample(JsonBuilder *b, Sample *s)
{
    json_builder_begin_object(b);
    bench_json_int(b, "vms", s->size);
    bench_json_int(b, "run", s->run);
    bench_json_string(b, "mode", mode_name[s->mode]);
    bench_json_string(b, "from", s->from);
    bench_json_string(b, "to", s->to);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, !s->error);
    if (s->error || s->note) {
        bench_json_string(b, s->error ? "error" : "note",
                          s->error ? s->error : s->note);
    }
    bench_json_int(b, "stop_skew_us", s->stop_skew_us);
    bench_json_int(b, "resume_skew_us", s->resume_skew_us);
    bench_json_int(b, "moved_ms", s->moved_ms);
    bench_json_int(b, "lost", s->lost);
    bench_json_int(b, "duplicated", s->duplicated);
    bench_json_int(b, "streams_cut", s->cut);
    bench_json_int(b, "wan_dropped", s->wan_dropped);
    bench_json_int(b, "guest_dropped", s->guest_dropped);
    json_builder_set_member_name(b, "per_vm");
    json_builder_begin_array(b);
    for (guint i = 0; i < s->size; i++) {
        const VmSample *v = &s->vm[i];
        guint p = i % G_N_ELEMENTS(profiles);

        json_builder_begin_object(b);
        bench_json_int(b, "vm", i);
        bench_json_int(b, "memory_mib", profiles[p].memory_mib);
        bench_json_int(b, "fill_mib", profiles[p].fill_mib);
        bench_json_int(b, "dirty_kib_per_s", profiles[p].dirty_kib);
        bench_json_int(b, "total_ms", v->total_ms);
        bench_json_int(b, "downtime_ms", v->downtime_ms);
        bench_json_int(b, "pause_ms", v->pause_ms);
        bench_json_int(b, "switchover_at_ms", v->switchover_ms);
        bench_json_int(b, "release_to_stop_ms", v->release_to_stop_ms);
        bench_json_int(b, "received", v->received);
        bench_json_int(b, "lost", v->lost);
        bench_json_int(b, "duplicated", v->duplicated);
        bench_json_int(b, "reordered", v->reordered);
        bench_json_double(b, "max_gap_ms", v->max_gap_ms);
        bench_json_int(b, "rx_gaps", v->rx_gaps);
        bench_json_int(b, "tx_no_route", v->tx_no_route);
        bench_json_int(b, "dropped", v->dropped);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

gboolean write_json(GPtrArray *samples, const char *machine,
                    GError **err)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "config");
    json_builder_begin_object(b);
    bench_json_int(b, "runs", opt.runs);
    bench_json_int(b, "rate", opt.rate);
    bench_json_string(b, "link", opt.link);
    bench_json_int(b, "bandwidth_mbit", opt.bandwidth_mbit);
    bench_json_int(b, "downtime_limit_ms", opt.downtime_limit_ms);
    bench_json_string(b, "machine", machine);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "results");
    json_builder_begin_array(b);
    for (guint i = 0; i < samples->len; i++) {
        json_sample(b, samples->pdata[i]);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return bench_json_write(b, opt.json_path, err);
}
