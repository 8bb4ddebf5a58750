/*
 * The VC migration protocol of the coordinator (DESIGN.md section 4), as
 * its steps: plan, start, converge, release, complete, verify, report
 * (the release and what follows it until the sources go: release.c).
 * Each VM moves through its mover (mover.h); a failure before the
 * release rolls every VM back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "locate.h"
#include "mover.h"
#include "progress.h"
#include "release.h"
#include "report.h"
#include "resume.h"
#include "rollback.h"
#include "routes.h"
#include "share.h"
#include "vcmigrate.h"

static gboolean on_sigint(gpointer data)
{
    ((LimeviRun *)data)->interrupted = SIGINT;
    return G_SOURCE_CONTINUE;
}

static gboolean on_sigterm(gpointer data)
{
    ((LimeviRun *)data)->interrupted = SIGTERM;
    return G_SOURCE_CONTINUE;
}

static gboolean any_in_phase(LimeviRun *run, LimeviVmPhase phase)
{
    for (guint i = 0; i < run->migs->len; i++) {
        if (((LimeviVmMigration *)run->migs->pdata[i])->phase == phase) {
            return TRUE;
        }
    }
    return FALSE;
}

/* ---- The steps ---- */

/*
 * A VM that runs on no host, or on more than one, stops the plan: says
 * which, with every QEMU of it found and its run state (a paused or
 * incoming leftover does not count as running).
 */
static void refuse_location(const LimeviLocation *loc)
{
    g_autoptr(GString) qemus = g_string_new(NULL);

    for (guint i = 0; i < loc->qemus->len; i++) {
        const LimeviQemu *q = loc->qemus->pdata[i];

        g_string_append_printf(qemus, "%s%s %s", i ? ", " : "",
                               q->host->name, q->status);
    }
    if (loc->running > 1) {
        g_printerr("limevi: VM %s runs on %u hosts (%s); nothing was "
                   "changed\n", loc->vm->name, loc->running, qemus->str);
    } else if (qemus->len) {
        g_printerr("limevi: VM %s runs nowhere (%s); nothing was changed\n",
                   loc->vm->name, qemus->str);
    } else {
        g_printerr("limevi: VM %s runs nowhere: no host has a QEMU of it; "
                   "nothing was changed\n", loc->vm->name);
    }
}

/* Plan: which VMs move, from where to which host of the site. */
static gboolean plan(LimeviRun *run, GPtrArray *locs)
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
        LimeviVcHost *dst;

        if (!loc->host || loc->running != 1) {
            refuse_location(loc);
            return FALSE;
        }
        if (!g_strcmp0(loc->host->site, run->opts->site)) {
            continue;
        }
        dst = targets->pdata[next++ % targets->len];
        if (!loc->host->libvirt != !dst->libvirt ||
            (dst->libvirt ? !loc->vm->domain : !loc->vm->qemu)) {
            g_printerr("limevi: VM %s cannot move from %s to %s: %s; "
                       "nothing was changed\n", loc->vm->name,
                       loc->host->name, dst->name,
                       !loc->host->libvirt != !dst->libvirt ?
                       "one is a libvirt host and the other is not" :
                       dst->libvirt ? "it has no 'domain' key" :
                                      "it has no 'qemu' key");
            return FALSE;
        }
        {
            LimeviVmMigration *m = limevi_vm_migration_new(loc->vm,
                                                           loc->host, dst);

            m->mover = limevi_mover_for(loc->host);
            m->sq = g_steal_pointer(&loc->qmp);
            g_ptr_array_add(run->migs, m);
        }
    }
    return TRUE;
}

/*
 * Start: every destination, then every migration, held at its source,
 * each journaled.  FALSE when one failed (its error) or the journal did.
 */
static gboolean start(LimeviRun *run)
{
    GPtrArray *migs = run->migs;

    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];

        if (!m->mover->start_destination(run, m) ||
            !limevi_run_vm_phase(run, m, LIMEVI_PHASE_DST_STARTED)) {
            return FALSE;
        }
    }
    if (!limevi_run_step(run, LIMEVI_STEP_STARTED)) {
        return FALSE;
    }
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];

        if (!m->mover->start(run, m)) {
            return FALSE;
        }
        limevi_vm_set_phase(m, VM_MIGRATING);
        if (!limevi_run_vm_phase(run, m, LIMEVI_PHASE_MIGRATING)) {
            return FALSE;
        }
    }
    return limevi_run_step(run, LIMEVI_STEP_MIGRATING);
}

/* Every VM is converged and held: journaled before the release. */
static gboolean journal_converged(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        if (!limevi_run_vm_phase(run, run->migs->pdata[i],
                                 LIMEVI_PHASE_CONVERGED)) {
            return FALSE;
        }
    }
    return limevi_run_step(run, LIMEVI_STEP_RELEASED);
}

/*
 * Converge: the barrier.  Polls every source until one round finds every
 * one of them held and ready at once; a VM that falls out (ready=false)
 * is migrating again, so the barrier waits for it.  While some are ready
 * it polls faster, so that the release follows the last one closely.
 * Returns why it stopped short (and *@bad, the VM that failed), or NULL
 * when every VM is ready.
 */
