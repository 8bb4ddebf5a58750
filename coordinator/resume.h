/*
 * The rule --resume follows after the release (docs/cli.md): the whole
 * VC goes one way.  Each VM's place is read back from its QEMUs, never
 * assumed; the decision is a pure function of those places.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_RESUME_H
#define LIMEVI_RESUME_H

#include "migration.h"

typedef enum {
    LIMEVI_PLACE_HELD,          /* at its source, migrating, destination up */
    LIMEVI_PLACE_SWITCHED,      /* runs at its destination */
    LIMEVI_PLACE_STRANDED,      /* at its source; it cannot switch now */
    LIMEVI_PLACE_UNKNOWN,       /* no QEMU says where it runs */
} LimeviPlace;

typedef enum {
    LIMEVI_RESUME_FINISH,       /* every VM to its destination */
    LIMEVI_RESUME_ROLL_BACK,    /* none switched: every VM stays */
    LIMEVI_RESUME_SPLIT,        /* --force-split: finish what can */
    LIMEVI_RESUME_REFUSE,       /* say where each runs, change nothing */
} LimeviResumeAction;

/*
 * Every VM held or switched: finish.  One stranded and none switched:
 * roll back.  Stranded and switched VMs both: refuse unless
 * @force_split.  Any VM whose place is unknown: refuse.
 */
LimeviResumeAction limevi_resume_decide(const LimeviPlace *places, guint n,
                                        gboolean force_split);

/* Where @m runs, asked of its source and destination QEMUs (and of
 * libvirt's job on the source). */
LimeviPlace limevi_resume_place(LimeviVmMigration *m);

/* Prints where each VM of @run runs (@places) and what limevi does, or
 * would do with --force-split, for @action. */
void limevi_resume_explain(LimeviRun *run, const LimeviPlace *places,
                           LimeviResumeAction action);

/* query-migrate's status at @qmp ("none" when it says none); NULL when
 * @qmp is NULL or does not answer. */
char *limevi_resume_migration_status(LimeviQmp *qmp);

#endif /* LIMEVI_RESUME_H */
