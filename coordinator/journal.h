/*
 * The coordinator's journal: every step of a VC migration and every
 * VM's phase, in SQLite, so that `limevi migrate --resume` after the
 * coordinator itself died knows whether to finish (the sources were
 * released) or to roll back; and the lock that lets one coordinator at a
 * time migrate a VC.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_JOURNAL_H
#define LIMEVI_JOURNAL_H

#include <glib.h>

typedef struct LimeviJournal LimeviJournal;

/* Steps of a run, in order; a run ends at "done" or "rolled-back". */
#define LIMEVI_STEP_PLANNED     "planned"
#define LIMEVI_STEP_STARTED     "destinations-started"
#define LIMEVI_STEP_MIGRATING   "migrating"
#define LIMEVI_STEP_RELEASED    "released"
#define LIMEVI_STEP_DONE        "done"
#define LIMEVI_STEP_ROLLED_BACK "rolled-back"

/* Phases of one VM of a run, in the order a move reaches them. */
#define LIMEVI_PHASE_PLANNED      "planned"
#define LIMEVI_PHASE_DST_STARTED  "destination-started"
#define LIMEVI_PHASE_MIGRATING    "migrating"
#define LIMEVI_PHASE_CONVERGED    "converged"
#define LIMEVI_PHASE_RELEASED     "released"
#define LIMEVI_PHASE_SWITCHED     "switched"
#define LIMEVI_PHASE_SOURCE_GONE  "source-gone"
#define LIMEVI_PHASE_ROUTES_OK    "routes-verified"
#define LIMEVI_PHASE_ROLLED_BACK  "rolled-back"

/*
 * Errors are G_IO_ERROR: G_IO_ERROR_BUSY when another coordinator holds
 * the VC, G_IO_ERROR_FAILED for SQLite's errors; every message names
 * the journal's file, and SQLite's own message for its errors.
 */
LimeviJournal *limevi_journal_open(const char *path, GError **error);
void limevi_journal_close(LimeviJournal *j);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviJournal, limevi_journal_close)

/* Fails with G_IO_ERROR_BUSY, naming its PID and host, when a live
 * coordinator other than this process holds @vc's lock. */
gboolean limevi_journal_check_free(LimeviJournal *j, const char *vc,
                                   GError **error);

/* The unfinished run of @vc: its id in *@run, site and step; *@run is 0
 * when there is none.  FALSE only on a journal error. */
gboolean limevi_journal_unfinished(LimeviJournal *j, const char *vc,
                                   gint64 *run, char **site, char **step,
                                   GError **error);

typedef struct {
    const char *vm;
    const char *src;            /* host names */
    const char *dst;
} LimeviJournalVm;

/*
 * In one transaction: @vc's lock for this process (G_IO_ERROR_BUSY if a
 * live coordinator holds it), a new run at step "planned", and its
 * @n_vms VMs at phase "planned".  The run's id, or 0.
 */
gint64 limevi_journal_begin(LimeviJournal *j, const char *vc,
                            const char *site, const LimeviJournalVm *vms,
                            guint n_vms, GError **error);

/* --resume: @run's lock, taken over from the coordinator that died
 * (G_IO_ERROR_BUSY if it still lives). */
gboolean limevi_journal_take_over(LimeviJournal *j, const char *vc,
                                  gint64 run, GError **error);

/* The run's VMs as "vm", "src", "dst", "phase" quadruples in a
 * NULL-ended strv (g_strfreev() it); NULL on a journal error. */
char **limevi_journal_vms(LimeviJournal *j, gint64 run, GError **error);

/*
 * Test seam for --resume (limevi migrate --x-crash-at=STEP): once @step
 * is durable, limevi_journal_begin() or limevi_journal_step() kills the
 * process with SIGKILL.  NULL: never (every normal run).
 */
void limevi_journal_crash_at(LimeviJournal *j, const char *step);

/* Records that the run reached @step, durable when it returns; at
 * "done" or "rolled-back" the VC's lock goes in the same transaction. */
gboolean limevi_journal_step(LimeviJournal *j, gint64 run, const char *step,
                             GError **error);

/* Records that @vm of @run reached @phase, in a transaction. */
gboolean limevi_journal_vm_phase(LimeviJournal *j, gint64 run,
                                 const char *vm, const char *phase,
                                 GError **error);

#endif /* LIMEVI_JOURNAL_H */
