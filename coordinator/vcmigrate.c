/*
 * The VC migration protocol of the coordinator (DESIGN.md section 4).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "launch.h"
#include "locate.h"
#include "report.h"
#include "vcmigrate.h"

#define POLL_MS 200
/* QEMU's own default for max-bandwidth. */
#define FULL_BANDWIDTH (128 * 1024 * 1024)
/* While a converged VM waits for the others, pre-copy only has to keep up
 * with what the guest dirties: twice that, at least this much.  The rest
 * of the link (and of the host's CPU) goes to the VMs still copying. */
#define HOLD_BANDWIDTH_MIN (1024 * 1024)
#define CONNECT_TIMEOUT_MS 10000
#define SYNC_TIMEOUT_MS 30000

static const char *const phase_names[] = {
    [VM_PLANNED] = "planned",
    [VM_STARTING] = "starting",
    [VM_MIGRATING] = "migrating",
    [VM_READY] = "ready",
    [VM_SWITCHING] = "switching",
    [VM_DONE] = "done",
    [VM_FAILED] = "failed",
    [VM_ROLLED_BACK] = "rolled-back",
};

typedef struct {
    LimeviVc *vc;
    const LimeviMigrateOptions *opts;
    GPtrArray *migs;            /* LimeviVmMigration * */
    gboolean interrupted;
    gboolean tty;
    guint drawn;                /* progress lines on screen */
    gint64 last_print;
    gint64 t0;                  /* monotonic start, us */
} Run;

static gint64 now_us(void)
{
    return g_get_real_time();
}

static void mig_free(gpointer data)
{
    LimeviVmMigration *m = data;

    limevi_qmp_free(m->sq);
    limevi_qmp_free(m->dq);
    g_free(m->error);
    g_free(m);
}

static void set_phase(Run *run, LimeviVmMigration *m, LimeviVmPhase phase)
{
    m->phase = phase;
    m->t_phase[phase] = now_us();
}

static gboolean fail_vm(LimeviVmMigration *m, GError *error)
{
    if (!m->error) {
        m->error = g_strdup(error->message);
    }
    m->phase = VM_FAILED;
    return FALSE;
}

/* ---- Progress ---- */

static void print_progress(Run *run, gboolean final)
{
    if (run->opts->json) {
        for (guint i = 0; i < run->migs->len; i++) {
            LimeviVmMigration *m = run->migs->pdata[i];

            g_print("{\"vm\":\"%s\",\"phase\":\"%s\",\"transferred\":%"
                    G_GINT64_FORMAT ",\"remaining\":%" G_GINT64_FORMAT
                    ",\"total\":%" G_GINT64_FORMAT ",\"dirty_rate\":%"
                    G_GINT64_FORMAT ",\"eta_ms\":%" G_GINT64_FORMAT "}\n",
                    m->vm->name, phase_names[m->phase], m->transferred,
                    m->remaining, m->total, m->dirty_rate, m->eta_ms);
        }
        return;
    }
    /* Without a terminal: a block of lines every few seconds. */
    if (!run->tty && !final) {
        gint64 now = g_get_monotonic_time();

        if (now - run->last_print < 5 * G_USEC_PER_SEC) {
            return;
        }
        run->last_print = now;
        g_print("[%5.1f s]\n", (now_us() - run->t0) / 1e6);
    }
    if (run->tty && run->drawn && !final) {
        g_print("\033[%uA", run->drawn);
    }
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        double pct = m->total ? 100.0 * m->transferred / m->total : 0;
        char bar[21];
        guint fill = MIN(20, (guint)(pct / 5));

        if (m->phase >= VM_SWITCHING && m->phase != VM_FAILED) {
            fill = 20;
        }
        memset(bar, '#', fill);
        memset(bar + fill, '.', 20 - fill);
        bar[20] = '\0';
        g_print("%s%-10s %-11s [%s] %6.1f MiB sent, %6.1f MiB left, "
                "dirty %6" G_GINT64_FORMAT " pages/s, eta %5.1f s\n",
                run->tty ? "\033[2K" : "", m->vm->name,
                phase_names[m->phase], bar, m->transferred / 1048576.0,
                m->remaining / 1048576.0, m->dirty_rate, m->eta_ms / 1000.0);
    }
    run->drawn = run->migs->len;
}

/* ---- One VM ---- */

