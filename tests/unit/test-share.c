/*
 * How --bandwidth is shared while a VC converges, and without it the
 * switchover bandwidth derived from what the VC sends
 * (coordinator/share.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "share.h"

#define MB (1000 * 1000)

static guint64 sum(const guint64 *v, guint n)
{
    guint64 s = 0;

    for (guint i = 0; i < n; i++) {
        s += v[i];
    }
    return s;
}

/* Nothing ready: by what each still has to send, every VM at least a
 * quarter of its even share, the whole link used. */
static void test_copying_by_remaining(void)
{
    const LimeviShareVm vms[] = {
        { .remaining = 300 * MB }, { .remaining = 100 * MB },
        { .remaining = 0 }, { .remaining = 100 * MB },
    };
    guint64 out[4];

    limevi_share_bandwidth(12 * MB, vms, 4, out);
    g_assert_cmpuint(sum(out, 4), <=, 12 * MB);
    g_assert_cmpuint(sum(out, 4), >=, 12 * MB - 4);
    for (guint i = 0; i < 4; i++) {
        g_assert_cmpuint(out[i], >=, 3 * MB / 4);
    }
    g_assert_cmpuint(out[0], >, out[1]);
    g_assert_cmpuint(out[1], ==, out[3]);
    g_assert_cmpuint(out[2], <, out[1]);
}

/* A ready VM keeps twice its dirty rate; the rest of its even share goes
 * to the VMs still copying. */
static void test_ready_gives_its_share_away(void)
{
    const LimeviShareVm vms[] = {
        { .ready = TRUE, .dirty_bytes = 2 * MB },
        { .remaining = 100 * MB }, { .remaining = 100 * MB },
    };
    guint64 out[3];

    limevi_share_bandwidth(30 * MB, vms, 3, out);
    g_assert_cmpuint(out[0], ==, 4 * MB);
    g_assert_cmpuint(out[1], ==, out[2]);
    g_assert_cmpuint(out[1], >=, 13 * MB - 1);
    g_assert_cmpuint(sum(out, 3), <=, 30 * MB);
    g_assert_cmpuint(sum(out, 3), >=, 30 * MB - 3);
}

/* A ready VM's share stays between an eighth and all of its even share,
 * however little or much it dirties; all ready, the link is not
 * overrun. */
static void test_ready_bounds(void)
{
    const LimeviShareVm vms[] = {
        { .ready = TRUE, .dirty_bytes = 0 },
        { .ready = TRUE, .dirty_bytes = 100 * MB },
        { .ready = TRUE, .dirty_bytes = 2 * MB },
    };
    guint64 out[3];

    limevi_share_bandwidth(24 * MB, vms, 3, out);
    g_assert_cmpuint(out[0], ==, MB);
    g_assert_cmpuint(out[1], ==, 8 * MB);
    g_assert_cmpuint(out[2], ==, 4 * MB);
    g_assert_cmpuint(sum(out, 3), <=, 24 * MB);
}

/* One VM: the whole link while it copies, twice its dirty rate once
 * ready. */
static void test_one_vm(void)
{
    LimeviShareVm vm = { .remaining = 5 * MB };
    guint64 out;

    limevi_share_bandwidth(10 * MB, &vm, 1, &out);
    g_assert_cmpuint(out, ==, 10 * MB);
    vm.ready = TRUE;
    vm.dirty_bytes = 3 * MB;
    limevi_share_bandwidth(10 * MB, &vm, 1, &out);
    g_assert_cmpuint(out, ==, 6 * MB);
}

/* ---- Without --bandwidth: the switchover bandwidth, derived ---- */

#define WINDOW_US ((gint64)LIMEVI_THROUGHPUT_WINDOW_MS * 1000)

/* Feeds @tp a VC sending @rate bytes/s for @us, polled every 200 ms
 * from @t; returns the time after. */
static gint64 send_at(LimeviThroughput *tp, gint64 t, guint64 *sent,
                      guint64 rate, gint64 us)
{
    for (gint64 end = t + us; t < end;) {
        t += 200 * 1000;
        *sent += rate / 5;
        limevi_throughput_sample(tp, t, *sent);
    }
    return t;
}

/* The rate of a whole window, not before one ended; not the first,
 * in which the sources' socket buffers fill faster than the link. */
