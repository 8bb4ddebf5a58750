/*
 * The report of a VC migration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <json-glib/json-glib.h>

#include "report.h"

static gint64 ms(gint64 us)
{
    return us / 1000;
}

static gint64 pause_ms(const LimeviVmMigration *m)
{
    return m->t_stop > 0 && m->t_resume > m->t_stop ?
           ms(m->t_resume - m->t_stop) : -1;
}

/* From the release written to its source to the source's STOP. */
static gint64 release_to_stop_ms(const LimeviVmMigration *m)
{
    return m->t_stop > 0 && m->t_phase[VM_SWITCHING] > 0 ?
           ms(m->t_stop - m->t_phase[VM_SWITCHING]) : -1;
}

/* Last event minus first, in us: how together the VMs stopped
 * (@resume FALSE: the sources' STOP) or ran again (TRUE: the
 * destinations' RESUME); -1 without any. */
static gint64 skew_us(GPtrArray *migs, gboolean resume)
{
    gint64 first = G_MAXINT64, last = 0;

    for (guint i = 0; i < migs->len; i++) {
        const LimeviVmMigration *m = migs->pdata[i];
        gint64 t = resume ? m->t_resume : m->t_stop;

        if (t > 0) {
            first = MIN(first, t);
            last = MAX(last, t);
        }
    }
    return last ? last - first : -1;
}

static gint64 skew_ms(GPtrArray *migs, gboolean resume)
{
    gint64 us = skew_us(migs, resume);

    return us < 0 ? -1 : ms(us);
}

/* One VM's object of the report: its phases' times from @t_start. */
static void write_json_vm(JsonBuilder *b, const LimeviVmMigration *m,
                          gint64 t_start)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, m->vm->name);
    json_builder_set_member_name(b, "from");
    json_builder_add_string_value(b, m->src->name);
    json_builder_set_member_name(b, "to");
    json_builder_add_string_value(b, m->dst->name);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, m->phase == VM_DONE);
    if (m->error) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, m->error);
    }
    json_builder_set_member_name(b, "total_ms");
    json_builder_add_int_value(b, m->total_ms);
    json_builder_set_member_name(b, "downtime_ms");
    json_builder_add_int_value(b, m->downtime_ms);
    json_builder_set_member_name(b, "pause_ms");
    json_builder_add_int_value(b, pause_ms(m));
    json_builder_set_member_name(b, "ready_at_ms");
    json_builder_add_int_value(b, m->t_phase[VM_READY] > 0 ?
                               ms(m->t_phase[VM_READY] - t_start) : -1);
    json_builder_set_member_name(b, "released_at_ms");
    json_builder_add_int_value(b, m->t_phase[VM_SWITCHING] > 0 ?
                               ms(m->t_phase[VM_SWITCHING] - t_start)
                               : -1);
    json_builder_set_member_name(b, "release_to_stop_ms");
    json_builder_add_int_value(b, release_to_stop_ms(m));
    json_builder_set_member_name(b, "fell_out");
    json_builder_add_int_value(b, m->fell_out);
    json_builder_set_member_name(b, "unready_events");
    json_builder_add_int_value(b, m->unready_events);
    json_builder_set_member_name(b, "converged_at_release");
    if (m->ready_event < 0) {
        json_builder_add_null_value(b);
    } else {
        json_builder_add_boolean_value(b, m->ready_event);
    }
    json_builder_set_member_name(b, "stopped_at_ms");
    json_builder_add_int_value(b, m->t_stop > 0 ?
                               ms(m->t_stop - t_start) : -1);
    json_builder_set_member_name(b, "switchover_at_ms");
    json_builder_add_int_value(b, m->t_resume > 0 ?
                               ms(m->t_resume - t_start) : -1);
    json_builder_set_member_name(b, "peers_synced_after_ms");
    json_builder_add_int_value(b, m->t_synced > 0 && m->t_resume > 0 ?
                               ms(m->t_synced - m->t_resume) : -1);
    json_builder_set_member_name(b, "frames_forwarded");
    json_builder_add_int_value(b, m->forwarded);
    json_builder_set_member_name(b, "routes_repaired");
    json_builder_add_int_value(b, m->repaired);
    json_builder_set_member_name(b, "ram_bytes");
    json_builder_add_int_value(b, m->transferred);
    /* What both QEMUs said their streams run over, not the VC file:
     * with tls-creds set neither end takes a plain stream. */
    json_builder_set_member_name(b, "tls_creds_source");
    json_builder_add_string_value(b, m->tls_creds_src ?
                                  m->tls_creds_src : "");
    json_builder_set_member_name(b, "tls_creds_destination");
    json_builder_add_string_value(b, m->tls_creds_dst ?
                                  m->tls_creds_dst : "");
    json_builder_set_member_name(b, "disks");
    json_builder_add_int_value(b, m->vm->disks->len);
    json_builder_set_member_name(b, "disk_bytes");
    json_builder_add_int_value(b, m->disk_transferred);
    json_builder_end_object(b);
}

