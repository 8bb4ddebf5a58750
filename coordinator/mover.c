/*
 * What the QEMU and libvirt movers share: the hold, the release, and
 * reading a source's query-migrate and both ends' TLS.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mover.h"

const LimeviMover *limevi_mover_for(const LimeviVcHost *src)
{
    return src->libvirt ? &limevi_mover_libvirt : &limevi_mover_qemu;
}

gboolean limevi_movers_stop_sources(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        if (((LimeviVmMigration *)run->migs->pdata[i])->mover->stops_source) {
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * The source holds its switchover until the coordinator releases it
 * (migrate-switchover), pre-copying what the guest dirties meanwhile.
 */
gboolean limevi_mover_set_hold(LimeviQmp *qmp, GError **error)
{
    return limevi_qmp_run(qmp, "migrate-set-capabilities",
        "{\"capabilities\":["
        "{\"capability\":\"switchover-hold\",\"state\":true}]}", error);
}

guint64 limevi_mover_bandwidth(LimeviRun *run)
{
    return run->opts->bandwidth ? MAX(run->opts->bandwidth / run->migs->len,
                                      1) : 0;
}

static char *tls_creds_of(LimeviQmp *qmp)
{
    JsonNode *ret = qmp ? limevi_qmp_call(qmp, "query-migrate-parameters",
                                          NULL, NULL) : NULL;
    char *creds;

    if (!ret) {
        return NULL;
    }
    creds = g_strdup(json_object_get_string_member_with_default(
        json_node_get_object(ret), "tls-creds", ""));
    json_node_unref(ret);
    return creds;
}

void limevi_mover_read_tls(LimeviVmMigration *m)
{
    if (m->tls_creds_src && m->tls_creds_dst) {
        return;
    }
    g_free(m->tls_creds_src);
    g_free(m->tls_creds_dst);
    m->tls_creds_src = tls_creds_of(m->sq);
    m->tls_creds_dst = tls_creds_of(m->dq);
}

char *limevi_mover_parameters(LimeviRun *run, gboolean max_bandwidth)
{
    guint64 share = limevi_mover_bandwidth(run);
    GString *args = g_string_new(NULL);

    g_string_printf(args, "{\"downtime-limit\":%u",
                    run->opts->downtime_limit_ms);
    if (share) {
        /* The threshold from the share, not from a measurement that
         * another VM's traffic on the same WAN would make too big. */
        g_string_append_printf(args, ",\"avail-switchover-bandwidth\":%"
                               G_GUINT64_FORMAT, share);
        if (max_bandwidth) {
            g_string_append_printf(args, ",\"max-bandwidth\":%"
                                   G_GUINT64_FORMAT, share);
        }
    }
    g_string_append_c(args, '}');
    return g_string_free(args, FALSE);
}

/* The hold's state is read from query-migrate; its events, which may
 * flip any number of times, are only counted (the report's), so that
 * the queue stays short. */
static void drain_ready_events(LimeviVmMigration *m)
{
    JsonObject *e;

    while ((e = limevi_qmp_event(m->sq, "MIGRATION_SWITCHOVER_READY", 0,
                                 NULL))) {
        m->ready_event = json_object_get_boolean_member_with_default(
            json_object_get_object_member(e, "data"), "ready", FALSE);
        m->unready_events += !m->ready_event;
        json_object_unref(e);
    }
}

JsonNode *limevi_mover_query(LimeviVmMigration *m, GError **error)
{
    gint64 asked = g_get_monotonic_time();
    JsonNode *ret;

    drain_ready_events(m);
    ret = limevi_qmp_call(m->sq, "query-migrate", NULL, error);
    m->polled_at = g_get_monotonic_time();
    if (m->polled_at - asked > 2 * G_USEC_PER_SEC) {
        g_printerr("limevi: VM %s: its QEMU took %.1f s to answer\n",
                   m->vm->name, (m->polled_at - asked) / 1e6);
    }
    return ret;
}

void limevi_mover_read_progress(LimeviVmMigration *m, JsonObject *o)
{
    JsonObject *ram = json_object_has_member(o, "ram") ?
                      json_object_get_object_member(o, "ram") : NULL;

    if (ram) {
        m->mbps = json_object_get_double_member_with_default(ram, "mbps", 0);
        m->transferred = json_object_get_int_member(ram, "transferred");
        m->remaining = json_object_get_int_member(ram, "remaining");
        m->total = json_object_get_int_member(ram, "total");
        m->dirty_rate = json_object_get_int_member_with_default(
            ram, "dirty-pages-rate", 0);
        m->syncs = json_object_get_int_member_with_default(
            ram, "dirty-sync-count", 0);
        m->eta_ms = m->mbps > 0 ? m->remaining * 8 / (m->mbps * 1000) : 0;
    }
    m->expected_downtime = json_object_get_int_member_with_default(
        o, "expected-downtime", -1);
    if (json_object_has_member(o, "switchover-hold")) {
        m->hold_ready = json_object_get_boolean_member_with_default(
            json_object_get_object_member(o, "switchover-hold"), "ready",
            FALSE);
    }
}

gboolean limevi_mover_apply_status(LimeviVmMigration *m, JsonObject *o)
{
    const char *status = json_object_get_string_member_with_default(
        o, "status", "");

    if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
        m->error = g_strdup_printf("migration %s: %s", status,
            json_object_get_string_member_with_default(o, "error-desc",
                                                       "no reason given"));
        m->phase = VM_FAILED;
        return FALSE;
    }
    if (!strcmp(status, "completed")) {
        m->total_ms = json_object_get_int_member_with_default(o, "total-time",
                                                              -1);
        m->downtime_ms = json_object_get_int_member_with_default(o, "downtime",
                                                                 -1);
        if (m->phase < VM_DONE) {
            limevi_vm_set_phase(m, VM_DONE);
        }
    } else if (m->phase == VM_MIGRATING && m->hold_ready &&
               m->disks_ready) {
        /* Converged by QEMU's own criterion, every disk in sync; the hold
         * keeps it running. */
        limevi_vm_set_phase(m, VM_READY);
    } else if (m->phase == VM_READY && !m->hold_ready) {
        /* It fell out of convergence: the barrier waits for it again. */
        m->phase = VM_MIGRATING;
        m->fell_out++;
    }
    return TRUE;
}

gboolean limevi_mover_poll(LimeviRun *run, LimeviVmMigration *m)
{
    if (m->phase == VM_DONE || m->phase == VM_FAILED) {
        return m->phase == VM_DONE;
    }
    return m->mover->poll(run, m);
}

void limevi_movers_poll(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        limevi_mover_poll(run, run->migs->pdata[i]);
    }
}

guint64 limevi_mover_release(LimeviVmMigration *m, GError **error)
{
    return limevi_qmp_send(m->sq, "migrate-switchover", NULL, error);
}
