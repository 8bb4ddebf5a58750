/*
 * One direction of an emulated WAN link, on a simulated clock: parameter
 * parsing, delay, jitter without reordering, seeded loss, the shaper's
 * rate and its bounded queue.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib.h>

#include "wan-path.h"

#define MS 1000000LL

static void test_params_parse(void)
{
    WanParams p;
    g_autoptr(GError) err = NULL;

    wan_params_init(&p);
    g_assert_cmpuint(p.queue_bytes, ==, WAN_QUEUE_DEFAULT);
    g_assert_true(wan_params_parse(
        "delay=25ms,jitter=500us,loss=0.5%,rate=100mbit,queue=64kb", &p,
        &err));
    g_assert_no_error(err);
    g_assert_cmpint(p.delay_ns, ==, 25 * MS);
    g_assert_cmpint(p.jitter_ns, ==, 500000);
    g_assert_cmpfloat_with_epsilon(p.loss, 0.005, 1e-12);
    g_assert_cmpuint(p.rate_bps, ==, 100000000);
    g_assert_cmpuint(p.queue_bytes, ==, 64 * 1024);

    /* Keys not named keep their value. */
    g_assert_true(wan_params_parse("delay=1.5s,rate=0", &p, &err));
    g_assert_cmpint(p.delay_ns, ==, 1500 * MS);
    g_assert_cmpuint(p.rate_bps, ==, 0);
    g_assert_cmpint(p.jitter_ns, ==, 500000);
}

static void test_params_bad(void)
{
    static const char *const bad[] = {
        "", "delay", "=5ms", "delay=5", "delay=-1ms", "delay=61s",
        "delay=5parsecs", "loss=101%", "loss=-1%", "loss=5%%", "rate=10mb",
        "rate=1kbit", "queue=1kb", "queue=2gb", "colour=red",
        "delay=5ms,,", "delay=nanms",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        WanParams p, before;
        g_autoptr(GError) err = NULL;

        wan_params_init(&p);
        p.delay_ns = 7;
        before = p;
        g_assert_false(wan_params_parse(bad[i], &p, &err));
        g_assert_nonnull(err);
        g_test_message("'%s': %s", bad[i], err->message);
        g_assert_cmpmem(&p, sizeof(p), &before, sizeof(before));
    }
}

static void push_n(WanPath *path, GRand *rand, gint64 now, guint len)
{
    static guint8 data[2048];

    wan_path_push(path, rand, now, data, len, len);
}

static void test_delay(void)
{
    WanParams p;
    WanPath path;
    g_autoptr(GRand) rand = g_rand_new_with_seed(1);

    wan_params_init(&p);
    p.delay_ns = 20 * MS;
    wan_path_init(&path, &p);
    push_n(&path, rand, 100 * MS, 100);
    g_assert_cmpint(wan_path_next_ns(&path), ==, 120 * MS);
    g_assert_null(wan_path_due(&path, 120 * MS - 1));
    g_assert_nonnull(wan_path_due(&path, 120 * MS));
    g_free(wan_path_pop(&path));
    g_assert_cmpint(wan_path_next_ns(&path), ==, G_MAXINT64);
    wan_path_clear(&path);
}

static void test_jitter_keeps_order(void)
{
    WanParams p;
    WanPath path;
    g_autoptr(GRand) rand = g_rand_new_with_seed(2);
    gint64 last = 0;
    gboolean varied = FALSE;

    wan_params_init(&p);
    p.delay_ns = 5 * MS;
    p.jitter_ns = 10 * MS;
    wan_path_init(&path, &p);
    for (gint64 i = 0; i < 1000; i++) {
        push_n(&path, rand, i * MS / 10, 100);
    }
    g_assert_cmpuint(path.frames.length, ==, 1000);
    for (gint64 i = 0; i < 1000; i++) {
        WanFrame *f = wan_path_pop(&path);
        gint64 sent = i * MS / 10;

        /* Never before it was sent, never later than delay + jitter. */
        g_assert_cmpint(f->release_ns, >=, sent);
        g_assert_cmpint(f->release_ns, >=, last);
        g_assert_cmpint(f->release_ns, <=, sent + 15 * MS);
        varied |= f->release_ns != sent + 5 * MS;
        last = f->release_ns;
        g_free(f);
    }
    g_assert_true(varied);
    wan_path_clear(&path);
}