static void write_json(const LimeviVc *vc, const LimeviMigrateOptions *opts,
                       GPtrArray *migs, gint64 t_start, gint64 t_end)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vc");
    json_builder_add_string_value(b, vc->name);
    json_builder_set_member_name(b, "site");
    json_builder_add_string_value(b, opts->site);
    json_builder_set_member_name(b, "wall_ms");
    json_builder_add_int_value(b, ms(t_end - t_start));
    /* The RESUME skew, under the name it had before the STOP skew. */
    json_builder_set_member_name(b, "switchover_skew_ms");
    json_builder_add_int_value(b, skew_ms(migs, TRUE));
    json_builder_set_member_name(b, "stop_skew_us");
    json_builder_add_int_value(b, skew_us(migs, FALSE));
    json_builder_set_member_name(b, "resume_skew_us");
    json_builder_add_int_value(b, skew_us(migs, TRUE));
    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    for (guint i = 0; i < migs->len; i++) {
        write_json_vm(b, migs->pdata[i], t_start);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    if (!json_generator_to_file(gen, opts->report, &error)) {
        g_printerr("limevi: cannot write the report: %s\n", error->message);
    }
}

/* One row per VM, one bar per phase, the guest's pause in red. */
static void write_svg(const LimeviVc *vc, const LimeviMigrateOptions *opts,
                      GPtrArray *migs, gint64 t_start, gint64 t_end)
{
    static const char *const colours[VM_N_PHASES] = {
        [VM_STARTING] = "#9ecae1", [VM_MIGRATING] = "#4292c6",
        [VM_READY] = "#fdae6b", [VM_SWITCHING] = "#74c476",
    };
    g_autoptr(GString) svg = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    double span = MAX(t_end - t_start, 1);
    const int left = 110, width = 700, row = 28;
    int height = 60 + row * migs->len;

    g_string_append_printf(svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
        "height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<text x=\"4\" y=\"16\">VC %s to site %s: %.1f s, STOP skew %.1f ms, "
        "RESUME skew %.1f ms</text>\n", left + width + 20, height,
        vc->name, opts->site, span / 1e6, skew_us(migs, FALSE) / 1e3,
        skew_us(migs, TRUE) / 1e3);
    for (guint i = 0; i < migs->len; i++) {
        const LimeviVmMigration *m = migs->pdata[i];
        int y = 30 + row * i;

        g_string_append_printf(svg, "<text x=\"4\" y=\"%d\">%s</text>\n",
                               y + 15, m->vm->name);
        for (int p = VM_STARTING; p <= VM_SWITCHING; p++) {
            gint64 from = m->t_phase[p];
            gint64 to = p < VM_SWITCHING ? m->t_phase[p + 1] :
                        (m->t_resume > 0 ? m->t_resume : m->t_phase[VM_DONE]);

            if (!from || !to || to < from) {
                continue;
            }
            g_string_append_printf(svg,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" "
                "fill=\"%s\"><title>%s</title></rect>\n",
                left + width * (from - t_start) / span, y,
                MAX(1.0, width * (to - from) / span), colours[p],
                p == VM_STARTING ? "destination starting" :
                p == VM_MIGRATING ? "pre-copy" :
                p == VM_READY ? "converged, held at the source" : "switching over");
        }
        if (pause_ms(m) >= 0) {
            g_string_append_printf(svg,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" "
                "fill=\"#d62728\"><title>guest paused %" G_GINT64_FORMAT
                " ms</title></rect>\n",
                left + width * (m->t_stop - t_start) / span, y,
                MAX(2.0, width * (m->t_resume - m->t_stop) / span),
                pause_ms(m));
        }
    }
    g_string_append_printf(svg,
        "<text x=\"%d\" y=\"%d\" fill=\"#555\">light blue: destination "
        "starts; blue: pre-copy; orange: converged, waiting for the others; "
        "green: switching; red: guest paused</text>\n</svg>\n",
        4, height - 8);
    if (!g_file_set_contents(opts->svg, svg->str, svg->len, &error)) {
        g_printerr("limevi: cannot write the timeline: %s\n", error->message);
    }
}

void limevi_report(const LimeviVc *vc, const LimeviMigrateOptions *opts,
                   GPtrArray *migs, gint64 t_start, gint64 t_end)
{
    if (!opts->json) {
        g_print("\n%-10s %-8s %-8s %9s %9s %9s %12s %13s %8s %8s\n", "VM",
                "from", "to", "total ms", "downtime", "pause ms",
                "switchover", "release>STOP", "RAM MiB", "disk MiB");
        for (guint i = 0; i < migs->len; i++) {
            const LimeviVmMigration *m = migs->pdata[i];

            g_print("%-10s %-8s %-8s %9" G_GINT64_FORMAT " %9"
                    G_GINT64_FORMAT " %9" G_GINT64_FORMAT " %9"
                    G_GINT64_FORMAT " ms %10" G_GINT64_FORMAT " ms %8.1f %8.1f"
                    "%s%s\n",
                    m->vm->name, m->src->name, m->dst->name, m->total_ms,
                    m->downtime_ms, pause_ms(m),
                    m->t_resume > 0 ? ms(m->t_resume - t_start) : -1,
                    release_to_stop_ms(m), m->transferred / 1048576.0,
                    m->disk_transferred / 1048576.0, m->error ? "  " : "",
                    m->error ? m->error : "");
        }
        g_print("VC %s: %.1f s in all, STOP skew %.1f ms, RESUME skew "
                "%.1f ms\n", vc->name, (t_end - t_start) / 1e6,
                skew_us(migs, FALSE) / 1e3, skew_us(migs, TRUE) / 1e3);
    }
    if (opts->report) {
        write_json(vc, opts, migs, t_start, t_end);
    }
    if (opts->svg) {
        write_svg(vc, opts, migs, t_start, t_end);
    }
}
