/*
 * limevi migrate --resume: the run a killed coordinator left in the
 * journal is rolled back (its sources were not released) or finished
 * (they were).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "launch.h"
#include "mover.h"
#include "resume.h"
#include "rollback.h"
#include "routes.h"
#include "vcmigrate.h"

#define RESUME_TIMEOUT_S 120

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

/* The run's VMs from the journal, connected to where they may run. */
static gboolean load_vms(LimeviRun *run)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) rows = limevi_journal_vms(run->journal, run->run_id,
                                            &error);

    if (!rows) {
        g_printerr("limevi: %s\n", error->message);
        return FALSE;
    }
    for (guint i = 0; rows[i] && rows[i + 1] && rows[i + 2] && rows[i + 3];
         i += 4) {
        LimeviVmMigration *m = limevi_vm_migration_new(
            limevi_vc_vm(run->vc, rows[i]), limevi_vc_host(run->vc,
                                                           rows[i + 1]),
            limevi_vc_host(run->vc, rows[i + 2]));

        g_ptr_array_add(run->migs, m);
        if (!m->vm || !m->src || !m->dst) {
            g_printerr("limevi: %s no longer has VM %s or its hosts %s and "
                       "%s; cannot resume\n", run->vc->path, rows[i],
                       rows[i + 1], rows[i + 2]);
            return FALSE;
        }
        m->mover = limevi_mover_for(m->src);
        m->sq = connect_vm(m->src, m->vm);
        m->dq = connect_vm(m->dst, m->vm);
        m->dst_pid = m->dq ? 0 : qemu_pid(m->dst, m->vm);
        m->phase = VM_MIGRATING;
        m->journaled = g_intern_string(rows[i + 3]);
    }
    return TRUE;
}

/* Waits (up to @deadline) for @m's migration to end; its last status,
 * NULL when the source no longer answers. */
static char *wait_migration_end(LimeviVmMigration *m, gint64 deadline)
{
    char *st = NULL;

    for (;;) {
        g_free(st);
        st = limevi_resume_migration_status(m->sq);
        if (!st || !strcmp(st, "completed") ||
            g_get_monotonic_time() > deadline) {
            return st;
        }
        /* Until libvirt issues `migrate`, QEMU shows the outcome of the
         * last migration: only libvirt's job says it is over. */
        if ((!strcmp(st, "failed") || !strcmp(st, "cancelled") ||
             !strcmp(st, "none")) && !m->mover->job_running(m)) {
            return st;
        }
        g_usleep(200 * 1000);
    }
}

/* Sees @m's released migration through; FALSE when it stays at its
 * source. */
static gboolean finish_vm(LimeviRun *run, LimeviVmMigration *m)
{
    gint64 deadline = g_get_monotonic_time() +
                      RESUME_TIMEOUT_S * G_USEC_PER_SEC;
    g_autofree char *st = wait_migration_end(m, deadline);
    gboolean moved = TRUE;

    if (st && !strcmp(st, "completed")) {
        gint64 left = MAX(deadline - g_get_monotonic_time(), 0) / 1000;

        m->phase = VM_DONE;
        limevi_run_vm_phase(run, m, LIMEVI_PHASE_SWITCHED);
        if (m->mover->wait_gone(m, TRUE, left, NULL)) {
            limevi_run_vm_phase(run, m, LIMEVI_PHASE_SOURCE_GONE);
        }
    } else if (st) {
        /* The VM still runs at its source: the destination goes. */
        m->error = g_strdup_printf("migration %s", st);
        m->mover->abort(m);
        m->mover->drop_destination(m);
        m->phase = VM_FAILED;
        moved = FALSE;
    } else if (limevi_resume_place(m) == LIMEVI_PLACE_SWITCHED) {
        /* The source stopped answering, the destination runs it. */
        m->phase = VM_DONE;
        limevi_run_vm_phase(run, m, LIMEVI_PHASE_SWITCHED);
    } else {
        /* Never guessed: the VM may run nowhere. */
        m->error = g_strdup("neither its source nor its destination "
                            "answers");
        m->phase = VM_FAILED;
        moved = FALSE;
    }
    g_clear_pointer(&m->sq, limevi_qmp_free);
    g_clear_pointer(&m->dq, limevi_qmp_free);
    return moved;
}

/* A VM that cannot switch: its migration cancelled, its source running
 * again, its destination gone. */
