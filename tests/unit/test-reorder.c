/*
 * Each sender's order when the underlay reorders, out of any migration:
 * a kernel that hands a veth's datagrams to several CPUs, or a WAN, may
 * deliver datagram N+1 before N (the congestion suite saw it on its tbf
 * bridge while two migration streams loaded the host).  Real ports on
 * 127.0.0.1; the port's clock is FakeGuest.now, its timer fired by hand.
 */
#include <string.h>

#include "fake-guest.h"
#include "port.h"
#include "rx.h"

/* The numbers docs/migration.md gives. */
G_STATIC_ASSERT(LIMEVI_REORDER_MS == 20);
G_STATIC_ASSERT(LIMEVI_REORDER_SPAN == 1024);

static const guint8 mac_p[6] = { 0x02, 0, 0, 0, 0, 0x0e };

/*
 * A hop from p's port to r's that passes the first datagram and then
 * swaps each pair: 0, 2, 1, 4, 3, ...  What r sends back is dropped.
 */
typedef struct {
    GSocket *socket;
    GSource *source;
    GSocketAddress *to;
    char *endpoint;             /* where it listens, "127.0.0.1:PORT" */
    guint8 kept[LIMEVI_WIRE_PACKET_MAX];
    gssize kept_len;            /* 0: none kept */
    guint seen;
} SwapLink;

static gboolean swap_link_readable(GSocket *socket, GIOCondition cond,
                                   gpointer data)
{
    SwapLink *link = data;
    guint8 buf[LIMEVI_WIRE_PACKET_MAX];
    gssize n = g_socket_receive(socket, (gchar *)buf, sizeof(buf), NULL,
                                NULL);

    if (n <= 0) {
        return G_SOURCE_CONTINUE;
    }
    if (link->seen++ % 2 == 1) {
        memcpy(link->kept, buf, n);
        link->kept_len = n;
        return G_SOURCE_CONTINUE;
    }
    g_socket_send_to(socket, link->to, (gchar *)buf, n, NULL, NULL);
    if (link->kept_len) {
        g_socket_send_to(socket, link->to, (gchar *)link->kept,
                         link->kept_len, NULL, NULL);
        link->kept_len = 0;
    }
    return G_SOURCE_CONTINUE;
}

static SwapLink *swap_link_new(GMainContext *context, FakeGuest *to)
{
    SwapLink *link = g_new0(SwapLink, 1);
    g_autofree char *to_ep = fake_guest_listen(to);
    g_autoptr(GError) error = NULL;

    link->socket = test_socket_new(&link->endpoint);
    link->to = limevi_udp_parse_endpoint(to_ep, "to", FALSE, &error);
    g_assert_no_error(error);
    link->source = g_socket_create_source(link->socket, G_IO_IN, NULL);
    g_source_set_callback(link->source, G_SOURCE_FUNC(swap_link_readable),
                          link, NULL);
    g_source_attach(link->source, context);
    return link;
}

static void swap_link_free(SwapLink *link)
{
    g_source_destroy(link->source);
    g_source_unref(link->source);
    g_object_unref(link->socket);
    g_object_unref(link->to);
    g_free(link->endpoint);
    g_free(link);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SwapLink, swap_link_free)

static void assert_ids(FakeGuest *g, const guint32 *ids, guint n)
{
    g_assert_cmpuint(g->frames->len, ==, n);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpuint(test_frame_id(g->frames->pdata[i]), ==, ids[i]);
    }
}

/* p's frame @seq, carrying @seq as its id, as p's port would send it to
 * r, reaches @g (r's port). */
static void from_p(FakeGuest *g, guint64 seq)
{
    guint8 buf[LIMEVI_WIRE_HEADER_MAX + 100];
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA, .seq = seq, .vc = "vc1",
        .lan = "lan1", .src = "p", .dst = "r",
    };
    gsize hlen = limevi_wire_encode(&hdr, buf, sizeof(buf));

    g_assert_cmpuint(hlen, >, 0);
    test_frame(buf + hlen, 100, test_broadcast, mac_p, seq);
    limevi_port_receive(g->port, buf, hlen + 100);
}

/*
 * p streams 0..10 to r through a hop that swaps each pair after the
 * first: r's guest gets 0..10 in order, none given up on or dropped.
 * Before: 0, 2, 1, 4, 3, ... as they came.
 */
