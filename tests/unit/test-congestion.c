/*
 * A link that is momentarily full (the socket buffer or a qdisc refuses
 * with EAGAIN or ENOBUFS) loses no frame: it waits, in order, and goes
 * when the socket can write.  Only a permanent error drops and counts.
 * What waited goes at a pace, onto the link and into the guest.
 * Real UDP sockets on 127.0.0.1; the refusals come from udp.c's seam.
 */
#include <errno.h>
#include <string.h>

#include "fake-guest.h"
#include "port.h"
#include "rx.h"

static const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };

static void route(FakeGuest *from, const char *vm, FakeGuest *to)
{
    g_autofree char *endpoint = fake_guest_listen(to);
    g_autoptr(GError) error = NULL;

    g_assert_true(limevi_port_route_set(from->port, vm, endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
}

static void send_ids(FakeGuest *g, guint32 first, guint n)
{
    for (guint32 id = first; id < first + n; id++) {
        guint8 frame[200];

        test_frame(frame, sizeof(frame), test_broadcast, mac_a, id);
        limevi_port_send(g->port, frame, sizeof(frame));
    }
}

typedef struct {
    FakeGuest *guest;
    guint n;
} Want;

static gboolean has_frames(gpointer data)
{
    Want *want = data;

    return want->guest->frames->len >= want->n;
}

static LimeviStats stats(FakeGuest *g)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(g->port);

    return info->stats;
}

static void assert_ids(FakeGuest *g, const guint32 *ids, guint n)
{
    g_assert_cmpuint(g->frames->len, ==, n);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpuint(test_frame_id(g->frames->pdata[i]), ==, ids[i]);
    }
}

static void test_full_link_keeps_every_frame_in_order(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    guint32 ids[40];
    Want want = { b, 40 };

    fake_guest_start(a, ctx, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", NULL);
    route(a, "b", b);
    route(b, "a", a);

    /* A socket buffer full for a while, then a qdisc that drops. */
    limevi_udp_test_refuse(a->port->udp, 15, EAGAIN);
    send_ids(a, 0, 20);
    limevi_udp_test_refuse(a->port->udp, 5, ENOBUFS);
    send_ids(a, 20, 20);
    g_assert_true(test_wait(ctx, has_frames, &want));
    test_spin(ctx, 50);

    for (guint i = 0; i < 40; i++) {
        ids[i] = i;
    }
    assert_ids(b, ids, 40);
    g_assert_cmpuint(stats(a).tx_errors, ==, 0);
    g_assert_cmpuint(stats(a).tx_frames, ==, 40);
    g_assert_cmpuint(stats(b).rx_duplicates, ==, 0);
}

static void test_permanent_error_drops_and_counts(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    static const guint32 ids[] = { 1, 2 };
    Want want = { b, 2 };

    fake_guest_start(a, ctx, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", NULL);
    route(a, "b", b);

    limevi_udp_test_refuse(a->port->udp, 1, EHOSTUNREACH);
    send_ids(a, 0, 3);
    g_assert_true(test_wait(ctx, has_frames, &want));
    test_spin(ctx, 50);
    assert_ids(b, ids, 2);
    g_assert_cmpuint(stats(a).tx_errors, ==, 1);
}

/*
 * Batched sends (limevi_port_send_batch_begin/_end, one sendmmsg per 32
 * frames): a refusal in the middle of a batch keeps the frames behind
 * it, in order, with the numbers they would have had one by one.
 */
#define BATCH_FRAMES 60

static void send_batch(FakeGuest *g, guint32 first)
{
    static guint8 frames[BATCH_FRAMES][200];

    limevi_port_send_batch_begin(g->port);
    for (guint i = 0; i < BATCH_FRAMES; i++) {
        test_frame(frames[i], sizeof(frames[i]), test_broadcast, mac_a,
                   first + i);
        limevi_port_send(g->port, frames[i], sizeof(frames[i]));
    }
    limevi_port_send_batch_end(g->port);
}

static guint64 next_seq(FakeGuest *from, const char *vm)
{
    return limevi_route_lookup(from->port->routes, vm)->tx_seq;
}

static void batch_refused_mid_way(const char *key)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig ca = { 0 }, cb = { 0 };
    guint32 ids[2 * BATCH_FRAMES];
    Want want = { b, BATCH_FRAMES };

    if (key) {
        ca.key = cb.key = (const guint8 *)key;
        ca.key_len = cb.key_len = strlen(key);
    }
    fake_guest_start(a, ctx, "a", "vc1", "lan1", &ca);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", &cb);
    route(a, "b", b);
    route(b, "a", a);

    /* The socket buffer fills after 10 datagrams of the first sendmmsg,
     * then a qdisc drops in the middle of the second. */
    limevi_udp_test_refuse_after(a->port->udp, 10, 6, EAGAIN);
    send_batch(a, 0);
    g_assert_true(test_wait(ctx, has_frames, &want));
    limevi_udp_test_refuse_after(a->port->udp, 40, 3, ENOBUFS);
    send_batch(a, BATCH_FRAMES);
    want.n = 2 * BATCH_FRAMES;
    g_assert_true(test_wait(ctx, has_frames, &want));
    test_spin(ctx, 50);

    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        ids[i] = i;
    }
    assert_ids(b, ids, G_N_ELEMENTS(ids));
    g_assert_cmpuint(stats(a).tx_errors, ==, 0);
    g_assert_cmpuint(stats(a).tx_frames, ==, G_N_ELEMENTS(ids));
    g_assert_cmpuint(stats(b).rx_duplicates, ==, 0);
    g_assert_cmpuint(stats(b).rx_auth_failed, ==, 0);
    g_assert_cmpuint(stats(b).rx_replayed, ==, 0);
    /* One number per frame that left: the peer waits for no gap. */
    g_assert_cmpuint(next_seq(a, "b"), ==, G_N_ELEMENTS(ids));
}

