/*
 * A token bucket: how fast frames that waited may go (into the guest, or
 * onto a congested link), without allocating or reading any clock but
 * the one it is given.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_PACE_H
#define LIMEVI_PACE_H

#include <glib.h>

#include "limevi.h"

#define LIMEVI_PACE_WINDOW_MS 100
#define LIMEVI_PACE_RAMP_MS 50
/* After a refusal, the rate doubles back every this many ms without one. */
#define LIMEVI_PACE_RECOVER_MS 50
/* The bucket holds at least this many ms at the rate (see pace_burst). */
#define LIMEVI_PACE_HOLD_MS 2

typedef struct {
    guint64 rate;               /* units per second now */
    guint64 max_rate;           /* what @rate returns to */
    guint64 min_rate;           /* what halving stops at */
    guint64 floor_rate;         /* @max_rate is never learnt below it */
    gint64 window_us;           /* when the current observation began */
    guint64 window_units;       /* units that went by in it */
    guint64 burst;              /* units the bucket holds */
    guint64 tokens;             /* in millionths of a unit */
    gint64 last_us;             /* when @tokens was last brought up */
    GSource *tick;              /* limevi_pace_retry_later(), or NULL */
    guint64 ramp_from;          /* limevi_pace_ramp(): the rate it began */
    gint64 ramp_us;             /* ... when; 0: no ramp */
    gint64 slowed_us;           /* the last refusal or doubling; 0: none */
} LimeviPace;

/*
 * The rate an option asks for: @value, or @def when it is 0.  Out of
 * [@min, @max] it fails, naming @what and its @unit.
 */
gboolean limevi_pace_rate_valid(guint64 value, guint64 def, guint64 min,
                                guint64 max, const char *what,
                                const char *unit, guint64 *rate,
                                GError **error);

/* A full bucket of @burst units refilled at @rate per second; halving
 * (limevi_pace_slow_down) never goes below @min_rate.  @rate is also
 * the floor of what limevi_pace_observe() learns. */
void limevi_pace_init(LimeviPace *pace, guint64 rate, guint64 min_rate,
                      guint64 burst, gint64 now_us);

/*
 * Takes @n units if the bucket has them at @now_us and returns TRUE;
 * otherwise takes nothing and returns FALSE.  More than @burst units at
 * once are taken from a full bucket, so no frame waits forever.
 */
gboolean limevi_pace_take(LimeviPace *pace, guint64 n, gint64 now_us);

/* Milliseconds, at least 1, until @n units may be taken. */
guint limevi_pace_wait_ms(LimeviPace *pace, guint64 n, gint64 now_us);

/*
 * @n units went by without waiting (the everyday flow).  Every
 * LIMEVI_PACE_WINDOW_MS the rate what waited may go at becomes twice
 * what went by, never below the configured rate: a flow busier than that
 * is never slowed by its own catching up.
 */
void limevi_pace_observe(LimeviPace *pace, guint64 n, gint64 now_us);

/* Calls @func(@data) once, on @context, when @n units may be taken:
 * one pending call at most. */
void limevi_pace_retry_later(LimeviPace *pace, guint64 n, gint64 now_us,
                             GMainContext *context, GSourceFunc func,
                             gpointer data);
/* The retry has run (call from @func) or is no longer wanted. */
void limevi_pace_retried(LimeviPace *pace);

/*
 * The link refused a send: half the rate, down to the minimum.  Every
 * LIMEVI_PACE_RECOVER_MS without another refusal it doubles, up to the
 * rate it returns to: a backlog fed as fast as it drains never empties,
 * and would otherwise keep the minimum for good.
 */
void limevi_pace_slow_down(LimeviPace *pace);

/*
 * Starts again from @from units per second, doubling every
 * LIMEVI_PACE_RAMP_MS up to the configured rate: for a receiver that has
 * just woken up and is slow at first.
 */
void limevi_pace_ramp(LimeviPace *pace, guint64 from, gint64 now_us);
/* Whether a ramp began and was not ended by limevi_pace_end_ramp(). */
static inline gboolean limevi_pace_ramped(const LimeviPace *pace)
{
    return pace->ramp_us != 0;
}
void limevi_pace_end_ramp(LimeviPace *pace);

/* What waited is gone: back to the configured rate. */
void limevi_pace_reset(LimeviPace *pace);

#endif /* LIMEVI_PACE_H */