static void test_swapped_on_the_way(void)
{
    static const guint32 ids[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) p = fake_guest_new();
    g_autoptr(FakeGuest) r = fake_guest_new();
    g_autoptr(SwapLink) link = NULL;
    g_autoptr(GError) error = NULL;
    LimeviStats st;

    fake_guest_start(p, context, "p", "vc1", "lan1", NULL);
    fake_guest_start(r, context, "r", "vc1", "lan1", NULL);
    link = swap_link_new(context, r);
    g_assert_true(limevi_port_route_set(p->port, "r", link->endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
    for (guint32 id = 0; id < G_N_ELEMENTS(ids); id++) {
        guint8 frame[60];

        test_frame(frame, sizeof(frame), test_broadcast, mac_p, id);
        limevi_port_send(p->port, frame, sizeof(frame));
    }
    g_assert_true(fake_guest_wait_frames(context, r, G_N_ELEMENTS(ids)));
    test_spin(context, 20);
    assert_ids(r, ids, G_N_ELEMENTS(ids));
    st = fake_guest_stats(r);
    g_assert_cmpuint(st.rx_gaps, ==, 0);
    g_assert_cmpuint(st.rx_duplicates, ==, 0);
}

/*
 * A frame that never comes holds the next ones back LIMEVI_REORDER_MS on
 * r's clock, no longer; it is then counted as a gap.  If it still comes,
 * it goes to the guest late rather than not at all.
 */
static void test_lost_frame_waits_20_ms(void)
{
    static const guint32 ids[] = { 0, 1, 3, 4, 2 };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) r = fake_guest_new();

    fake_guest_start(r, context, "r", "vc1", "lan1", NULL);
    from_p(r, 0);
    from_p(r, 1);
    from_p(r, 3);
    from_p(r, 4);
    assert_ids(r, ids, 2);
    g_assert_nonnull(r->port->rx_tick);
    r->now += (LIMEVI_REORDER_MS - 1) * 1000;
    test_fire(context, r->port->rx_tick);
    assert_ids(r, ids, 2);
    r->now += 2 * 1000;
    test_fire(context, r->port->rx_tick);
    assert_ids(r, ids, 4);
    g_assert_cmpuint(fake_guest_stats(r).rx_gaps, ==, 1);
    g_assert_null(r->port->rx_tick);
    from_p(r, 2);
    assert_ids(r, ids, 5);
    g_assert_cmpuint(fake_guest_stats(r).rx_duplicates, ==, 0);
}

/*
 * What no underlay reorders is not held: a restarted sender counting
 * from 0 again, and a jump further than LIMEVI_REORDER_SPAN (a long
 * loss), which also releases what waited, in order.
 */
static void test_restart_and_jump_not_held(void)
{
    static const guint32 ids[] = { 0, 1, 2, 0, 1, 5, 5000, 5001 };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) r = fake_guest_new();

    fake_guest_start(r, context, "r", "vc1", "lan1", NULL);
    for (guint i = 0; i < 5; i++) {
        from_p(r, ids[i]);
    }
    assert_ids(r, ids, 5);
    from_p(r, 5);
    assert_ids(r, ids, 5);
    from_p(r, 5000);
    assert_ids(r, ids, 7);
    from_p(r, 5001);
    assert_ids(r, ids, 8);
}

/*
 * r's source holds frame 2 for a gap (1 is late) when its state is
 * saved and r moves to @d, whose guest then has frame 0.
 */
static void move_with_2_held(GMainContext *context, FakeGuest *s,
                             FakeGuest *d)
{
    g_autoptr(GBytes) state = NULL;
    g_autoptr(GError) error = NULL;
    const guint8 *data;
    gsize len;

    fake_guest_start(s, context, "r", "vc1", "lan1", NULL);
    fake_guest_start(d, context, "r", "vc1", "lan1", NULL);
    s->can_receive = FALSE;
    from_p(s, 0);
    from_p(s, 2);
    limevi_port_migration_start(s->port);
    limevi_port_freeze(s->port);
    state = limevi_port_save(s->port);
    data = g_bytes_get_data(state, &len);
    limevi_port_set_incoming(d->port);
    g_assert_true(limevi_port_load(d->port, data, len, &error));
    g_assert_no_error(error);
    limevi_port_activate(d->port);
    g_assert_true(fake_guest_wait_frames(context, d, 1));
}

/*
 * r's source holds frame 2 for a gap (1 is late) when its state is
 * saved: the state carries what waits for the gap, with its number, and
 * the destination goes on waiting for 1.  When 1 comes (late, straight
 * to the destination) the guest gets 0, 1, 2 in order.  Before: the save
 * released 2 at once, and 1 was dropped as a duplicate.
 */
static void test_held_for_a_gap_travels(void)
{
    static const guint32 ids[] = { 0, 1, 2 };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) s = fake_guest_new();
    g_autoptr(FakeGuest) d = fake_guest_new();
    LimeviStats st;

    move_with_2_held(context, s, d);
    test_spin(context, 20);
    assert_ids(d, ids, 1);
    from_p(d, 1);
    g_assert_true(fake_guest_wait_frames(context, d, G_N_ELEMENTS(ids)));
    assert_ids(d, ids, G_N_ELEMENTS(ids));
    st = fake_guest_stats(d);
    g_assert_cmpuint(st.rx_duplicates, ==, 0);
    g_assert_cmpuint(st.rx_gaps, ==, 0);
    g_assert_cmpuint(s->frames->len, ==, 0);
}

/*
 * The same, but 1 never comes: the destination gives up on it as on any
 * gap after a switchover, and 2 still reaches the guest, once.
 */
static void test_held_for_a_lost_frame_travels(void)
{
    static const guint32 ids[] = { 0, 2 };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) s = fake_guest_new();
    g_autoptr(FakeGuest) d = fake_guest_new();

    move_with_2_held(context, s, d);
    g_assert_nonnull(d->port->rx_tick);
    limevi_rx_give_up_gaps(d->port);
    g_assert_true(fake_guest_wait_frames(context, d, G_N_ELEMENTS(ids)));
    assert_ids(d, ids, G_N_ELEMENTS(ids));
    g_assert_cmpuint(fake_guest_stats(d).rx_gaps, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/reorder/swapped-on-the-way/reach-the-guest-in-order",
                    test_swapped_on_the_way);
    g_test_add_func("/reorder/lost-frame/holds-the-next-20-ms-no-longer",
                    test_lost_frame_waits_20_ms);
    g_test_add_func("/reorder/restart-or-long-jump/not-held",
                    test_restart_and_jump_not_held);
    g_test_add_func("/reorder/held-for-a-gap/travels-with-the-state",
                    test_held_for_a_gap_travels);
    g_test_add_func("/reorder/held-for-a-lost-frame/travels-with-the-state",
                    test_held_for_a_lost_frame_travels);
    return g_test_run();
}