static gboolean set_caps(LimeviQmp *qmp, GError **error)
{
    return limevi_qmp_run(qmp, "migrate-set-capabilities",
        "{\"capabilities\":["
        "{\"capability\":\"return-path\",\"state\":true},"
        "{\"capability\":\"switchover-ack\",\"state\":true},"
        "{\"capability\":\"events\",\"state\":true}]}", error);
}

static gboolean start_destination(Run *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = limevi_launch_argv(run->vc, m->vm, m->dst, TRUE,
                                            &error);
    g_autofree char *qmp = limevi_launch_path(m->dst, m->vm, "qmp");

    set_phase(run, m, VM_STARTING);
    if (!argv || !(m->dst_pid = limevi_launch(argv, m->vm, m->dst, &error)) ||
        !(m->dq = limevi_qmp_connect(qmp, CONNECT_TIMEOUT_MS, &error))) {
        return fail_vm(m, error);
    }
    return TRUE;
}

static gboolean start_migration(Run *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *incoming = NULL;
    g_autofree char *params = NULL;
    g_autofree char *uri = NULL;
    JsonNode *ret;
    JsonArray *addrs;
    const char *port;

    if (!set_caps(m->sq, &error) || !set_caps(m->dq, &error)) {
        return fail_vm(m, error);
    }
    params = g_strdup_printf("{\"downtime-limit\":%u%s}",
                             run->opts->downtime_limit_ms,
                             run->opts->bandwidth ? "" : "");
    if (!limevi_qmp_run(m->sq, "migrate-set-parameters", params, &error)) {
        return fail_vm(m, error);
    }
    if (run->opts->bandwidth) {
        g_autofree char *bw = g_strdup_printf(
            "{\"max-bandwidth\":%" G_GUINT64_FORMAT "}",
            MAX(run->opts->bandwidth / run->migs->len, 1));

        if (!limevi_qmp_run(m->sq, "migrate-set-parameters", bw, &error)) {
            return fail_vm(m, error);
        }
    }
    /* Port 0: the destination picks a free one and tells us. */
    incoming = g_strdup_printf("{\"uri\":\"tcp:%s:0\"}", m->dst->address);
    if (!limevi_qmp_run(m->dq, "migrate-incoming", incoming, &error)) {
        return fail_vm(m, error);
    }
    ret = limevi_qmp_call(m->dq, "query-migrate", NULL, &error);
    if (!ret) {
        return fail_vm(m, error);
    }
    addrs = json_object_get_array_member(json_node_get_object(ret),
                                         "socket-address");
    port = addrs && json_array_get_length(addrs) ?
           json_object_get_string_member(
               json_array_get_object_element(addrs, 0), "port") : NULL;
    uri = port ? g_strdup_printf("{\"uri\":\"tcp:%s:%s\"}", m->dst->address,
                                 port) : NULL;
    json_node_unref(ret);
    if (!uri) {
        m->error = g_strdup("the destination reports no listening port");
        m->phase = VM_FAILED;
        return FALSE;
    }
    if (!limevi_qmp_run(m->sq, "migrate", uri, &error)) {
        return fail_vm(m, error);
    }
    set_phase(run, m, VM_MIGRATING);
    return TRUE;
}