static void strand(LimeviVmMigration *m)
{
    m->mover->abort(m);
    m->mover->drop_destination(m);
    m->phase = VM_FAILED;
    m->error = g_strdup("it could not switch over");
    g_clear_pointer(&m->sq, limevi_qmp_free);
    g_clear_pointer(&m->dq, limevi_qmp_free);
}

/* The sources were (maybe) released: release every VM that can still
 * switch (one already released refuses, harmlessly), and see each
 * through; with @places, leave the stranded ones at their sources. */
static int finish(LimeviRun *run, const LimeviPlace *places)
{
    guint failed = 0, wrong;

    for (guint i = 0; i < run->migs->len; i++) {
        if (places[i] == LIMEVI_PLACE_STRANDED) {
            strand(run->migs->pdata[i]);
            failed++;
        }
    }
    /* As a normal run does before its release (routes.h). */
    if (limevi_movers_stop_sources(run)) {
        limevi_routes_hold_between_movers(run);
    }
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (places[i] != LIMEVI_PLACE_STRANDED && m->sq) {
            limevi_qmp_run(m->sq, "migrate-switchover", NULL, NULL);
        }
    }
    for (guint i = 0; i < run->migs->len; i++) {
        if (places[i] != LIMEVI_PLACE_STRANDED) {
            failed += !finish_vm(run, run->migs->pdata[i]);
        }
    }
    wrong = limevi_routes_verify(run);
    limevi_run_step(run, LIMEVI_STEP_DONE);
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        g_print("  %-10s %s\n", m->vm->name, m->phase == VM_DONE ?
                m->dst->name : m->src->name);
    }
    return failed || wrong || run->journal_failed ? 1 : 0;
}

static void roll_back(LimeviRun *run)
{
    gboolean all_back = limevi_vc_rollback(run);

    limevi_run_step(run, LIMEVI_STEP_ROLLED_BACK);
    limevi_vc_rollback_report(run, all_back);
}

/* After the release the whole VC goes one way: see limevi_resume_decide. */
static int after_release(LimeviRun *run)
{
    g_autofree LimeviPlace *places = g_new0(LimeviPlace, run->migs->len);
    LimeviResumeAction action;

    for (guint i = 0; i < run->migs->len; i++) {
        places[i] = limevi_resume_place(run->migs->pdata[i]);
    }
    action = limevi_resume_decide(places, run->migs->len,
                                  run->opts->force_split);
    limevi_resume_explain(run, places, action);
    switch (action) {
    case LIMEVI_RESUME_FINISH:
    case LIMEVI_RESUME_SPLIT:
        return finish(run, places);
    case LIMEVI_RESUME_ROLL_BACK:
        roll_back(run);
        return 1;
    case LIMEVI_RESUME_REFUSE:
        break;
    }
    return 1;
}

static int resume_run(LimeviRun *run)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *site = NULL, *step = NULL;
    gboolean released;

    /* A journal that cannot be read is no proof that nothing is to be
     * resumed. */
    run->journal = limevi_journal_open(run->opts->journal, &error);
    if (!run->journal ||
        !limevi_journal_check_free(run->journal, run->vc->name, &error) ||
        !limevi_journal_unfinished(run->journal, run->vc->name,
                                   &run->run_id, &site, &step, &error)) {
        g_printerr("limevi: %s\n", error->message);
        return 1;
    }
    limevi_journal_crash_at(run->journal, run->opts->crash_at);
    if (!run->run_id) {
        g_print("limevi: no interrupted migration of %s to resume\n",
                run->vc->name);
        return 0;
    }
    /* The coordinator that died held the VC: this one takes it over. */
    if (!limevi_journal_take_over(run->journal, run->vc->name, run->run_id,
                                  &error)) {
        g_printerr("limevi: %s\n", error->message);
        return 1;
    }
    if (!load_vms(run)) {
        return 1;
    }
    released = !g_strcmp0(step, LIMEVI_STEP_RELEASED);
    g_print("limevi: resuming the migration of %s to site %s, interrupted "
            "at step '%s': %s\n", run->vc->name, site, step,
            released ? "finishing it" : "rolling it back");
    if (released) {
        return after_release(run);
    }
    roll_back(run);
    return 1;
}

int limevi_vc_migrate_resume(LimeviVc *vc, const LimeviMigrateOptions *opts)
{
    g_autoptr(GPtrArray) migs =
        g_ptr_array_new_with_free_func(limevi_vm_migration_free);
    LimeviRun run = { .vc = vc, .opts = opts, .migs = migs,
                      .t0 = g_get_real_time() };
    int status = resume_run(&run);

    limevi_journal_close(run.journal);
    return status;
}