static void test_batch_refused_mid_way_keeps_order(void)
{
    batch_refused_mid_way(NULL);
}

static void test_batch_refused_mid_way_keeps_order_sealed(void)
{
    batch_refused_mid_way("0123456789abcdef0123456789abcdef");
}

static void test_batch_permanent_error_drops_one(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    guint32 ids[BATCH_FRAMES - 1];
    Want want = { b, BATCH_FRAMES - 1 };

    fake_guest_start(a, ctx, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", NULL);
    route(a, "b", b);

    limevi_udp_test_refuse_after(a->port->udp, 5, 1, EPERM);
    send_batch(a, 0);
    g_assert_true(test_wait(ctx, has_frames, &want));
    test_spin(ctx, 50);

    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        ids[i] = i < 5 ? i : i + 1;
    }
    assert_ids(b, ids, G_N_ELEMENTS(ids));
    g_assert_cmpuint(stats(a).tx_errors, ==, 1);
    g_assert_cmpuint(stats(a).tx_frames, ==, BATCH_FRAMES - 1);
    g_assert_cmpuint(next_seq(a, "b"), ==, BATCH_FRAMES - 1);
}

/* What waits is bounded by buffer-limit, like every other queue. */
static void test_backlog_is_bounded(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig config = { .buffer_limit = LIMEVI_BUFFER_LIMIT_MIN };

    fake_guest_start(a, ctx, "a", "vc1", "lan1", &config);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", NULL);
    route(a, "b", b);

    /* 2048 bytes hold 10 frames of 200. */
    limevi_udp_test_refuse(a->port->udp, 1000, EAGAIN);
    send_ids(a, 0, 15);
    g_assert_cmpuint(stats(a).tx_held_dropped, ==, 5);
    limevi_udp_test_refuse(a->port->udp, 0, 0);
    {
        Want want = { b, 10 };

        g_assert_true(test_wait(ctx, has_frames, &want));
    }
    test_spin(ctx, 50);
    g_assert_cmpuint(b->frames->len, ==, 10);
    g_assert_cmpuint(stats(a).tx_errors, ==, 0);
}

static void assert_in_order(FakeGuest *g, guint n)
{
    g_assert_cmpuint(g->frames->len, ==, n);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpuint(test_frame_id(g->frames->pdata[i]), ==, i);
    }
}

/* Frames seen after @start_us, at most what a bucket of @burst refilled
 * at @rate per second lets through (plus one for rounding). */
static void assert_within_pace(guint seen, gint64 start_us, guint burst,
                               guint rate)
{
    gint64 elapsed = g_get_monotonic_time() - start_us;

    g_assert_cmpuint(seen, <=, burst + rate * elapsed / G_USEC_PER_SEC + 1);
}

/*
 * Frames held for a moving peer go at flush-rate once it is back, not in
 * one burst, and a link that refuses some of them on the way (a full
 * qdisc) slows the flush down without losing or reordering any.
 */
