/*
 * The coordinator's journal: every step of a VC migration, in SQLite, so
 * that `limevi migrate --resume` after the coordinator itself died knows
 * whether to finish (the sources were released) or to roll back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_JOURNAL_H
#define LIMEVI_JOURNAL_H

#include <glib.h>

typedef struct LimeviJournal LimeviJournal;

/* Steps, in order; a run ends at "done" or "rolled-back". */
#define LIMEVI_STEP_PLANNED     "planned"
#define LIMEVI_STEP_STARTED     "destinations-started"
#define LIMEVI_STEP_MIGRATING   "migrating"
#define LIMEVI_STEP_RELEASED    "released"
#define LIMEVI_STEP_DONE        "done"
#define LIMEVI_STEP_ROLLED_BACK "rolled-back"

LimeviJournal *limevi_journal_open(const char *path, GError **error);
void limevi_journal_close(LimeviJournal *j);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviJournal, limevi_journal_close)

/* The unfinished run of @vc: its id, site and step; 0 when none. */
gint64 limevi_journal_unfinished(LimeviJournal *j, const char *vc,
                                 char **site, char **step);

/* A new run, and one row per VM moving from @src to @dst. */
gint64 limevi_journal_begin(LimeviJournal *j, const char *vc,
                            const char *site, GError **error);
gboolean limevi_journal_add_vm(LimeviJournal *j, gint64 run, const char *vm,
                               const char *src, const char *dst,
                               GError **error);

/* The run's VMs as "vm", "src", "dst" triples in a NULL-ended strv. */
char **limevi_journal_vms(LimeviJournal *j, gint64 run);

/*
 * Test seam for --resume (limevi migrate --x-crash-at=STEP): once @step
 * is durable, limevi_journal_step() kills the process with SIGKILL.
 * NULL: never (every normal run).
 */
void limevi_journal_crash_at(LimeviJournal *j, const char *step);

/* Records that the run reached @step; durable when it returns. */
gboolean limevi_journal_step(LimeviJournal *j, gint64 run, const char *step,
                             GError **error);

#endif /* LIMEVI_JOURNAL_H */
