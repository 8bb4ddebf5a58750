/*
 * The VC's switchover, once every source is held and ready: the release
 * (one migrate-switchover per source, written before any reply is read),
 * the wait for every migration to end and its peers to sync, and the
 * sources let go (vcmigrate.c runs the steps).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "mover.h"
#include "progress.h"
#include "release.h"
#include "resume.h"
#include "routes.h"
#include "share.h"

/* How long the sources may take to sync their peers and to go. */
#define SYNC_TIMEOUT_MS 30000

/* A VM whose source may stop for its disks' mirrors to end: the sooner
 * that is seen, the shorter its pause. */
static gboolean any_disks_switching(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->phase == VM_SWITCHING && m->vm->disks->len &&
            !m->disks_completed) {
            return TRUE;
        }
    }
    return FALSE;
}

/* The VMs that switched over, as soon as they did. */
static void journal_switched(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->phase == VM_DONE) {
            limevi_run_vm_phase(run, m, LIMEVI_PHASE_SWITCHED);
        }
    }
}

/*
 * Release: every source is held and ready, so migrate-switchover is
 * written to every source's QMP socket before any reply is read: the
 * switchovers start as close together as the sockets allow.  libvirt's
 * sources too, through the coordinator's own socket in their domain.
 * The one place that decides how a converged VC is let go.
 */
void limevi_vc_release(LimeviRun *run)
{
    GPtrArray *migs = run->migs;
    g_autofree guint64 *ids = g_new0(guint64, migs->len);
    g_autofree guint64 *restore = g_new0(guint64, migs->len);

    if (limevi_movers_stop_sources(run)) {
        limevi_routes_hold_between_movers(run);
    }
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        g_autoptr(GError) error = NULL;

        limevi_vm_set_phase(m, VM_SWITCHING);
        restore[i] = limevi_share_restore(run, m);
        ids[i] = m->mover->release(m, &error);
        if (!ids[i]) {
            limevi_vm_fail(m, error);
        }
    }
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];
        g_autoptr(GError) error = NULL;
        JsonNode *ret;

        limevi_share_restored(m, restore[i]);
        if (!ids[i]) {
            continue;
        }
        ret = limevi_qmp_reply(m->sq, ids[i], "migrate-switchover", &error);
        if (!ret) {
            limevi_vm_fail(m, error);
            continue;
        }
        json_node_unref(ret);
        limevi_run_vm_phase(run, m, LIMEVI_PHASE_RELEASED);
    }
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

/*
 * Complete: waits for every migration to end, then for each moved VM's
 * LIMEVI_PEERS_SYNCED; a VM not done in time is marked failed.
 */
void limevi_vc_complete(LimeviRun *run, gint64 deadline)
{
    gint64 sync_deadline;

    while (!limevi_run_all_at_least(run, VM_DONE) &&
           !limevi_run_first_failed(run) &&
           g_get_monotonic_time() < deadline) {
        limevi_movers_poll(run);
        journal_switched(run);
        limevi_progress_print(run, FALSE);
        g_usleep((any_disks_switching(run) ? LIMEVI_FAST_POLL_MS
                                           : LIMEVI_POLL_MS) * 1000);
    }
    journal_switched(run);
    /* One wait for every VM's sync, not one per VM.  When sources stop
     * at once, frames between moved VMs wait: the route check sets what
     * did not sync. */
    sync_deadline = g_get_monotonic_time() +
                    (limevi_movers_stop_sources(run) ? 0
                                                 : (gint64)SYNC_TIMEOUT_MS *
                                                   1000);
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        gint64 left = (sync_deadline - g_get_monotonic_time()) / 1000;
        JsonObject *e;

        /* Released but not done in time: asked, not guessed. */
        if (m->phase != VM_DONE && m->phase != VM_FAILED &&
            limevi_resume_place(m) == LIMEVI_PLACE_SWITCHED) {
            limevi_vm_set_phase(m, VM_DONE);
        }
        if (m->phase != VM_DONE) {
            m->unsettled = m->phase != VM_FAILED;
            continue;
        }
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
 * The sources go: reads what each source forwarded, lets each mover end
 * its source, and closes every QMP connection so that the route check
 * can connect.
 */
void limevi_vc_finish_sources(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        JsonNode *ret = limevi_qmp_call(m->sq, "query-limevi", NULL, NULL);
        g_autoptr(GError) error = NULL;

        if (ret && json_array_get_length(json_node_get_array(ret))) {
            m->forwarded = json_object_get_int_member(
                json_object_get_object_member(
                    json_array_get_object_element(json_node_get_array(ret), 0),
                    "stats"), "rx-forwarded");
        }
        if (ret) {
            json_node_unref(ret);
        }
        if (!m->mover->wait_gone(m, !run->opts->keep_sources,
                                 SYNC_TIMEOUT_MS, &error)) {
            limevi_vm_fail(m, error);
        } else if (m->phase == VM_DONE && !run->opts->keep_sources) {
            limevi_run_vm_phase(run, m, LIMEVI_PHASE_SOURCE_GONE);
        }
        /* QMP serves one client at a time: let the check below in. */
        g_clear_pointer(&m->sq, limevi_qmp_free);
        g_clear_pointer(&m->dq, limevi_qmp_free);
    }
}