static void test_held_flush_is_paced(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *endpoint = NULL;
    LimeviPortConfig config = { .flush_rate = 200 * 1000 };
    /* 200-byte frames with a header of some 30 bytes each way. */
    const guint burst = LIMEVI_FLUSH_BURST / 200, rate = 200 * 1000 / 200;
    Want want = { b, 400 };
    gint64 start;

    fake_guest_start(a, ctx, "a", "vc1", "lan1", &config);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", NULL);
    endpoint = fake_guest_listen(b);
    g_assert_true(limevi_port_route_set(a->port, "b", endpoint, NULL,
                                        LIMEVI_ROUTE_INVALID, &error));
    g_assert_no_error(error);
    send_ids(a, 0, 400);
    g_assert_cmpuint(stats(a).tx_held, ==, 400);
    g_assert_cmpuint(stats(a).tx_frames, ==, 0);

    start = g_get_monotonic_time();
    g_assert_true(limevi_port_route_set(a->port, "b", endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    limevi_udp_test_refuse(a->port->udp, 3, ENOBUFS);
    test_spin(ctx, 100);
    assert_within_pace(stats(a).tx_frames, start, burst, rate);
    g_assert_cmpuint(stats(a).tx_frames, <, 400);

    /* Live frames wait behind the held ones. */
    send_ids(a, 400, 10);
    want.n = 410;
    g_assert_true(test_wait(ctx, has_frames, &want));
    test_spin(ctx, 50);
    assert_in_order(b, 410);
    g_assert_cmpuint(stats(a).tx_errors, ==, 0);
    g_assert_cmpuint(stats(a).tx_held_dropped, ==, 0);
}

/*
 * A burst for the guest after a switchover (the port resequences) reaches
 * it at guest-rate, at most LIMEVI_GUEST_BURST at once, so that a default
 * socket buffer in the guest takes it; the rest waits in the port's
 * buffer and none is lost.
 */
static void test_guest_delivery_is_paced(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig config = { .guest_rate = 1000 };
    Want want = { b, 500 };
    gint64 start;

    fake_guest_start(a, ctx, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", &config);
    route(a, "b", b);
    send_ids(a, 0, 1);
    want.n = 1;
    g_assert_true(test_wait(ctx, has_frames, &want));

    limevi_rx_reseq_begin(b->port);
    start = g_get_monotonic_time();
    send_ids(a, 1, 499);
    test_spin(ctx, 100);
    assert_within_pace(b->frames->len, start, 1 + LIMEVI_GUEST_BURST, 1000);
    g_assert_cmpuint(b->frames->len, <, 500);

    want.n = 500;
    g_assert_true(test_wait(ctx, has_frames, &want));
    assert_in_order(b, 500);
    g_assert_cmpuint(b->overflows, ==, 0);
}

/* Outside a switchover the pace learns the guest's rate: a guest busier
 * than guest-rate is not held back for long. */
static void test_guest_pace_learns_a_busy_guest(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig config = { .guest_rate = 1000 };
    Want want = { b, 6000 };

    fake_guest_start(a, ctx, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", &config);
    route(a, "b", b);
    /* 6000 frames at 1000 frames/s would take 6 s, past test_wait's 3. */
    for (guint i = 0; i < 60; i++) {
        send_ids(a, i * 100, 100);
        test_spin(ctx, 10);
    }
    g_assert_true(test_wait(ctx, has_frames, &want));
    assert_in_order(b, 6000);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/port/congestion/full-link-keeps-every-frame-in-order",
                    test_full_link_keeps_every_frame_in_order);
    g_test_add_func("/port/congestion/permanent-error-drops-and-counts",
                    test_permanent_error_drops_and_counts);
    g_test_add_func("/port/congestion/batch-refused-mid-way-keeps-order",
                    test_batch_refused_mid_way_keeps_order);
    g_test_add_func("/port/congestion/batch-refused-mid-way-keeps-order-sealed",
                    test_batch_refused_mid_way_keeps_order_sealed);
    g_test_add_func("/port/congestion/batch-permanent-error-drops-one",
                    test_batch_permanent_error_drops_one);
    g_test_add_func("/port/congestion/backlog-is-bounded",
                    test_backlog_is_bounded);
    g_test_add_func("/port/congestion/held-flush-is-paced",
                    test_held_flush_is_paced);
    g_test_add_func("/port/congestion/guest-delivery-is-paced",
                    test_guest_delivery_is_paced);
    g_test_add_func("/port/congestion/guest-pace-learns-a-busy-guest",
                    test_guest_pace_learns_a_busy_guest);
    return g_test_run();
}
