/*
 * Rolling a VC back before its release: every migration cancelled, every
 * source running again, every destination gone.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mover.h"
#include "rollback.h"

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

/* The source runs again once its migration is cancelled.  A held source
 * never stopped running: its migration must also be over
 * (migrate_cancel only starts cancelling), or its netdev would still be
 * migrating.  FALSE, with @why, when it did not come back in time. */
static gboolean wait_source_back(LimeviVmMigration *m, char **why)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(GError) error = NULL;
        JsonNode *ret = m->sq ? limevi_qmp_call(m->sq, "query-status", NULL,
                                                &error) : NULL;
        g_autofree char *status = ret ? g_strdup(
            json_object_get_string_member_with_default(
                json_node_get_object(ret), "status", "?")) : NULL;

        if (ret) {
            json_node_unref(ret);
        }
        if (!g_strcmp0(status, "running") && migration_over(m->sq)) {
            return TRUE;
        }
        /* A QEMU that is gone does not come back. */
        if (!m->sq || (error && error->domain != LIMEVI_QMP_ERROR) ||
            g_get_monotonic_time() >= deadline) {
            *why = !m->sq ? g_strdup("no QMP connection to it") :
                   status ? g_strdup_printf("it is '%s'", status) :
                   g_strdup_printf("its QMP: %s", error->message);
            return FALSE;
        }
        g_usleep(100 * 1000);
    }
}

gboolean limevi_vc_rollback(LimeviRun *run)
{
    gboolean all_back = TRUE;

    /* Cancel them all first; the loop below waits them out. */
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        m->mover->abort(m);
    }
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        g_autofree char *why = NULL;

        if (!wait_source_back(m, &why)) {
            g_printerr("limevi: VM %s does not run on its source %s after "
                       "the rollback: %s\n", m->vm->name, m->src->name, why);
            all_back = FALSE;
        }
        m->mover->drop_destination(m);
        if (m->phase != VM_FAILED) {
            m->phase = VM_ROLLED_BACK;
        }
        limevi_run_vm_phase(run, m, LIMEVI_PHASE_ROLLED_BACK);
    }
    return all_back;
}

void limevi_vc_rollback_report(LimeviRun *run, gboolean all_back)
{
    if (all_back) {
        g_printerr("limevi: rolled back: every VM of %s still runs on its "
                   "source host\n", run->vc->name);
    } else {
        g_printerr("limevi: rolled back, but not every VM of %s runs (see "
                   "above); 'limevi status %s' shows where each one is\n",
                   run->vc->name, run->vc->path);
    }
}
