/*
 * A link that is momentarily full (the socket buffer or a qdisc refuses
 * with EAGAIN or ENOBUFS) loses no frame: it waits, in order, and goes
 * when the socket can write.  Only a permanent error drops and counts.
 * Real UDP sockets on 127.0.0.1; the refusals come from udp.c's seam.
 */
#include <errno.h>

#include "fake-guest.h"
#include "port.h"

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/port/congestion/full-link-keeps-every-frame-in-order",
                    test_full_link_keeps_every_frame_in_order);
    g_test_add_func("/port/congestion/permanent-error-drops-and-counts",
                    test_permanent_error_drops_and_counts);
    g_test_add_func("/port/congestion/backlog-is-bounded",
                    test_backlog_is_bounded);
    return g_test_run();
}
