/*
 * The two ways bench/vc-switchover moves a VC: limevi migrate (every
 * switchover held, released together) and independent migrations, one
 * per VM, each switching over when its own pre-copy converges.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vc-switchover.h"

/* ---- limevi migrate ---- */

static gint64 member_int(JsonObject *o, const char *name)
{
    return json_object_get_int_member_with_default(o, name, -1);
}

static gboolean report_read(const char *path, Sample *s, GError **err)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o;
    JsonArray *vms;

    if (!json_parser_load_from_file(parser, path, err)) {
        return FALSE;
    }
    o = json_node_get_object(json_parser_get_root(parser));
    vms = json_object_get_array_member(o, "vms");
    s->stop_skew_us = member_int(o, "stop_skew_us");
    s->resume_skew_us = member_int(o, "resume_skew_us");
    s->moved_ms = 0;
    for (guint i = 0; vms && i < json_array_get_length(vms); i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);
        const char *name = json_object_get_string_member(vm, "vm");
        guint64 n = g_ascii_strtoull(name + 1, NULL, 10);
        VmSample *v;

        if (n >= s->size) {
            continue;
        }
        v = &s->vm[n];
        v->total_ms = member_int(vm, "total_ms");
        v->downtime_ms = member_int(vm, "downtime_ms");
        v->pause_ms = member_int(vm, "pause_ms");
        v->switchover_ms = member_int(vm, "switchover_at_ms");
        v->release_to_stop_ms = member_int(vm, "release_to_stop_ms");
        s->moved_ms = MAX(s->moved_ms, v->switchover_ms);
    }
    return TRUE;
}

