/*
 * Where each VM of an interrupted run is after the release, and what
 * --resume does about it: the VC goes one way (docs/cli.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "mover.h"
#include "resume.h"

LimeviResumeAction limevi_resume_decide(const LimeviPlace *places, guint n,
                                        gboolean force_split)
{
    guint count[LIMEVI_PLACE_UNKNOWN + 1] = { 0 };

    for (guint i = 0; i < n; i++) {
        count[places[i]]++;
    }
    if (count[LIMEVI_PLACE_UNKNOWN]) {
        return LIMEVI_RESUME_REFUSE;
    }
    if (!count[LIMEVI_PLACE_STRANDED]) {
        return LIMEVI_RESUME_FINISH;
    }
    if (!count[LIMEVI_PLACE_SWITCHED]) {
        return LIMEVI_RESUME_ROLL_BACK;
    }
    return force_split ? LIMEVI_RESUME_SPLIT : LIMEVI_RESUME_REFUSE;
}

/* The "status" of @command's answer at @qmp (@none when it has
 * none); NULL when @qmp is NULL or does not answer. */
static char *status_of(LimeviQmp *qmp, const char *command, const char *none)
{
    JsonNode *ret = qmp ? limevi_qmp_call(qmp, command, NULL, NULL) : NULL;
    char *status;

    if (!ret) {
        return NULL;
    }
    status = g_strdup(json_object_get_string_member_with_default(
        json_node_get_object(ret), "status", none));
    json_node_unref(ret);
    return status;
}

char *limevi_resume_migration_status(LimeviQmp *qmp)
{
    return status_of(qmp, "query-migrate", "none");
}

/* A migration still under way (held, or switching over). */
static gboolean migration_going(const char *status)
{
    static const char *const going[] = {
        "setup", "active", "pre-switchover", "device",
    };

    for (guint i = 0; status && i < G_N_ELEMENTS(going); i++) {
        if (!strcmp(status, going[i])) {
            return TRUE;
        }
    }
    return FALSE;
}

LimeviPlace limevi_resume_place(LimeviVmMigration *m)
{
    g_autofree char *mig = limevi_resume_migration_status(m->sq);
    g_autofree char *dst = status_of(m->dq, "query-status", "unknown");
    gboolean dst_up = m->dq || m->dst_pid || m->mover->job_running(m);

    if (!g_strcmp0(mig, "completed") || !g_strcmp0(dst, "running")) {
        return LIMEVI_PLACE_SWITCHED;
    }
    if (!mig) {
        return LIMEVI_PLACE_UNKNOWN;
    }
    return dst_up && migration_going(mig) ? LIMEVI_PLACE_HELD
                                          : LIMEVI_PLACE_STRANDED;
}

static void explain_vm(LimeviVmMigration *m, LimeviPlace place)
{
    switch (place) {
    case LIMEVI_PLACE_HELD:
        g_printerr("  %-10s runs at %s, held, ready to switch to %s\n",
                   m->vm->name, m->src->name, m->dst->name);
        break;
    case LIMEVI_PLACE_SWITCHED:
        g_printerr("  %-10s runs at %s: it switched over\n", m->vm->name,
                   m->dst->name);
        break;
    case LIMEVI_PLACE_STRANDED:
        g_printerr("  %-10s runs at %s: it cannot switch, %s\n",
                   m->vm->name, m->src->name,
                   m->dq || m->dst_pid ? "its migration ended"
                                       : "its destination is gone");
        break;
    case LIMEVI_PLACE_UNKNOWN:
        /* Its source did not answer query-migrate, and its destination
         * does not say it runs the VM. */
        g_printerr("  %-10s runs nowhere limevi can tell: its source %s "
                   "does not answer, and %s does not run it\n", m->vm->name,
                   m->src->name, m->dst->name);
        break;
    }
}

void limevi_resume_explain(LimeviRun *run, const LimeviPlace *places,
                           LimeviResumeAction action)
{
    const char *path = run->vc->path;
    gboolean unknown = FALSE;

    if (action == LIMEVI_RESUME_FINISH) {
        return;
    }
    g_printerr("limevi: %s cannot move as one:\n", run->vc->name);
    for (guint i = 0; i < run->migs->len; i++) {
        explain_vm(run->migs->pdata[i], places[i]);
        unknown |= places[i] == LIMEVI_PLACE_UNKNOWN;
    }
    if (action == LIMEVI_RESUME_ROLL_BACK) {
        g_printerr("limevi: none switched over: every VM goes back to its "
                   "source\n");
    } else if (action == LIMEVI_RESUME_SPLIT) {
        g_printerr("limevi: --force-split: the VMs that can switch move, "
                   "the others stay at their sources; 'limevi migrate %s "
                   "--to SITE' then brings the VC together\n", path);
    } else if (unknown) {
        g_printerr("limevi: nothing was changed; find where each VM runs "
                   "('limevi status %s'), then run --resume again\n", path);
    } else {
        g_printerr("limevi: nothing was changed: moving on would split the "
                   "VC.  'limevi migrate %s --resume --force-split' moves "
                   "the VMs that can switch and leaves the others at their "
                   "sources; 'limevi migrate %s --to SITE' then brings the "
                   "VC together\n", path, path);
    }
}