static guint64 lost_with_seed(guint32 seed)
{
    WanParams p;
    WanPath path;
    g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
    guint64 lost;

    wan_params_init(&p);
    p.loss = 0.05;
    wan_path_init(&path, &p);
    for (int i = 0; i < 10000; i++) {
        push_n(&path, rand, i, 100);
    }
    lost = path.stats.dropped_loss;
    g_assert_cmpuint(lost + path.frames.length, ==, 10000);
    wan_path_clear(&path);
    return lost;
}

static void test_loss_seeded(void)
{
    guint64 lost = lost_with_seed(42);

    g_assert_cmpuint(lost, >=, 400);
    g_assert_cmpuint(lost, <=, 600);
    g_assert_cmpuint(lost_with_seed(42), ==, lost);
}

static void test_rate(void)
{
    WanParams p;
    WanPath path;
    g_autoptr(GRand) rand = g_rand_new_with_seed(3);
    /* 10 Mbit/s: a 1250-byte frame takes 1 ms, the burst 2.4 ms. */
    gint64 burst = WAN_BURST_BYTES * 8 * 100LL;
    gint64 last = 0;

    wan_params_init(&p);
    p.rate_bps = 10000000;
    p.delay_ns = 10 * MS;
    wan_path_init(&path, &p);
    for (int i = 0; i < 100; i++) {
        push_n(&path, rand, 0, 1250);
    }
    g_assert_cmpuint(path.frames.length, ==, 100);
    for (gint64 i = 0; i < 100; i++) {
        WanFrame *f = wan_path_pop(&path);

        g_assert_cmpint(f->release_ns, >=, 10 * MS + i * MS - burst);
        g_assert_cmpint(f->release_ns, <=, 10 * MS + i * MS);
        last = f->release_ns;
        g_free(f);
    }
    g_assert_cmpint(last, >=, 100 * MS);
    /* Idle long enough, the bucket is full again. */
    push_n(&path, rand, 1000 * MS, 1250);
    g_assert_cmpint(wan_path_next_ns(&path), ==, 1010 * MS);
    wan_path_clear(&path);
}

static void test_queue_bound(void)
{
    WanParams p;
    WanPath path;
    g_autoptr(GRand) rand = g_rand_new_with_seed(4);

    wan_params_init(&p);
    p.rate_bps = 1000000;
    p.queue_bytes = 64 * 1024;
    wan_path_init(&path, &p);
    for (int i = 0; i < 1000; i++) {
        push_n(&path, rand, 0, 1000);
    }
    g_assert_cmpuint(path.stats.dropped_queue, >, 0);
    g_assert_cmpuint(path.frames.length + path.stats.dropped_queue, ==,
                     1000);
    /* The queue plus what the burst let through at once. */
    g_assert_cmpuint(path.frames.length * 1000, <=,
                     p.queue_bytes + WAN_BURST_BYTES + 1000);
    g_assert_cmpuint(path.frames.length * 1000, >=, p.queue_bytes - 1000);
    wan_path_clear(&path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/wan-path/params/parse", test_params_parse);
    g_test_add_func("/wan-path/params/bad", test_params_bad);
    g_test_add_func("/wan-path/delay", test_delay);
    g_test_add_func("/wan-path/jitter-keeps-order", test_jitter_keeps_order);
    g_test_add_func("/wan-path/loss-seeded", test_loss_seeded);
    g_test_add_func("/wan-path/rate", test_rate);
    g_test_add_func("/wan-path/queue-bound", test_queue_bound);
    return g_test_run();
}
