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
 * migrating. */
static void wait_source_back(LimeviVmMigration *m)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (m->sq && g_get_monotonic_time() < deadline) {
        JsonNode *ret = limevi_qmp_call(m->sq, "query-status", NULL, NULL);
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
}

void limevi_vc_rollback(LimeviRun *run)
{
    /* Cancel them all first; the loop below waits them out. */
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        m->mover->abort(m);
    }
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        wait_source_back(m);
        m->mover->drop_destination(m);
        if (m->phase != VM_FAILED) {
            m->phase = VM_ROLLED_BACK;
        }
        limevi_run_vm_phase(run, m, LIMEVI_PHASE_ROLLED_BACK);
    }
}