/* Reads the source's progress; TRUE while nothing failed. */
static gboolean poll_migration(Run *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    gint64 asked = g_get_monotonic_time();
    JsonNode *ret = limevi_qmp_call(m->sq, "query-migrate", NULL, &error);
    JsonObject *o, *ram;
    const char *status;

    if (g_get_monotonic_time() - asked > 2 * G_USEC_PER_SEC) {
        g_printerr("limevi: VM %s: its QEMU took %.1f s to answer\n",
                   m->vm->name, (g_get_monotonic_time() - asked) / 1e6);
    }
    if (!ret) {
        return fail_vm(m, error);
    }
    o = json_node_get_object(ret);
    status = json_object_get_string_member_with_default(o, "status", "");
    ram = json_object_has_member(o, "ram") ?
          json_object_get_object_member(o, "ram") : NULL;
    if (ram) {
        gint64 mbps = json_object_get_double_member_with_default(ram, "mbps",
                                                                 0);

        m->transferred = json_object_get_int_member(ram, "transferred");
        m->remaining = json_object_get_int_member(ram, "remaining");
        m->total = json_object_get_int_member(ram, "total");
        m->dirty_rate = json_object_get_int_member_with_default(
            ram, "dirty-pages-rate", 0);
        m->syncs = json_object_get_int_member_with_default(
            ram, "dirty-sync-count", 0);
        m->eta_ms = mbps > 0 ? m->remaining * 8 / (mbps * 1000) : 0;
    }
    m->expected_downtime = json_object_get_int_member_with_default(
        o, "expected-downtime", -1);
    if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
        m->error = g_strdup_printf("migration %s: %s", status,
            json_object_get_string_member_with_default(o, "error-desc",
                                                       "no reason given"));
        m->phase = VM_FAILED;
        json_node_unref(ret);
        return FALSE;
    }
    if (!strcmp(status, "completed")) {
        m->total_ms = json_object_get_int_member_with_default(o, "total-time",
                                                              -1);
        m->downtime_ms = json_object_get_int_member_with_default(o, "downtime",
                                                                 -1);
        if (m->phase < VM_DONE) {
            set_phase(run, m, VM_DONE);
        }
    } else if (m->phase == VM_MIGRATING && m->syncs >= 2 &&
               m->expected_downtime >= 0 &&
               m->expected_downtime <= (gint64)run->opts->downtime_limit_ms) {
        /* Pre-copy converged: only the gate holds the switchover now. */
        g_autofree char *bw = g_strdup_printf(
            "{\"max-bandwidth\":%" G_GINT64_FORMAT "}",
            MAX((gint64)HOLD_BANDWIDTH_MIN, m->dirty_rate * 4096 * 2));

        limevi_qmp_run(m->sq, "migrate-set-parameters", bw, NULL);
        set_phase(run, m, VM_READY);
    }
    json_node_unref(ret);
    return TRUE;
}

/* ---- The VC ---- */

static gboolean on_signal(gpointer data)
{
    Run *run = data;

    run->interrupted = TRUE;
    return G_SOURCE_CONTINUE;
}

static void rollback(Run *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->sq && m->phase >= VM_MIGRATING) {
            limevi_qmp_run(m->sq, "migrate_cancel", NULL, NULL);
        }
    }
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        /* The source runs again once its migration is cancelled. */
        while (m->sq && g_get_monotonic_time() < deadline) {
            JsonNode *ret = limevi_qmp_call(m->sq, "query-status", NULL,
                                            NULL);
            gboolean running = ret && !g_strcmp0(json_object_get_string_member(
                json_node_get_object(ret), "status"), "running");

            if (ret) {
                json_node_unref(ret);
            }
            if (running) {
                break;
            }
            g_usleep(100 * 1000);
        }
        if (m->dq) {
            limevi_qmp_run(m->dq, "quit", NULL, NULL);
        } else if (m->dst_pid) {
            kill(m->dst_pid, SIGTERM);
        }
        if (m->phase != VM_FAILED) {
            m->phase = VM_ROLLED_BACK;
        }
    }
}

/* Every member's route to every moved VM must point at its new host. */
static guint verify_routes(Run *run)
{
    g_autoptr(GPtrArray) locs = limevi_locate(run->vc);
    guint wrong = 0;

    for (guint i = 0; i < locs->len; i++) {
        LimeviLocation *loc = locs->pdata[i];
        JsonNode *ret;
        JsonArray *list, *routes;

        if (!loc->qmp || loc->running != 1) {
            g_printerr("limevi: VM %s runs on %u hosts\n", loc->vm->name,
                       loc->running);
            wrong++;
            continue;
        }
        ret = limevi_qmp_call(loc->qmp, "query-limevi", NULL, NULL);
        if (!ret) {
            wrong++;
            continue;
        }
        list = json_node_get_array(ret);
        routes = json_array_get_length(list) ?
                 json_object_get_array_member(
                     json_array_get_object_element(list, 0), "routes") : NULL;
        for (guint r = 0; routes && r < json_array_get_length(routes); r++) {
            JsonObject *route = json_array_get_object_element(routes, r);
            const char *peer = json_object_get_string_member(route, "vm");

            for (guint k = 0; k < run->migs->len; k++) {
                LimeviVmMigration *m = run->migs->pdata[k];
                g_autofree char *want = g_strdup_printf(
                    "%s:%u", m->dst->address, m->vm->port);

                if (strcmp(m->vm->name, peer) != 0) {
                    continue;
                }
                if (strcmp(json_object_get_string_member(route, "endpoint"),
                           want) != 0 ||
                    strcmp(json_object_get_string_member(route, "status"),
                           "valid") != 0) {
                    g_printerr("limevi: %s's route to %s is %s %s, "
                               "expected %s valid\n", loc->vm->name, peer,
                               json_object_get_string_member(route,
                                                             "endpoint"),
                               json_object_get_string_member(route,
                                                             "status"),
                               want);
                    wrong++;
                }
            }
        }
        json_node_unref(ret);
    }
    return wrong;
}