static void test_throughput_by_window(void)
{
    LimeviThroughput tp = { 0 };
    guint64 sent = 0;
    gint64 t;

    g_assert_cmpuint(limevi_throughput_sample(&tp, 1000, 0), ==, 0);
    t = send_at(&tp, 1000, &sent, 15 * MB, WINDOW_US);
    g_assert_cmpuint(tp.last, ==, 15 * MB);
    g_assert_cmpuint(tp.peak, ==, 0);
    t = send_at(&tp, t, &sent, 12 * MB, WINDOW_US - 200 * 1000);
    g_assert_cmpuint(tp.peak, ==, 0);
    send_at(&tp, t, &sent, 12 * MB, 200 * 1000);
    g_assert_cmpuint(tp.peak, ==, 12 * MB);
}

/* Held VMs send little: a slower window does not lower the peak; a
 * faster one raises it. */
static void test_throughput_keeps_the_peak(void)
{
    LimeviThroughput tp = { 0 };
    guint64 sent = 0;
    gint64 t = 1000;

    limevi_throughput_sample(&tp, t, 0);
    t = send_at(&tp, t, &sent, 20 * MB, WINDOW_US);
    t = send_at(&tp, t, &sent, 12 * MB, WINDOW_US);
    t = send_at(&tp, t, &sent, MB, 3 * WINDOW_US);
    g_assert_cmpuint(tp.peak, ==, 12 * MB);
    g_assert_cmpuint(tp.last, ==, MB);
    send_at(&tp, t, &sent, 13 * MB, WINDOW_US);
    g_assert_cmpuint(tp.peak, ==, 13 * MB);
}

/* Each VM gets the even share of the peak, set again only when it moved
 * by more than a tenth. */
static void test_switchover_even_share(void)
{
    g_assert_cmpuint(limevi_share_switchover(0, 8, 0), ==, 0);
    g_assert_cmpuint(limevi_share_switchover(12 * MB, 8, 0), ==, 1500000);
    g_assert_cmpuint(limevi_share_switchover(13 * MB, 8, 1500000), ==, 0);
    g_assert_cmpuint(limevi_share_switchover(11 * MB, 8, 1500000), ==, 0);
    g_assert_cmpuint(limevi_share_switchover(14 * MB, 8, 1500000), ==,
                     1750000);
    g_assert_cmpuint(limevi_share_switchover(12 * MB, 1, 0), ==, 12 * MB);
}

/*
 * What the bench measured without a share: the VC's rate swinging from
 * window to window (here 6 to 12 MB/s, then held VMs sending little).
 * The switchover bandwidth rises to the peak's share in few steps and
 * never falls, so the thresholds it sets stop moving.
 */
static void test_switchover_stops_moving(void)
{
    static const guint64 rates[] = { 6, 9, 12, 7, 11, 8, 12, 6, 1, 1, 2, 1 };
    LimeviThroughput tp = { 0 };
    guint64 sent = 0, set = 0, want;
    guint updates = 0;
    gint64 t = 1000;

    limevi_throughput_sample(&tp, t, 0);
    t = send_at(&tp, t, &sent, 20 * MB, WINDOW_US);
    for (guint i = 0; i < G_N_ELEMENTS(rates); i++) {
        t = send_at(&tp, t, &sent, rates[i] * MB, WINDOW_US);
        want = limevi_share_switchover(tp.peak, 8, set);
        if (want) {
            g_assert_cmpuint(want, >, set);
            set = want;
            updates++;
        }
    }
    g_assert_cmpuint(set, ==, 12 * MB / 8);
    g_assert_cmpuint(updates, <=, 3);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/share/copying-by-remaining", test_copying_by_remaining);
    g_test_add_func("/share/ready-gives-its-share-away",
                    test_ready_gives_its_share_away);
    g_test_add_func("/share/ready-bounds", test_ready_bounds);
    g_test_add_func("/share/one-vm", test_one_vm);
    g_test_add_func("/share/switchover/throughput-by-window",
                    test_throughput_by_window);
    g_test_add_func("/share/switchover/throughput-keeps-the-peak",
                    test_throughput_keeps_the_peak);
    g_test_add_func("/share/switchover/even-share-of-the-peak",
                    test_switchover_even_share);
    g_test_add_func("/share/switchover/stops-moving-when-the-rate-swings",
                    test_switchover_stops_moving);
    return g_test_run();
}
