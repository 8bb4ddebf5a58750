/*
 * The token bucket of pace.h.  Tokens are kept in millionths of a unit
 * so that a refill every microsecond loses nothing to rounding.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "pace.h"

#define PACE_SCALE G_GUINT64_CONSTANT(1000000)

void limevi_pace_init(LimeviPace *pace, guint64 rate, guint64 min_rate,
                      guint64 burst, gint64 now_us)
{
    g_return_if_fail(rate > 0 && burst > 0);

    pace->rate = pace->max_rate = pace->floor_rate = rate;
    pace->window_us = now_us;
    pace->window_units = 0;
    pace->min_rate = MIN(MAX(min_rate, 1), rate);
    pace->burst = burst;
    pace->tokens = burst * PACE_SCALE;
    pace->last_us = now_us;
    pace->tick = NULL;
    pace->ramp_from = rate;
    pace->ramp_us = 0;
    pace->slowed_us = 0;
}

/*
 * Units the bucket holds: @burst, or what LIMEVI_PACE_HOLD_MS bring at
 * the rate if that is more.  The retry is a timer of whole milliseconds;
 * a bucket smaller than a millisecond's worth would cap the rate at
 * @burst per millisecond however high it is (16 frames/ms into a guest:
 * 0.2 Gbit/s of TCP through limevi-tap).
 */
static guint64 pace_burst(const LimeviPace *pace)
{
    return MAX(pace->burst, pace->rate * LIMEVI_PACE_HOLD_MS / 1000);
}

static void pace_refill(LimeviPace *pace, gint64 now_us)
{
    guint64 full;
    guint64 elapsed;

    if (now_us <= pace->last_us) {
        return;
    }
    if (pace->ramp_us && pace->rate < pace->max_rate) {
        gint64 steps = (now_us - pace->ramp_us) / (LIMEVI_PACE_RAMP_MS * 1000);

        pace->rate = steps >= 32 ? pace->max_rate :
                     MIN(pace->max_rate, pace->ramp_from << steps);
    }
    if (pace->slowed_us &&
        now_us - pace->slowed_us >= LIMEVI_PACE_RECOVER_MS * 1000) {
        pace->rate = MIN(pace->max_rate, pace->rate * 2);
        pace->slowed_us = pace->rate < pace->max_rate ? now_us : 0;
    }
    /* Past the time an empty bucket takes to fill, it is full: this also
     * keeps the product below from overflowing. */
    full = pace_burst(pace) * PACE_SCALE;
    elapsed = now_us - pace->last_us;
    pace->last_us = now_us;
    if (elapsed >= full / pace->rate) {
        pace->tokens = full;
        return;
    }
    pace->tokens = MIN(full, pace->tokens + elapsed * pace->rate);
}

gboolean limevi_pace_take(LimeviPace *pace, guint64 n, gint64 now_us)
{
    guint64 need;

    pace_refill(pace, now_us);
    need = MIN(n, pace_burst(pace)) * PACE_SCALE;
    if (pace->tokens < need) {
        return FALSE;
    }
    /* A take larger than the bucket empties it and is paid for later. */
    pace->tokens -= need;
    return TRUE;
}

guint limevi_pace_wait_ms(LimeviPace *pace, guint64 n, gint64 now_us)
{
    guint64 need;
    guint64 missing;

    pace_refill(pace, now_us);
    need = MIN(n, pace_burst(pace)) * PACE_SCALE;
    missing = pace->tokens < need ? need - pace->tokens : 0;
    /* Microseconds per missing token, rounded up to whole milliseconds. */
    return MAX(1, (missing / pace->rate + 999) / 1000);
}

void limevi_pace_observe(LimeviPace *pace, guint64 n, gint64 now_us)
{
    gint64 span = now_us - pace->window_us;
    guint64 seen;

    pace->window_units += n;
    if (span < LIMEVI_PACE_WINDOW_MS * 1000) {
        return;
    }
    seen = pace->window_units * G_USEC_PER_SEC / span;
    pace->max_rate = MAX(pace->floor_rate, 2 * seen);
    pace->rate = pace->max_rate;
    pace->window_us = now_us;
    pace->window_units = 0;
}

void limevi_pace_ramp(LimeviPace *pace, guint64 from, gint64 now_us)
{
    pace_refill(pace, now_us);
    pace->ramp_from = MAX(1, MIN(from, pace->max_rate));
    pace->rate = pace->ramp_from;
    pace->ramp_us = now_us ? now_us : 1;
}

void limevi_pace_end_ramp(LimeviPace *pace)
{
    pace->ramp_us = 0;
    pace->rate = pace->max_rate;
}

void limevi_pace_slow_down(LimeviPace *pace)
{
    pace->rate = MAX(pace->min_rate, pace->rate / 2);
    /* The refusal came at the last refill: the send was just paced. */
    pace->slowed_us = MAX(pace->last_us, 1);
}

void limevi_pace_reset(LimeviPace *pace)
{
    pace->rate = pace->max_rate;
    pace->slowed_us = 0;
}

gboolean limevi_pace_rate_valid(guint64 value, guint64 def, guint64 min,
                                guint64 max, const char *what,
                                const char *unit, guint64 *rate,
                                GError **error)
{
    *rate = value ? value : def;
    if (*rate < min || *rate > max) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'%s' must be between %" G_GUINT64_FORMAT " and %"
                    G_GUINT64_FORMAT " %s, got %" G_GUINT64_FORMAT,
                    what, min, max, unit, *rate);
        return FALSE;
    }
    return TRUE;
}

void limevi_pace_retry_later(LimeviPace *pace, guint64 n, gint64 now_us,
                             GMainContext *context, GSourceFunc func,
                             gpointer data)
{
    if (pace->tick) {
        return;
    }
    pace->tick = g_timeout_source_new(limevi_pace_wait_ms(pace, n, now_us));
    g_source_set_callback(pace->tick, func, data, NULL);
    g_source_set_name(pace->tick, "limevi-pace");
    g_source_attach(pace->tick, context);
}

void limevi_pace_retried(LimeviPace *pace)
{
    if (pace->tick) {
        g_source_destroy(pace->tick);
        g_clear_pointer(&pace->tick, g_source_unref);
    }
}