static const char *converge(LimeviRun *run, gint64 deadline,
                            LimeviVmMigration **bad)
{
    for (;;) {
        while (g_main_context_iteration(NULL, FALSE)) {
        }
        if (run->interrupted) {
            return run->interrupted == SIGINT ? "interrupted (SIGINT)"
                                              : "interrupted (SIGTERM)";
        }
        if (g_get_monotonic_time() > deadline) {
            return "timed out before every VM was ready to switch over";
        }
        limevi_movers_poll(run);
        if ((*bad = limevi_run_first_failed(run))) {
            return NULL;
        }
        if (limevi_run_all_at_least(run, VM_READY)) {
            return NULL;
        }
        limevi_share_apply(run);
        limevi_share_derive(run);
        limevi_progress_print(run, FALSE);
        g_usleep((any_in_phase(run, VM_READY) ? LIMEVI_FAST_POLL_MS
                                              : LIMEVI_POLL_MS) * 1000);
    }
}

/* ---- The run ---- */

static void print_plan(LimeviRun *run)
{
    GPtrArray *migs = run->migs;

    if (run->opts->json) {
        return;
    }
    g_print("limevi: moving %u VM%s of %s to site %s\n", migs->len,
            migs->len > 1 ? "s" : "", run->vc->name, run->opts->site);
    for (guint i = 0; i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];

        g_print("  %-10s %s -> %s\n", m->vm->name, m->src->name,
                m->dst->name);
    }
}

static void roll_back(LimeviRun *run, LimeviVmMigration *bad,
                      const char *why)
{
    gboolean all_back;

    limevi_progress_print(run, TRUE);
    all_back = limevi_vc_rollback(run);
    if (bad) {
        g_printerr("limevi: VM %s: %s\n", bad->vm->name, bad->error);
    } else {
        g_printerr("limevi: %s\n", why);
    }
    limevi_vc_rollback_report(run, all_back);
    if (!limevi_run_step(run, LIMEVI_STEP_ROLLED_BACK)) {
        g_printerr("limevi: the journal still shows the run unfinished; "
                   "'limevi migrate %s --resume' ends it\n",
                   run->vc->path);
    }
}

/*
 * A VM still switching over at the deadline may yet run at either end:
 * no route is pointed anywhere for it, and the run stays open for
 * --resume, which asks again and decides for the whole VC.
 */
static gboolean any_unsettled(LimeviRun *run)
{
    gboolean any = FALSE;

    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->unsettled) {
            g_printerr("limevi: VM %s is still switching over from %s to %s "
                       "at the deadline\n", m->vm->name, m->src->name,
                       m->dst->name);
            any = TRUE;
        }
    }
    if (any) {
        g_printerr("limevi: the migration stays open; 'limevi migrate %s "
                   "--resume' sees it through for the whole VC\n",
                   run->vc->path);
    }
    return any;
}

/* After the release: complete, verify, report.  The exit status. */
static int see_through(LimeviRun *run, gint64 deadline)
{
    GPtrArray *migs = run->migs;
    guint wrong;
    int status;

    limevi_vc_release(run);
    limevi_vc_complete(run, deadline);
    limevi_progress_print(run, TRUE);
    if (any_unsettled(run)) {
        return 1;
    }
    limevi_vc_finish_sources(run);
    wrong = limevi_routes_verify(run);
    limevi_report(run->vc, run->opts, migs, run->t0, g_get_real_time());
    limevi_run_step(run, LIMEVI_STEP_DONE);
    status = limevi_run_first_failed(run) || wrong || run->journal_failed;
    for (guint i = 0; status && i < migs->len; i++) {
        LimeviVmMigration *m = migs->pdata[i];

        if (m->phase == VM_FAILED) {
            g_printerr("limevi: VM %s: %s; it runs on %s\n",
                       m->vm->name, m->error, m->src->name);
        }
    }
    return status;
}

static int migrate_run(LimeviRun *run)
{
    g_autoptr(GPtrArray) locs = NULL;
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)run->opts->timeout_s * G_USEC_PER_SEC;
    LimeviVmMigration *bad = NULL;
    const char *why = NULL;

    /* The journal first: a VC another coordinator migrates is not even
     * looked at (its QMP sockets serve that one). */
    if (!limevi_run_open_journal(run)) {
        return 1;
    }
    locs = limevi_locate(run->vc);
    if (!plan(run, locs)) {
        return 1;
    }
    if (!run->migs->len) {
        g_print("limevi: every VM of %s already runs at site %s\n",
                run->vc->name, run->opts->site);
        return 0;
    }
    print_plan(run);
    if (!limevi_run_record_plan(run)) {
        return 1;
    }
    /* Until every source is released, any failure rolls everything back;
     * once the release is journaled a crash must finish, not roll back. */
    if (!start(run)) {
        bad = limevi_run_first_failed(run);
        why = "cannot write the journal";
    } else {
        why = converge(run, deadline, &bad);
        if (!why && !bad && !journal_converged(run)) {
            why = "cannot write the journal";
        }
    }
    if (bad || why) {
        roll_back(run, bad, why);
        return 1;
    }
    return see_through(run, deadline);
}

int limevi_vc_migrate(LimeviVc *vc, const LimeviMigrateOptions *opts)
{
    g_autoptr(GPtrArray) migs =
        g_ptr_array_new_with_free_func(limevi_vm_migration_free);
    LimeviRun run = { .vc = vc, .opts = opts, .migs = migs,
                      .tty = isatty(STDOUT_FILENO) && !opts->json,
                      .t0 = g_get_real_time() };
    guint sig_int = g_unix_signal_add(SIGINT, on_sigint, &run);
    guint sig_term = g_unix_signal_add(SIGTERM, on_sigterm, &run);
    int status = migrate_run(&run);

    limevi_journal_close(run.journal);
    g_source_remove(sig_int);
    g_source_remove(sig_term);
    return status;
}
