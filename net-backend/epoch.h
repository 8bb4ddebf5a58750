/*
 * The rule every epoch a remote announces is judged by: epochs never wrap
 * and never jump further than LIMEVI_EPOCH_JUMP_MAX in one announcement,
 * so no packet, forged or buggy, can exhaust a VM's epochs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_EPOCH_H
#define LIMEVI_EPOCH_H

#include <glib.h>

/* The furthest one announcement may move a VM's epoch ahead of the one
 * held.  A move raises it by one (a rollback by one more), so this leaves
 * room for a thousand moves a port missed while it was unreachable. */
#define LIMEVI_EPOCH_JUMP_MAX 1024
/* Announcements at or above this epoch are refused: the last epochs are
 * kept for the coordinator (limevi-route-set), which may still repair a
 * route up there, and none is ever followed by a wrap to 0. */
#define LIMEVI_EPOCH_LIMIT (G_MAXUINT32 - LIMEVI_EPOCH_JUMP_MAX)

typedef enum {
    LIMEVI_EPOCH_NEWER,     /* apply it */
    LIMEVI_EPOCH_SAME,      /* already applied: answer, change nothing */
    LIMEVI_EPOCH_STALE,     /* older than the one held */
    LIMEVI_EPOCH_TOO_FAR,   /* more than LIMEVI_EPOCH_JUMP_MAX ahead */
    LIMEVI_EPOCH_EXHAUSTED, /* at or above LIMEVI_EPOCH_LIMIT */
} LimeviEpochVerdict;

/* How an announcement at @announced is judged against the epoch @held
 * (@have_held FALSE: the port holds no epoch for that VM yet, so any
 * epoch below the limit is newer). */
static inline LimeviEpochVerdict limevi_epoch_judge(gboolean have_held,
                                                    guint32 held,
                                                    guint32 announced)
{
    if (announced >= LIMEVI_EPOCH_LIMIT) {
        return LIMEVI_EPOCH_EXHAUSTED;
    }
    if (!have_held) {
        return LIMEVI_EPOCH_NEWER;
    }
    if (announced < held) {
        return LIMEVI_EPOCH_STALE;
    }
    if (announced == held) {
        return LIMEVI_EPOCH_SAME;
    }
    return announced - held > LIMEVI_EPOCH_JUMP_MAX ? LIMEVI_EPOCH_TOO_FAR
                                                    : LIMEVI_EPOCH_NEWER;
}

#endif
