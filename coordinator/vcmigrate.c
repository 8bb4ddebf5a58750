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

#include "journal.h"
#include "launch.h"
#include "locate.h"
#include "report.h"
#include "virt.h"
#include "vcmigrate.h"

#define POLL_MS 200
/* While every source is ready the barrier is checked this often: the
 * release comes at most this long after the last VM became ready. */
#define BARRIER_POLL_MS 20
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
    LimeviJournal *journal;
    gint64 run_id;
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

/* Durable before the step's effects: a crash right after is resumable. */
static gboolean journal_step(Run *run, const char *step)
{
    g_autoptr(GError) error = NULL;

    if (!limevi_journal_step(run->journal, run->run_id, step, &error)) {
        g_printerr("limevi: %s\n", error->message);
        return FALSE;
    }
    return TRUE;
}

static void mig_free(gpointer data)
{
    LimeviVmMigration *m = data;

    if (m->virt) {
        limevi_virt_migration_abort(m->virt);
        limevi_virt_migration_free(m->virt);
    }
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

/*
 * The source holds its switchover until the coordinator releases it
 * (migrate-switchover), pre-copying what the guest dirties meanwhile.
 */
static gboolean set_hold(LimeviQmp *qmp, GError **error)
{
    return limevi_qmp_run(qmp, "migrate-set-capabilities",
        "{\"capabilities\":["
        "{\"capability\":\"switchover-hold\",\"state\":true}]}", error);
}

static gboolean set_caps(LimeviQmp *qmp, GError **error)
{
    return limevi_qmp_run(qmp, "migrate-set-capabilities",
        "{\"capabilities\":["
        "{\"capability\":\"return-path\",\"state\":true},"
        "{\"capability\":\"events\",\"state\":true}]}", error);
}

static gboolean start_destination(Run *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *qmp = limevi_launch_path(m->dst, m->vm, "qmp");

    set_phase(run, m, VM_STARTING);
    if (m->dst->libvirt) {
        return TRUE;            /* libvirt starts it as it migrates */
    }
    argv = limevi_launch_argv(run->vc, m->vm, m->dst, TRUE, &error);
    if (!argv || !(m->dst_pid = limevi_launch(argv, m->vm, m->dst, &error)) ||
        !(m->dq = limevi_qmp_connect(qmp, CONNECT_TIMEOUT_MS, &error))) {
        return fail_vm(m, error);
    }
    return TRUE;
}

/* The VM's share of the VC's bandwidth, 0 when none was given. */
static guint64 bandwidth_share(Run *run)
{
    return run->opts->bandwidth ? MAX(run->opts->bandwidth / run->migs->len,
                                      1) : 0;
}

/*
 * libvirt sets the capabilities itself (return-path and switchover-ack
 * when both QEMUs have them, events) and starts the destination; we only
 * need QMP to the destination QEMU once libvirt started it.
 */
static gboolean start_virt_migration(Run *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *qmp = limevi_launch_path(m->dst, m->vm, "qmp");
    g_autofree char *params = g_strdup_printf("{\"downtime-limit\":%u}",
                                              run->opts->downtime_limit_ms);
    gint64 deadline = g_get_monotonic_time() +
                      CONNECT_TIMEOUT_MS * G_GINT64_CONSTANT(1000);

    /* libvirt keeps QEMU's own times to itself. */
    m->total_ms = m->downtime_ms = -1;
    /* libvirt sets only the capabilities it knows: the hold is ours,
     * through the coordinator's QMP socket in the source domain. */
    if (!limevi_qmp_run(m->sq, "migrate-set-parameters", params, &error) ||
        !set_hold(m->sq, &error) ||
        !(m->virt = limevi_virt_migrate(run->vc, m->vm, m->src, m->dst,
                                        bandwidth_share(run), &error))) {
        return fail_vm(m, error);
    }
    while (!(m->dq = limevi_qmp_connect(qmp, 200, NULL))) {
        if (limevi_virt_migration_ended(m->virt, 100, &error)) {
            if (!error) {
                g_set_error(&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                            "libvirt ended the migration before the hold");
            }
            return fail_vm(m, error);
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "no QMP at %s: libvirt did not start the "
                        "destination in %d s", qmp, CONNECT_TIMEOUT_MS / 1000);
            return fail_vm(m, error);
        }
    }
    set_phase(run, m, VM_MIGRATING);
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

    if (m->dst->libvirt) {
        return start_virt_migration(run, m);
    }
    if (!set_caps(m->sq, &error) || !set_hold(m->sq, &error) ||
        !set_caps(m->dq, &error)) {
        return fail_vm(m, error);
    }
    params = g_strdup_printf("{\"downtime-limit\":%u}",
                             run->opts->downtime_limit_ms);
    if (!limevi_qmp_run(m->sq, "migrate-set-parameters", params, &error)) {
        return fail_vm(m, error);
    }
    if (run->opts->bandwidth) {
        g_autofree char *bw = g_strdup_printf(
            "{\"max-bandwidth\":%" G_GUINT64_FORMAT "}",
            bandwidth_share(run));

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

/* The hold's state is read from query-migrate; its events, which may
 * flip any number of times, are dropped so that the queue stays short. */
static void drain_ready_events(LimeviQmp *qmp)
{
    JsonObject *e;

    while ((e = limevi_qmp_event(qmp, "MIGRATION_SWITCHOVER_READY", 0,
                                 NULL))) {
        json_object_unref(e);
    }
}

/* Reads the source's progress; TRUE while nothing failed. */
static gboolean poll_migration(Run *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    gint64 asked = g_get_monotonic_time();
    JsonNode *ret;
    JsonObject *o, *ram;
    const char *status;

    if (m->phase == VM_DONE || m->phase == VM_FAILED) {
        return m->phase == VM_DONE;
    }
    /* libvirt's job ends after QEMU's: then the source QEMU is gone. */
    if (m->virt && limevi_virt_migration_ended(m->virt, 0, &error)) {
        if (error) {
            return fail_vm(m, error);
        }
        set_phase(run, m, VM_DONE);
        return TRUE;
    }
    drain_ready_events(m->sq);
    ret = limevi_qmp_call(m->sq, "query-migrate", NULL, &error);

    if (g_get_monotonic_time() - asked > 2 * G_USEC_PER_SEC) {
        g_printerr("limevi: VM %s: its QEMU took %.1f s to answer\n",
                   m->vm->name, (g_get_monotonic_time() - asked) / 1e6);
    }
    if (!ret && m->virt) {
        /* libvirt may have just ended it and stopped the source. */
        g_clear_error(&error);
        if (limevi_virt_migration_ended(m->virt, 10000, &error) && !error) {
            set_phase(run, m, VM_DONE);
            return TRUE;
        }
        if (!error) {
            g_set_error(&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "the source QEMU went away during migration");
        }
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
    if (json_object_has_member(o, "switchover-hold")) {
        m->hold_ready = json_object_get_boolean_member_with_default(
            json_object_get_object_member(o, "switchover-hold"), "ready",
            FALSE);
    }
    /* Until libvirt issues `migrate`, QEMU still shows the outcome of
     * the VM's last migration: libvirt's own end says whether this one
     * failed. */
    if (m->virt && (!strcmp(status, "failed") ||
                    !strcmp(status, "cancelled"))) {
        json_node_unref(ret);
        if (limevi_virt_migration_ended(m->virt, 0, &error) && error) {
            return fail_vm(m, error);
        }
        return TRUE;
    }
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
    } else if (m->phase == VM_MIGRATING && m->hold_ready) {
        /* Converged by QEMU's own criterion; the hold keeps it running. */
        set_phase(run, m, VM_READY);
    } else if (m->phase == VM_READY && !m->hold_ready) {
        /* It fell out of convergence: the barrier waits for it again. */
        m->phase = VM_MIGRATING;
        m->fell_out++;
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

/* No migration of @qmp's QEMU is under way (or it cannot be asked). */
static gboolean migration_over(LimeviQmp *qmp)
{
    static const char *const busy[] = {
        "setup", "active", "cancelling", "pre-switchover", "device",
    };
    JsonNode *ret = limevi_qmp_call(qmp, "query-migrate", NULL, NULL);
    const char *status;
    gboolean over = TRUE;

    if (!ret) {
        return TRUE;
    }
    status = json_object_get_string_member_with_default(
        json_node_get_object(ret), "status", "none");
    for (guint i = 0; i < G_N_ELEMENTS(busy); i++) {
        if (!strcmp(status, busy[i])) {
            over = FALSE;
        }
    }
    json_node_unref(ret);
    return over;
}

static void rollback(Run *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->virt) {
            limevi_virt_migration_abort(m->virt);
        } else if (m->src->libvirt) {
            /* Cancel them all first; the loop below waits them out. */
            limevi_virt_wait_idle(m->src, m->vm, TRUE, 0);
        } else if (m->sq && m->phase >= VM_MIGRATING) {
            limevi_qmp_run(m->sq, "migrate_cancel", NULL, NULL);
        }
    }
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        /* The source runs again once its migration is cancelled.  A held
         * source never stopped running: its migration must also be over
         * (migrate_cancel only starts cancelling), or its netdev would
         * still be migrating. */
        while (m->sq && g_get_monotonic_time() < deadline) {
            JsonNode *ret = limevi_qmp_call(m->sq, "query-status", NULL,
                                            NULL);
            gboolean running = ret && !g_strcmp0(json_object_get_string_member(
                json_node_get_object(ret), "status"), "running");

            if (ret) {
                json_node_unref(ret);
            }
            if (running && migration_over(m->sq)) {
                break;
            }
            g_usleep(100 * 1000);
        }
        if (m->virt) {
            /* libvirt removes the destination domain itself. */
            limevi_virt_migration_ended(m->virt, 30000, NULL);
        } else if (m->src->libvirt) {
            /* A job of a coordinator that died: it must be over before
             * the next migration. */
            limevi_virt_wait_idle(m->src, m->vm, FALSE, 30000);
        } else if (m->dq) {
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
                /* A VM whose move failed still runs at its source. */
                g_autofree char *want = g_strdup_printf(
                    "%s:%u", m->phase == VM_DONE ? m->dst->address
                                                 : m->src->address,
                    m->vm->port);

                if (strcmp(m->vm->name, peer) != 0) {
                    continue;
                }
                if (strcmp(json_object_get_string_member(route, "endpoint"),
                           want) != 0 ||
                    strcmp(json_object_get_string_member(route, "status"),
                           "valid") != 0) {
                    g_autoptr(GError) error = NULL;

                    /* A move the VMs missed (its old host gone before it
                     * passed it on): set it, which also sends the frames
                     * held for the VM. */
                    if (limevi_qmp_route_set(loc->qmp, peer, want, "valid",
                                             &error)) {
                        g_printerr("limevi: repaired %s's route to %s: "
                                   "was %s %s, now %s valid\n",
                                   loc->vm->name, peer,
                                   json_object_get_string_member(route,
                                                                 "endpoint"),
                                   json_object_get_string_member(route,
                                                                 "status"),
                                   want);
                        m->repaired++;
                        continue;
                    }
                    g_printerr("limevi: %s's route to %s is %s %s, "
                               "expected %s valid, and setting it failed: "
                               "%s\n", loc->vm->name, peer,
                               json_object_get_string_member(route,
                                                             "endpoint"),
                               json_object_get_string_member(route,
                                                             "status"),
                               want, error->message);
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
        if (!m->src->libvirt != !m->dst->libvirt ||
            (m->dst->libvirt ? !m->vm->domain : !m->vm->qemu)) {
            g_printerr("limevi: VM %s cannot move from %s to %s: %s; "
                       "nothing was changed\n", m->vm->name, m->src->name,
                       m->dst->name, !m->src->libvirt != !m->dst->libvirt ?
                       "one is a libvirt host and the other is not" :
                       m->dst->libvirt ? "it has no 'domain' key" :
                                         "it has no 'qemu' key");
            g_free(m);
            return FALSE;
        }
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

static gboolean any_virt(Run *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        if (((LimeviVmMigration *)run->migs->pdata[i])->virt) {
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * libvirt stops each source as soon as its VM runs at the destination,
 * so an old host cannot pass on the moves of peers that switch over with
 * it, and frames sent to it then are lost.  So before the release, every
 * moving VM holds its frames for the other moving VMs of its LAN (the
 * held frames travel with its state); each such route turns valid when
 * the peer's announcement arrives, or when the route check after the
 * migration sets it.
 */
static void hold_between_movers(Run *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        for (guint k = 0; k < run->migs->len; k++) {
            LimeviVmMigration *p = run->migs->pdata[k];
            g_autofree char *endpoint = NULL;
            g_autoptr(GError) error = NULL;

            if (p == m || strcmp(p->vm->lan, m->vm->lan) != 0) {
                continue;
            }
            endpoint = g_strdup_printf("%s:%u", p->src->address,
                                       p->vm->port);
            if (!limevi_qmp_route_set(m->sq, p->vm->name, endpoint,
                                      "invalid", &error)) {
                g_printerr("limevi: VM %s: holding frames for %s: %s\n",
                           m->vm->name, p->vm->name, error->message);
            }
        }
    }
}

static void pump(Run *run)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

static gboolean any_ready(Run *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        if (((LimeviVmMigration *)run->migs->pdata[i])->phase == VM_READY) {
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * Converge: the barrier.  Polls every source until one round finds every
 * one of them held and ready at once; a VM that falls out (ready=false)
 * is migrating again, so the barrier waits for it.  While some are ready
 * it polls faster, so that the release follows the last one closely.
 * Returns why it stopped short (and *@bad, the VM that failed), or NULL
 * when every VM is ready.
 */
static const char *converge(Run *run, gint64 deadline,
                            LimeviVmMigration **bad)
{
    for (;;) {
        pump(run);
        if (run->interrupted) {
            return "interrupted";
        }
        if (g_get_monotonic_time() > deadline) {
            return "timed out before every VM was ready to switch over";
        }
        for (guint i = 0; i < run->migs->len; i++) {
            poll_migration(run, run->migs->pdata[i]);
        }
        if ((*bad = first_failed(run))) {
            return NULL;
        }
        if (all_at_least(run, VM_READY)) {
            return NULL;
        }
        print_progress(run, FALSE);
        g_usleep((any_ready(run) ? BARRIER_POLL_MS : POLL_MS) * 1000);
    }
}

/*
 * Release: every source is held and ready, so migrate-switchover is
 * written to every source's QMP socket before any reply is read: the
 * switchovers start as close together as the sockets allow.  libvirt's
 * sources too, through the coordinator's own socket in their domain.
 * The one place that decides how a converged VC is let go.
 */
static void release_all(Run *run)
{
    GPtrArray *migs = run->migs;
    g_autofree guint64 *ids = g_new0(guint64, migs->len);

    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        g_autoptr(GError) error = NULL;

        set_phase(run, m, VM_SWITCHING);
        ids[i] = limevi_qmp_send(m->sq, "migrate-switchover", NULL, &error);
        if (!ids[i]) {
            fail_vm(m, error);
        }
    }
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        g_autoptr(GError) error = NULL;
        JsonNode *ret;

        if (!ids[i]) {
            continue;
        }
        ret = limevi_qmp_reply(m->sq, ids[i], "migrate-switchover", &error);
        if (!ret) {
            fail_vm(m, error);
            continue;
        }
        json_node_unref(ret);
    }
}

/*
 * Complete: waits for every migration to end, then for each moved VM's
 * LIMEVI_PEERS_SYNCED; a VM not done in time is marked failed.
 */
static void complete(Run *run, gint64 deadline)
{
    gint64 sync_deadline;

    while (!all_at_least(run, VM_DONE) && !first_failed(run) &&
           g_get_monotonic_time() < deadline) {
        for (guint i = 0; i < run->migs->len; i++) {
            poll_migration(run, run->migs->pdata[i]);
        }
        print_progress(run, FALSE);
        g_usleep(POLL_MS * 1000);
    }
    /* One wait for every VM's sync, not one per VM. */
    sync_deadline = g_get_monotonic_time() +
                    (any_virt(run) ? 0 : (gint64)SYNC_TIMEOUT_MS * 1000);
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        gint64 left = (sync_deadline - g_get_monotonic_time()) / 1000;
        JsonObject *e;

        if (m->phase != VM_DONE) {
            if (m->phase != VM_FAILED) {
                m->phase = VM_FAILED;
                m->error = g_strdup("did not complete in time");
            }
            continue;
        }
        /* With libvirt the sources are gone already and frames between
         * moved VMs wait: verify_routes() sets what did not sync. */
        e = limevi_qmp_event(m->dq, "LIMEVI_PEERS_SYNCED", MAX(left, 0),
                             NULL);
        if (e) {
            m->t_synced = limevi_qmp_event_time(e);
            json_object_unref(e);
        }
        collect_events(m);
    }
}

/*
 * Quit the sources: reads what each source forwarded, lets libvirt end
 * its migrations, quits the QMP sources that are done, and closes every
 * QMP connection so that the route check can connect.
 */
static void finish_sources(Run *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
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
        if (m->virt) {
            g_autoptr(GError) error = NULL;

            /* libvirt resumes the destination and stops the source. */
            if (!limevi_virt_migration_ended(m->virt, SYNC_TIMEOUT_MS,
                                             &error) || error) {
                if (!error) {
                    g_set_error(&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                "libvirt did not finish the migration");
                }
                fail_vm(m, error);
            }
        } else if (m->phase == VM_DONE && !run->opts->keep_sources) {
            limevi_qmp_run(m->sq, "quit", NULL, NULL);
        }
        /* QMP serves one client at a time: let the check below in. */
        g_clear_pointer(&m->sq, limevi_qmp_free);
        g_clear_pointer(&m->dq, limevi_qmp_free);
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
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *site = NULL, *step = NULL;

        run.journal = limevi_journal_open(opts->journal, &error);
        if (!run.journal) {
            g_printerr("limevi: %s\n", error->message);
            goto out;
        }
        limevi_journal_crash_at(run.journal, opts->crash_at);
        if (limevi_journal_unfinished(run.journal, vc->name, &site, &step)) {
            g_printerr("limevi: a migration of %s to site %s was interrupted "
                       "at step '%s'; run 'limevi migrate %s --to %s "
                       "--resume' first\n", vc->name, site, step, vc->path,
                       site);
            goto out;
        }
    }
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

    {
        g_autoptr(GError) error = NULL;

        run.run_id = limevi_journal_begin(run.journal, vc->name, opts->site,
                                          &error);
        for (guint i = 0; run.run_id && i < migs->len; i++) {
            LimeviVmMigration *m = migs->pdata[i];

            if (!limevi_journal_add_vm(run.journal, run.run_id, m->vm->name,
                                       m->src->name, m->dst->name, &error)) {
                run.run_id = 0;
            }
        }
        if (!run.run_id) {
            g_printerr("limevi: %s; nothing was changed\n", error->message);
            goto out;
        }
        if (!journal_step(&run, LIMEVI_STEP_PLANNED)) {
            goto out;
        }
    }

    /* Until every source is released, any failure rolls everything back. */
    for (guint i = 0; i < migs->len && !first_failed(&run); i++) {
        start_destination(&run, migs->pdata[i]);
    }
    if (!first_failed(&run)) {
        journal_step(&run, LIMEVI_STEP_STARTED);
    }
    for (guint i = 0; i < migs->len && !first_failed(&run); i++) {
        start_migration(&run, migs->pdata[i]);
    }
    if (!first_failed(&run)) {
        journal_step(&run, LIMEVI_STEP_MIGRATING);
    }
    why = converge(&run, deadline, &bad);
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
        journal_step(&run, LIMEVI_STEP_ROLLED_BACK);
        goto out;
    }
    /* From here on a crash must finish, not roll back. */
    if (!journal_step(&run, LIMEVI_STEP_RELEASED)) {
        rollback(&run);
        journal_step(&run, LIMEVI_STEP_ROLLED_BACK);
        goto out;
    }

    if (any_virt(&run)) {
        hold_between_movers(&run);
    }
    release_all(&run);
    complete(&run, deadline);
    print_progress(&run, TRUE);
    finish_sources(&run);
    wrong = verify_routes(&run);
    limevi_report(vc, opts, migs, run.t0, now_us());
    journal_step(&run, LIMEVI_STEP_DONE);
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
    limevi_journal_close(run.journal);
    g_source_remove(sig_int);
    g_source_remove(sig_term);
    return status;
}

/* ---- Resuming after the coordinator died ---- */

static LimeviQmp *connect_vm(const LimeviVcHost *host, const LimeviVcVm *vm)
{
    g_autofree char *path = limevi_launch_path(host, vm, "qmp");

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        return NULL;
    }
    return limevi_qmp_connect(path, 3000, NULL);
}

/* The PID in @host's pid file for @vm, if that process is still the
 * QEMU that wrote it (a stale file's PID may be anyone's now). */
static GPid qemu_pid(const LimeviVcHost *host, const LimeviVcVm *vm)
{
    g_autofree char *pidfile = limevi_launch_path(host, vm, "pid");
    g_autofree char *text = NULL, *cmdline = NULL, *proc = NULL;
    gsize len;
    GPid pid;

    if (!g_file_get_contents(pidfile, &text, NULL, NULL)) {
        return 0;
    }
    pid = (GPid)g_ascii_strtoll(text, NULL, 10);
    proc = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    if (pid <= 0 || !g_file_get_contents(proc, &cmdline, &len, NULL)) {
        return 0;
    }
    for (gsize i = 0; i + 1 < len; i++) {
        if (!cmdline[i]) {
            cmdline[i] = ' ';
        }
    }
    return strstr(cmdline, pidfile) ? pid : 0;
}

static char *migration_status(LimeviQmp *qmp)
{
    JsonNode *ret = qmp ? limevi_qmp_call(qmp, "query-migrate", NULL, NULL)
                        : NULL;
    char *status;

    if (!ret) {
        return NULL;
    }
    status = g_strdup(json_object_get_string_member_with_default(
        json_node_get_object(ret), "status", "none"));
    json_node_unref(ret);
    return status;
}

int limevi_vc_migrate_resume(LimeviVc *vc, const LimeviMigrateOptions *opts)
{
    g_autoptr(GPtrArray) migs = g_ptr_array_new_with_free_func(mig_free);
    g_autoptr(GError) error = NULL;
    g_autofree char *site = NULL, *step = NULL;
    g_auto(GStrv) rows = NULL;
    Run run = { .vc = vc, .opts = opts, .migs = migs };
    gboolean finish;
    guint failed = 0, wrong;
    int status = 1;

    run.t0 = now_us();
    run.journal = limevi_journal_open(opts->journal, &error);
    if (!run.journal) {
        g_printerr("limevi: %s\n", error->message);
        return 1;
    }
    limevi_journal_crash_at(run.journal, opts->crash_at);
    run.run_id = limevi_journal_unfinished(run.journal, vc->name, &site,
                                           &step);
    if (!run.run_id) {
        g_print("limevi: no interrupted migration of %s to resume\n",
                vc->name);
        limevi_journal_close(run.journal);
        return 0;
    }
    rows = limevi_journal_vms(run.journal, run.run_id);
    for (guint i = 0; rows[i] && rows[i + 1] && rows[i + 2]; i += 3) {
        LimeviVmMigration *m = g_new0(LimeviVmMigration, 1);

        m->vm = limevi_vc_vm(vc, rows[i]);
        m->src = limevi_vc_host(vc, rows[i + 1]);
        m->dst = limevi_vc_host(vc, rows[i + 2]);
        g_ptr_array_add(migs, m);
        if (!m->vm || !m->src || !m->dst) {
            g_printerr("limevi: %s no longer has VM %s or its hosts %s and "
                       "%s; cannot resume\n", vc->path, rows[i], rows[i + 1],
                       rows[i + 2]);
            goto out;
        }
        m->sq = connect_vm(m->src, m->vm);
        m->dq = connect_vm(m->dst, m->vm);
        m->dst_pid = m->dq ? 0 : qemu_pid(m->dst, m->vm);
        m->phase = VM_MIGRATING;
    }
    finish = !g_strcmp0(step, LIMEVI_STEP_RELEASED);
    g_print("limevi: resuming the migration of %s to site %s, interrupted "
            "at step '%s': %s\n", vc->name, site, step,
            finish ? "finishing it" : "rolling it back");
    if (!finish) {
        rollback(&run);
        journal_step(&run, LIMEVI_STEP_ROLLED_BACK);
        g_printerr("limevi: rolled back: every VM of %s runs on its source "
                   "host\n", vc->name);
        goto out;
    }

    /* The sources were (maybe) released: release them all (one already
     * released refuses, harmlessly), see it through. */
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];

        if (m->sq) {
            limevi_qmp_run(m->sq, "migrate-switchover", NULL, NULL);
        }
    }
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
        g_autofree char *st = NULL;

        for (;;) {
            g_free(st);
            st = migration_status(m->sq);
            if (!st || !strcmp(st, "completed") ||
                g_get_monotonic_time() > deadline) {
                break;
            }
            /* Until libvirt issues `migrate`, QEMU shows the outcome of
             * the last migration: only libvirt's job says it is over. */
            if ((!strcmp(st, "failed") || !strcmp(st, "cancelled") ||
                 !strcmp(st, "none")) &&
                (!m->src->libvirt || !limevi_virt_job_active(m->src, m->vm))) {
                break;
            }
            g_usleep(200 * 1000);
        }
        if (st && !strcmp(st, "completed") && m->src->libvirt) {
            /* libvirt resumes the destination, then stops the source
             * itself; a source quit before would fail its job. */
            m->phase = VM_DONE;
            while (g_get_monotonic_time() < deadline &&
                   limevi_qmp_run(m->sq, "query-status", NULL, NULL)) {
                g_usleep(200 * 1000);
            }
        } else if (st && !strcmp(st, "completed")) {
            m->phase = VM_DONE;
            limevi_qmp_run(m->sq, "quit", NULL, NULL);
        } else if (m->sq && g_strcmp0(st, "completed")) {
            /* The VM still runs at its source: the destination goes. */
            m->phase = VM_FAILED;
            m->error = g_strdup_printf("migration %s", st ? st : "lost");
            failed++;
            if (m->src->libvirt) {
                /* libvirt removes the destination with its job. */
                limevi_virt_wait_idle(m->src, m->vm, TRUE, 30000);
            } else if (m->dq) {
                limevi_qmp_run(m->dq, "quit", NULL, NULL);
            }
        } else {
            m->phase = VM_DONE;     /* the source is gone: it moved */
        }
        g_clear_pointer(&m->sq, limevi_qmp_free);
        g_clear_pointer(&m->dq, limevi_qmp_free);
    }
    wrong = verify_routes(&run);
    journal_step(&run, LIMEVI_STEP_DONE);
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];

        g_print("  %-10s %s\n", m->vm->name, m->phase == VM_DONE ?
                m->dst->name : m->src->name);
    }
    status = failed || wrong ? 1 : 0;
out:
    limevi_journal_close(run.journal);
    return status;
}