gboolean move_limevi(Cluster *c, guint k, Sample *s, GError **err)
{
    g_autofree char *log = g_strdup_printf("%s/limevi-%u.log", c->dir, k);
    g_autofree char *report = g_strdup_printf("%s/report-%u.json", c->dir,
                                              k);
    g_autofree char *journal = g_build_filename(c->dir, "journal.db", NULL);
    g_autofree char *limit = g_strdup_printf("%u", opt.downtime_limit_ms);
    g_autofree char *timeout = g_strdup_printf("%u", opt.timeout_s);
    g_autofree char *mbit = g_strdup_printf("%u", opt.bandwidth_mbit);
    g_autoptr(GSubprocessLauncher) launcher = harness_launcher_new(
        G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_autoptr(GSubprocess) proc = NULL;
    const char *argv[] = {
        tool.cli, "migrate", c->path, "--to", s->to, "--journal", journal,
        "--report", report, "--downtime-limit", limit, "--timeout", timeout,
        /* Without a bandwidth the list ends here. */
        opt.bandwidth_mbit ? "--bandwidth" : NULL, mbit, NULL,
    };
    /* limevi rolls back by itself at --timeout; a minute more for that. */
    gint64 deadline = harness_deadline((opt.timeout_s + 60) * 1000);
    int status;

    g_subprocess_launcher_set_stdout_file_path(launcher, log);
    proc = g_subprocess_launcher_spawnv(launcher, argv, err);
    if (!proc) {
        return FALSE;
    }
    while (!harness_wait_process(proc, POLL_MS)) {
        if (bench_interrupted || g_get_monotonic_time() > deadline) {
            /* SIGTERM: limevi rolls the VC back to its sources. */
            g_subprocess_send_signal(proc, SIGTERM);
            if (!harness_wait_process(proc, 60000)) {
                harness_kill_process(proc);
            }
            g_set_error(err, BENCH_ERROR, 0, "limevi migrate %s",
                        bench_interrupted ? "interrupted" : "did not end");
            return FALSE;
        }
    }
    status = harness_process_status(proc);
    if (status != 0) {
        g_autofree char *tail = file_tail(log, 3);

        g_set_error(err, BENCH_ERROR, 0, "limevi migrate exited %d: %s",
                    status, tail);
        return FALSE;
    }
    return report_read(report, s, err);
}

/* ---- Independent migrations ---- */

typedef struct {
    const LimeviVcVm *vm;
    LimeviQmp *sq, *dq;         /* source, destination */
    gboolean completed, resumed, done;
    gint64 t_stop, t_resume;    /* QMP event times, real time in us */
    gint64 resumed_at;          /* monotonic, us */
} Move;

/* What libvirt asks of QEMU for a live migration: events and the return
 * path, and nothing that holds a switchover. */
static const LimeviQmpCapability independent_caps[] = {
    { "return-path", TRUE }, { "switchover-ack", FALSE }, { "events", TRUE },
};

/* The destination QEMU as limevi migrate starts it: the same command
 * line, from the VC file. */
static gboolean start_destination(Cluster *c, const LimeviVcHost *dst,
                                  Move *m, GError **err)
{
    g_auto(GStrv) base = limevi_launch_argv(c->vc, m->vm, dst, FALSE, err);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_autofree char *qmp = limevi_launch_path(dst, m->vm, "qmp");

    if (!base) {
        return FALSE;
    }
    g_strv_builder_addv(b, (const char **)base);
    g_strv_builder_add_many(b, "-incoming", "defer", NULL);
    argv = g_strv_builder_end(b);
    return limevi_launch(argv, m->vm, dst, err) &&
           (m->dq = limevi_qmp_connect(qmp, CONNECT_TIMEOUT_MS, err));
}

/* On a port the destination picks, with the bandwidth limit shared out
 * as limevi migrate does. */
static gboolean start_migration(const LimeviVcHost *dst, Move *m, guint n,
                                GError **err)
{
    gsize n_caps = G_N_ELEMENTS(independent_caps);
    guint16 port;

    if (!limevi_qmp_migrate_set_capabilities(m->sq, independent_caps, n_caps,
                                             err) ||
        !limevi_qmp_migrate_set_capabilities(m->dq, independent_caps, n_caps,
                                             err) ||
        !limevi_qmp_migrate_set_parameter(m->sq, "downtime-limit",
                                          opt.downtime_limit_ms, err) ||
        (opt.bandwidth_mbit &&
         !limevi_qmp_migrate_set_parameter(
             m->sq, "max-bandwidth",
             (gint64)opt.bandwidth_mbit * 1000000 / 8 / n, err)) ||
        !(port = limevi_qmp_migrate_incoming(m->dq, dst->address, err))) {
        return FALSE;
    }
    return limevi_qmp_migrate(m->sq, dst->address, port, err);
}

/* One look at @m; FALSE with @err set when its migration failed. */
static gboolean move_poll(Move *m, VmSample *v, Sample *s, GError **err)
{
    JsonObject *e;

    if (!m->completed) {
        g_auto(LimeviQmpMigration) info = { 0 };

        if (!limevi_qmp_query_migrate(m->sq, &info, err)) {
            return FALSE;
        }
        if (!strcmp(info.status, "failed") ||
            !strcmp(info.status, "cancelled")) {
            g_set_error(err, BENCH_ERROR, 0, "%s: migration %s: %s",
                        m->vm->name, info.status,
                        info.error_desc ? info.error_desc
                                        : "no reason given");
            return FALSE;
        }
        if (strcmp(info.status, "completed") != 0) {
            return TRUE;
        }
        m->completed = TRUE;
        v->total_ms = info.total_time_ms;
        v->downtime_ms = info.downtime_ms;
        /* The source stopped its guest before it could complete. */
        if ((e = limevi_qmp_event(m->sq, "STOP", 0, NULL))) {
            m->t_stop = limevi_qmp_event_time(e);
            json_object_unref(e);
        }
    }
    if (!m->resumed) {
        if (!(e = limevi_qmp_event(m->dq, "RESUME", 0, NULL))) {
            return TRUE;
        }
        m->t_resume = limevi_qmp_event_time(e);
        json_object_unref(e);
        m->resumed = TRUE;
        m->resumed_at = g_get_monotonic_time();
    }
    /* As limevi migrate does, the source stays until every peer sends
     * to the destination: what was on its way there is forwarded. */
    e = limevi_qmp_event(m->dq, "LIMEVI_PEERS_SYNCED", 0, NULL);
    if (e || g_get_monotonic_time() - m->resumed_at >
             SYNC_TIMEOUT_MS * G_GINT64_CONSTANT(1000)) {
        if (!e) {
            sample_note(s, "%s: peers not synced after %d s", m->vm->name,
                        SYNC_TIMEOUT_MS / 1000);
        }
        g_clear_pointer(&e, json_object_unref);
        limevi_qmp_run(m->sq, "quit", NULL, NULL);
        g_clear_pointer(&m->sq, limevi_qmp_free);
        m->done = TRUE;
    }
    return TRUE;
}

gboolean move_independent(Cluster *c, guint k, Sample *s,
                          GError **err)
{
    const LimeviVcHost *src = limevi_vc_host(c->vc, host_name[c->site]);
    const LimeviVcHost *dst = limevi_vc_host(c->vc, host_name[!c->site]);
    gint64 t0 = g_get_real_time();
    gint64 deadline = harness_deadline(opt.timeout_s * 1000);
    gint64 first = G_MAXINT64, last = 0;
    gint64 first_stop = G_MAXINT64, last_stop = 0;
    Move mv[MAX_VMS] = { 0 };
    gboolean ok = TRUE;
    guint done = 0;

    /* Destinations first, then every migration, as limevi migrate. */
    for (guint i = 0; ok && i < c->size; i++) {
        g_autofree char *qmp = NULL;

        mv[i].vm = c->vc->vms->pdata[i];
        qmp = limevi_launch_path(src, mv[i].vm, "qmp");
        ok = (mv[i].sq = limevi_qmp_connect(qmp, CONNECT_TIMEOUT_MS, err)) &&
             start_destination(c, dst, &mv[i], err);
    }
    for (guint i = 0; ok && i < c->size; i++) {
        ok = start_migration(dst, &mv[i], c->size, err);
    }
    while (ok && done < c->size) {
        if (!bench_check_interrupted(err)) {
            ok = FALSE;
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(err, BENCH_ERROR, 0, "%u of %u VMs switched over "
                        "in %u s", done, c->size, opt.timeout_s);
            ok = FALSE;
            break;
        }
        done = 0;
        for (guint i = 0; ok && i < c->size; i++) {
            ok = mv[i].done || move_poll(&mv[i], &s->vm[i], s, err);
            done += mv[i].done;
        }
        g_usleep(POLL_MS * 1000);
    }
    for (guint i = 0; i < c->size; i++) {
        Move *m = &mv[i];

        /* A failure cancels what has not switched over yet; the bed is
         * then torn down, wherever each VM runs. */
        if (!ok && m->sq && !m->completed) {
            limevi_qmp_run(m->sq, "migrate_cancel", NULL, NULL);
        }
        if (m->resumed) {
            s->vm[i].pause_ms = m->t_stop > 0 ? (m->t_resume - m->t_stop) /
                                                1000 : -1;
            s->vm[i].switchover_ms = (m->t_resume - t0) / 1000;
            first = MIN(first, m->t_resume);
            last = MAX(last, m->t_resume);
        }
        if (m->t_stop > 0) {
            first_stop = MIN(first_stop, m->t_stop);
            last_stop = MAX(last_stop, m->t_stop);
        }
        limevi_qmp_free(m->sq);
        limevi_qmp_free(m->dq);
    }
    s->resume_skew_us = last ? last - first : -1;
    s->stop_skew_us = last_stop ? last_stop - first_stop : -1;
    s->moved_ms = last ? (last - t0) / 1000 : -1;
    return ok;
}