/* Switchover times from QMP events: STOP at the source, RESUME at the
 * destination, and the destination's LIMEVI_PEERS_SYNCED. */
static void collect_events(LimeviVmMigration *m)
{
    JsonObject *e;

    if ((e = limevi_qmp_event(m->sq, "STOP", 0, NULL))) {
        m->t_stop = limevi_qmp_event_time(e);
        json_object_unref(e);
    }
    if ((e = limevi_qmp_event(m->dq, "RESUME", 0, NULL))) {
        m->t_resume = limevi_qmp_event_time(e);
        json_object_unref(e);
    }
    if (!m->t_synced &&
        (e = limevi_qmp_event(m->dq, "LIMEVI_PEERS_SYNCED", 0, NULL))) {
        m->t_synced = limevi_qmp_event_time(e);
        json_object_unref(e);
    }
}

static gboolean plan(Run *run, GPtrArray *locs)
{
    g_autoptr(GPtrArray) targets = limevi_vc_hosts_at_site(run->vc,
                                                          run->opts->site);
    guint next = 0;

    if (!targets || !targets->len) {
        g_printerr("limevi: %s: no host of the VC is at site '%s'\n",
                   run->vc->path, run->opts->site);
        return FALSE;
    }
    for (guint i = 0; i < locs->len; i++) {
        LimeviLocation *loc = locs->pdata[i];
        LimeviVmMigration *m;

        if (!loc->host || loc->running != 1) {
            g_printerr("limevi: VM %s %s; nothing was changed\n",
                       loc->vm->name, loc->running ? "runs on several hosts"
                                                   : "does not run");
            return FALSE;
        }
        if (!g_strcmp0(loc->host->site, run->opts->site)) {
            continue;
        }
        m = g_new0(LimeviVmMigration, 1);
        m->vm = loc->vm;
        m->src = loc->host;
        m->dst = targets->pdata[next++ % targets->len];
        m->sq = g_steal_pointer(&loc->qmp);
        m->phase = VM_PLANNED;
        g_ptr_array_add(run->migs, m);
    }
    return TRUE;
}

static gboolean all_at_least(Run *run, LimeviVmPhase phase)
{
    for (guint i = 0; i < run->migs->len; i++) {
        if (((LimeviVmMigration *)run->migs->pdata[i])->phase < phase) {
            return FALSE;
        }
    }
    return TRUE;
}

static LimeviVmMigration *first_failed(Run *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->phase == VM_FAILED) {
            return m;
        }
    }
    return NULL;
}

static void pump(Run *run)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

