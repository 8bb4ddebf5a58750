/*
 * The migration record's small helpers: phases, failures, the journal.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "migration.h"

LimeviVmMigration *limevi_vm_migration_new(const LimeviVcVm *vm,
                                           const LimeviVcHost *src,
                                           const LimeviVcHost *dst)
{
    LimeviVmMigration *m = g_new0(LimeviVmMigration, 1);

    m->vm = vm;
    m->src = src;
    m->dst = dst;
    m->phase = VM_PLANNED;
    return m;
}

void limevi_vm_migration_free(gpointer data)
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

void limevi_vm_set_phase(LimeviVmMigration *m, LimeviVmPhase phase)
{
    m->phase = phase;
    m->t_phase[phase] = g_get_real_time();
}

gboolean limevi_vm_fail(LimeviVmMigration *m, GError *error)
{
    if (!m->error) {
        m->error = g_strdup(error->message);
    }
    m->phase = VM_FAILED;
    return FALSE;
}

gboolean limevi_run_all_at_least(LimeviRun *run, LimeviVmPhase phase)
{
    for (guint i = 0; i < run->migs->len; i++) {
        if (((LimeviVmMigration *)run->migs->pdata[i])->phase < phase) {
            return FALSE;
        }
    }
    return TRUE;
}

LimeviVmMigration *limevi_run_first_failed(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->phase == VM_FAILED) {
            return m;
        }
    }
    return NULL;
}

gboolean limevi_run_step(LimeviRun *run, const char *step)
{
    g_autoptr(GError) error = NULL;

    if (!limevi_journal_step(run->journal, run->run_id, step, &error)) {
        g_printerr("limevi: %s\n", error->message);
        run->journal_failed = TRUE;
        return FALSE;
    }
    return TRUE;
}

gboolean limevi_run_vm_phase(LimeviRun *run, LimeviVmMigration *m,
                             const char *phase)
{
    g_autoptr(GError) error = NULL;

    if (!g_strcmp0(m->journaled, phase)) {
        return TRUE;
    }
    if (!limevi_journal_vm_phase(run->journal, run->run_id, m->vm->name,
                                 phase, &error)) {
        g_printerr("limevi: VM %s: %s\n", m->vm->name, error->message);
        run->journal_failed = TRUE;
        return FALSE;
    }
    m->journaled = phase;
    return TRUE;
}
