/*
 * The token bucket (net-backend/pace.c) on a clock the test steps: a
 * refusal halves the rate, and the rate comes back while frames still
 * wait.  Before, it came back only once nothing waited: a backlog fed as
 * fast as it drained kept the minimum for good (the qemu migrate suite's
 * 20 000 frames/s sender crawled at 1 Mbit/s after a few refusals).
 */
#include "pace.h"

#define RATE    6250000         /* 50 Mbit/s in bytes/s */
#define MIN_RATE 125000         /* 1 Mbit/s */
#define BURST   16384

/* Bytes taken in @ms of 1 ms steps from @now, taking 150 at a time. */
static guint64 taken_in(LimeviPace *pace, gint64 *now, guint ms)
{
    guint64 sum = 0;

    for (guint i = 0; i < ms; i++) {
        *now += 1000;
        while (limevi_pace_take(pace, 150, *now)) {
            sum += 150;
        }
    }
    return sum;
}

static void test_refusals_halve_down_to_the_minimum(void)
{
    LimeviPace pace;
    gint64 now = 1000000;

    limevi_pace_init(&pace, RATE, MIN_RATE, BURST, now);
    limevi_pace_slow_down(&pace);
    g_assert_cmpuint(pace.rate, ==, RATE / 2);
    for (guint i = 0; i < 20; i++) {
        limevi_pace_slow_down(&pace);
    }
    g_assert_cmpuint(pace.rate, ==, MIN_RATE);
}

/* Refused down to the minimum, then no refusal: the rate doubles every
 * LIMEVI_PACE_RECOVER_MS, though frames never stop waiting, and what goes
 * in a second at the end is the full rate's. */
static void test_rate_recovers_while_frames_wait(void)
{
    LimeviPace pace;
    gint64 now = 1000000;
    guint64 last_second;

    limevi_pace_init(&pace, RATE, MIN_RATE, BURST, now);
    for (guint i = 0; i < 20; i++) {
        limevi_pace_slow_down(&pace);
    }
    g_assert_cmpuint(pace.rate, ==, MIN_RATE);
    taken_in(&pace, &now, LIMEVI_PACE_RECOVER_MS + 1);
    g_assert_cmpuint(pace.rate, ==, 2 * MIN_RATE);
    /* 1 Mbit/s to 50 Mbit/s: 6 doublings, 300 ms. */
    taken_in(&pace, &now, 6 * LIMEVI_PACE_RECOVER_MS);
    g_assert_cmpuint(pace.rate, ==, RATE);
    last_second = taken_in(&pace, &now, 1000);
    g_assert_cmpuint(last_second, >=, RATE * 95 / 100);
    g_assert_cmpuint(last_second, <=, RATE + BURST);
}

/* A refusal during the recovery halves again and starts the wait anew. */
static void test_refusal_during_recovery_halves_again(void)
{
    LimeviPace pace;
    gint64 now = 1000000;

    limevi_pace_init(&pace, RATE, MIN_RATE, BURST, now);
    limevi_pace_slow_down(&pace);
    limevi_pace_slow_down(&pace);
    g_assert_cmpuint(pace.rate, ==, RATE / 4);
    taken_in(&pace, &now, LIMEVI_PACE_RECOVER_MS + 1);
    g_assert_cmpuint(pace.rate, ==, RATE / 2);
    limevi_pace_slow_down(&pace);
    g_assert_cmpuint(pace.rate, ==, RATE / 4);
    taken_in(&pace, &now, LIMEVI_PACE_RECOVER_MS - 5);
    g_assert_cmpuint(pace.rate, ==, RATE / 4);
}

/* A rate above @burst per millisecond, driven by 1 ms retries only (as
 * the port's timer drives a guest that takes 50 000 frames/s in bursts
 * of 16): the whole rate goes.  Before, 16 a millisecond did. */
static void test_rate_above_burst_per_ms_goes_whole(void)
{
    LimeviPace pace;
    gint64 now = 1000000;
    guint64 sum = 0;

    limevi_pace_init(&pace, 50000, 50000, 16, now);
    for (guint ms = 0; ms < 1000; ms++) {
        now += 1000;
        while (limevi_pace_take(&pace, 1, now)) {
            sum++;
        }
        g_assert_cmpuint(limevi_pace_wait_ms(&pace, 1, now), ==, 1);
    }
    g_assert_cmpuint(sum, >=, 50000 * 95 / 100);
    g_assert_cmpuint(sum, <=, 50000 + 100);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pace/refusals-halve-down-to-the-minimum",
                    test_refusals_halve_down_to_the_minimum);
    g_test_add_func("/pace/rate-recovers-while-frames-wait",
                    test_rate_recovers_while_frames_wait);
    g_test_add_func("/pace/refusal-during-recovery-halves-again",
                    test_refusal_during_recovery_halves_again);
    g_test_add_func("/pace/rate-above-burst-per-ms-goes-whole",
                    test_rate_above_burst_per_ms_goes_whole);
    return g_test_run();
}