int limevi_vc_migrate(LimeviVc *vc, const LimeviMigrateOptions *opts)
{
    g_autoptr(GPtrArray) locs = limevi_locate(vc);
    g_autoptr(GPtrArray) migs = g_ptr_array_new_with_free_func(mig_free);
    Run run = { .vc = vc, .opts = opts, .migs = migs,
                .tty = isatty(STDOUT_FILENO) && !opts->json };
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)opts->timeout_s * G_USEC_PER_SEC;
    guint sig_int = g_unix_signal_add(SIGINT, on_signal, &run);
    guint sig_term = g_unix_signal_add(SIGTERM, on_signal, &run);
    LimeviVmMigration *bad = NULL;
    const char *why = NULL;
    guint wrong;
    int status = 1;

    run.t0 = now_us();
    if (!plan(&run, locs)) {
        goto out;
    }
    if (!migs->len) {
        g_print("limevi: every VM of %s already runs at site %s\n", vc->name,
                opts->site);
        status = 0;
        goto out;
    }
    if (!opts->json) {
        g_print("limevi: moving %u VM%s of %s to site %s\n", migs->len,
                migs->len > 1 ? "s" : "", vc->name, opts->site);
        for (guint i = 0; i < migs->len; i++) {
            LimeviVmMigration *m = migs->pdata[i];

            g_print("  %-10s %s -> %s\n", m->vm->name, m->src->name,
                    m->dst->name);
        }
    }

    /* Until every gate is released, any failure rolls everything back. */
    for (guint i = 0; i < migs->len && !first_failed(&run); i++) {
        start_destination(&run, migs->pdata[i]);
    }
    for (guint i = 0; i < migs->len && !first_failed(&run); i++) {
        start_migration(&run, migs->pdata[i]);
    }
    while (!(bad = first_failed(&run)) && !all_at_least(&run, VM_READY)) {
        pump(&run);
        if (run.interrupted) {
            why = "interrupted";
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            why = "timed out before every VM was ready to switch over";
            break;
        }
        for (guint i = 0; i < migs->len; i++) {
            poll_migration(&run, migs->pdata[i]);
        }
        print_progress(&run, FALSE);
        g_usleep(POLL_MS * 1000);
    }
    if (bad || why) {
        print_progress(&run, TRUE);
        rollback(&run);
        if (bad) {
            g_printerr("limevi: VM %s: %s\n", bad->vm->name, bad->error);
        } else {
            g_printerr("limevi: %s\n", why);
        }
        g_printerr("limevi: rolled back: every VM of %s still runs on its "
                   "source host, routes unchanged\n", vc->name);
        goto out;
    }

    /* Every VM converged: full speed for the last round, then switch
     * them over together. */
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        g_autofree char *bw = g_strdup_printf(
            "{\"max-bandwidth\":%" G_GUINT64_FORMAT "}",
            opts->bandwidth ? MAX(opts->bandwidth / migs->len, 1)
                            : FULL_BANDWIDTH);

        limevi_qmp_run(m->sq, "migrate-set-parameters", bw, NULL);
    }
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        g_autoptr(GError) error = NULL;

        if (!limevi_qmp_run(m->dq, "limevi-switchover-release",
                            "{\"netdev\":\"n0\"}", &error)) {
            fail_vm(m, error);
        }
        set_phase(&run, m, VM_SWITCHING);
    }
    while (!all_at_least(&run, VM_DONE) && !first_failed(&run) &&
           g_get_monotonic_time() < deadline) {
        for (guint i = 0; i < migs->len; i++) {
            poll_migration(&run, migs->pdata[i]);
        }
        print_progress(&run, FALSE);
        g_usleep(POLL_MS * 1000);
    }
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        JsonObject *e;

        if (m->phase != VM_DONE) {
            if (m->phase != VM_FAILED) {
                m->phase = VM_FAILED;
                m->error = g_strdup("did not complete in time");
            }
            continue;
        }
        e = limevi_qmp_event(m->dq, "LIMEVI_PEERS_SYNCED", SYNC_TIMEOUT_MS,
                             NULL);
        if (e) {
            m->t_synced = limevi_qmp_event_time(e);
            json_object_unref(e);
        }
        collect_events(m);
    }
    print_progress(&run, TRUE);
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        JsonNode *ret = limevi_qmp_call(m->sq, "query-limevi", NULL, NULL);

        if (ret && json_array_get_length(json_node_get_array(ret))) {
            m->forwarded = json_object_get_int_member(
                json_object_get_object_member(
                    json_array_get_object_element(json_node_get_array(ret), 0),
                    "stats"), "rx-forwarded");
        }
        if (ret) {
            json_node_unref(ret);
        }
        if (m->phase == VM_DONE && !opts->keep_sources) {
            limevi_qmp_run(m->sq, "quit", NULL, NULL);
        }
        /* QMP serves one client at a time: let the check below in. */
        g_clear_pointer(&m->sq, limevi_qmp_free);
        g_clear_pointer(&m->dq, limevi_qmp_free);
    }
    wrong = verify_routes(&run);
    limevi_report(vc, opts, migs, run.t0, now_us());
    status = first_failed(&run) || wrong ? 1 : 0;
    if (status) {
        for (guint i = 0; i < migs->len; i++) {
            LimeviVmMigration *m = migs->pdata[i];

            if (m->phase == VM_FAILED) {
                g_printerr("limevi: VM %s: %s; it runs on %s\n",
                           m->vm->name, m->error, m->src->name);
            }
        }
    }
out:
    g_source_remove(sig_int);
    g_source_remove(sig_term);
    return status;
}
