/*
 * What bench/migration-blackout reports: a table per setup and link,
 * the ratios of the two setups, and the JSON record.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "migration-blackout.h"

/* ---- Report ---- */

typedef struct {
    guint n;                    /* completed runs */
    double lost, duplicated, max_gap_ms, downtime_ms, pause_ms;
    guint n_pause;              /* runs whose pause is known */
} Summary;

static Summary summarize(GPtrArray *samples, Setup setup, Link link)
{
    Summary m = { 0 };

    for (guint i = 0; i < samples->len; i++) {
        Sample *s = g_ptr_array_index(samples, i);

        if (s->setup != setup || s->link != link || s->error) {
            continue;
        }
        m.n++;
        m.lost += s->lost;
        m.duplicated += s->duplicated;
        m.max_gap_ms += s->max_gap_ms;
        m.downtime_ms += s->downtime_ms;
        if (s->pause_ms >= 0) {
            m.pause_ms += s->pause_ms;
            m.n_pause++;
        }
    }
    if (m.n) {
        m.lost /= m.n;
        m.duplicated /= m.n;
        m.max_gap_ms /= m.n;
        m.downtime_ms /= m.n;
    }
    m.pause_ms = m.n_pause ? m.pause_ms / m.n_pause : -1;
    return m;
}

static void print_row(const char *label, const char *lost, const char *dup,
                      const char *gap, const char *down, const char *pause,
                      const char *note)
{
    printf("  %-8s %9s %6s %10s %12s %9s  %s\n", label, lost, dup, gap, down,
           pause, note);
}

void print_table(GPtrArray *samples, Setup setup, Link link)
{
    Summary m = summarize(samples, setup, link);
    g_autofree char *lost = NULL, *dup = NULL, *gap = NULL, *down = NULL;
    g_autofree char *pause = NULL;

    printf("\n%s, %s\n", setup == SETUP_LIMEVI ? "LimeVI" : "standard "
           "(bridge + VXLAN)", link_title[link]);
    print_row("run", "lost", "dup", "gap ms", "downtime ms", "pause ms", "");
    for (guint i = 0; i < samples->len; i++) {
        Sample *s = g_ptr_array_index(samples, i);
        g_autofree char *run = NULL;

        if (s->setup != setup || s->link != link) {
            continue;
        }
        run = g_strdup_printf("%u", s->run);
        if (s->error) {
            printf("  %-8s failed: %s\n", run, s->error);
            continue;
        }
        g_autofree char *c1 = g_strdup_printf("%" G_GINT64_FORMAT, s->lost);
        g_autofree char *c2 = g_strdup_printf("%" G_GINT64_FORMAT,
                                              s->duplicated);
        g_autofree char *c3 = g_strdup_printf("%.1f", s->max_gap_ms);
        g_autofree char *c4 = g_strdup_printf("%" G_GINT64_FORMAT,
                                              s->downtime_ms);
        g_autofree char *c5 = s->pause_ms >= 0
            ? g_strdup_printf("%" G_GINT64_FORMAT, s->pause_ms)
            : g_strdup("?");
        g_autofree char *note = s->in_stream ? g_strdup("") : g_strdup_printf(
            "(resumed at %.1f s, the stream ended at %.1f s)",
            s->completed_at_ms / 1000.0, s->stream_ms / 1000.0);

        print_row(run, c1, c2, c3, c4, c5, note);
    }
    if (!m.n) {
        printf("  no run completed\n");
        return;
    }
    lost = g_strdup_printf("%.1f", m.lost);
    dup = g_strdup_printf("%.1f", m.duplicated);
    gap = g_strdup_printf("%.1f", m.max_gap_ms);
    down = g_strdup_printf("%.1f", m.downtime_ms);
    pause = m.pause_ms >= 0 ? g_strdup_printf("%.1f", m.pause_ms)
                            : g_strdup("?");
    print_row("mean", lost, dup, gap, down, pause, "");
}

void print_ratios(GPtrArray *samples, Link link)
{
    Summary lv = summarize(samples, SETUP_LIMEVI, link);
    Summary st = summarize(samples, SETUP_STANDARD, link);
    g_autofree char *lost = NULL;
    g_autofree char *gap = NULL;

    if (!lv.n || !st.n) {
        return;
    }
    lost = bench_ratio_text(lv.lost, st.lost, "");
    gap = bench_ratio_text(lv.max_gap_ms, st.max_gap_ms, " ms");
    printf("\nLimeVI / standard, %s (means):\n", link_title[link]);
    printf("  frames lost:  %s\n", lost);
    printf("  longest gap:  %s\n", gap);
}

gboolean write_json(GPtrArray *samples, GError **err)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();

    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "config");
    json_builder_begin_object(jb);
    bench_json_int(jb, "runs", opt.runs);
    bench_json_int(jb, "rate", opt.rate);
    bench_json_int(jb, "seconds", opt.seconds);
    bench_json_int(jb, "lead_ms", opt.lead_ms);
    bench_json_int(jb, "size", opt.size);
    bench_json_string(jb, "limevi_net",
                      opt.limevi_veth ? "veth" : "loopback");
    bench_json_string(jb, "shaped",
                      "tbf rate " SHAPE_RATE " burst 32kbit latency 50ms");
    json_builder_end_object(jb);

    json_builder_set_member_name(jb, "results");
    json_builder_begin_array(jb);
    for (guint i = 0; i < samples->len; i++) {
        Sample *s = g_ptr_array_index(samples, i);

        json_builder_begin_object(jb);
        bench_json_string(jb, "setup", setup_name[s->setup]);
        bench_json_string(jb, "link", link_name[s->link]);
        bench_json_int(jb, "run", s->run);
        json_builder_set_member_name(jb, "ok");
        json_builder_add_boolean_value(jb, !s->error);
        if (s->error) {
            bench_json_string(jb, "error", s->error);
        } else {
            bench_json_int(jb, "sent", s->sent);
            bench_json_int(jb, "received", s->received);
            bench_json_int(jb, "lost", s->lost);
            bench_json_int(jb, "duplicated", s->duplicated);
            bench_json_int(jb, "reordered", s->reordered);
            bench_json_double(jb, "max_gap_ms", s->max_gap_ms);
            bench_json_int(jb, "downtime_ms", s->downtime_ms);
            bench_json_int(jb, "pause_ms", s->pause_ms);
            bench_json_int(jb, "total_ms", s->total_ms);
            bench_json_int(jb, "completed_at_ms", s->completed_at_ms);
            bench_json_int(jb, "tap_dropped", s->tap_dropped);
            bench_json_int(jb, "qdisc_dropped", s->qdisc_dropped);
            bench_json_double(jb, "stream_ms", s->stream_ms);
            json_builder_set_member_name(jb, "switchover_in_stream");
            json_builder_add_boolean_value(jb, s->in_stream);
        }
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    return bench_json_write(jb, opt.json_path, err);
}
