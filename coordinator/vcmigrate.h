/*
 * limevi migrate: moves every VM of a VC to another site together
 * (DESIGN.md section 4): destinations started, all migrations run with
 * the switchover held at every source, every source released at once
 * when all of them report ready together, routes verified, sources quit.  Any failure before
 * the release rolls every VM back to its source.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_VCMIGRATE_H
#define LIMEVI_VCMIGRATE_H

#include "vcfile.h"

typedef struct {
    const char *site;           /* --to */
    gboolean json;              /* progress as JSON lines */
    const char *report;         /* JSON report path, or NULL */
    const char *svg;            /* SVG timeline path, or NULL */
    guint downtime_limit_ms;
    guint64 bandwidth;          /* bytes/s for the whole VC; 0: no limit */
    guint timeout_s;
    gboolean keep_sources;      /* do not quit the sources (tests) */
    const char *journal;        /* SQLite journal path */
    gboolean resume;            /* finish or roll back an interrupted run */
    gboolean force_split;       /* --resume may leave the VC at two sites */
    const char *crash_at;       /* test seam: die after this journal step */
} LimeviMigrateOptions;

/* Returns the exit status: 0 only when every VM moved and every route
 * agrees. */
int limevi_vc_migrate(LimeviVc *vc, const LimeviMigrateOptions *opts);

/* Finishes (the sources were released) or rolls back (they were not) the
 * interrupted migration recorded in opts->journal. */
int limevi_vc_migrate_resume(LimeviVc *vc, const LimeviMigrateOptions *opts);

#endif /* LIMEVI_VCMIGRATE_H */
