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
    m->disks_ready = !vm->disks->len;
    m->ready_event = -1;
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
    g_free(m->tls_creds_src);
    g_free(m->tls_creds_dst);
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

/* The journal, and no interrupted run of the VC left to resume. */
gboolean limevi_run_open_journal(LimeviRun *run)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *site = NULL, *step = NULL;
    gint64 unfinished;

    run->journal = limevi_journal_open(run->opts->journal, &error);
    if (!run->journal ||
        !limevi_journal_check_free(run->journal, run->vc->name, &error) ||
        !limevi_journal_unfinished(run->journal, run->vc->name, &unfinished,
                                   &site, &step, &error)) {
        g_printerr("limevi: %s; nothing was changed\n", error->message);
        return FALSE;
    }
    limevi_journal_crash_at(run->journal, run->opts->crash_at);
    if (unfinished) {
        g_printerr("limevi: a migration of %s to site %s was interrupted "
                   "at step '%s'; run 'limevi migrate %s --to %s "
                   "--resume' first\n", run->vc->name, site, step,
                   run->vc->path, site);
        return FALSE;
    }
    return TRUE;
}

/* The VC's lock, the run and its VMs in the journal, in one
 * transaction, before anything changes. */
gboolean limevi_run_record_plan(LimeviRun *run)
{
    g_autoptr(GError) error = NULL;
    g_autofree LimeviJournalVm *vms = g_new0(LimeviJournalVm,
                                             run->migs->len);

    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        vms[i] = (LimeviJournalVm){ m->vm->name, m->src->name, m->dst->name };
        m->journaled = LIMEVI_PHASE_PLANNED;
    }
    run->run_id = limevi_journal_begin(run->journal, run->vc->name,
                                       run->opts->site, vms, run->migs->len,
                                       &error);
    if (!run->run_id) {
        g_printerr("limevi: %s; nothing was changed\n", error->message);
        return FALSE;
    }
    return TRUE;
}
