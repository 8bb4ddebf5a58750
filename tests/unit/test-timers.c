/*
 * The migration's timers on a stepped clock: the ports' clocks are
 * FakeGuest.now and their timers are fired by hand (test_fire()), so
 * each case asserts what happens in which order and how often, never
 * how long the wall clock took.  Real ports on 127.0.0.1: peer p, VM r
 * moving from s to d.
 */
#include "fake-guest.h"
#include "port.h"

#define TICK_US     (LIMEVI_CONTROL_RETRY_MS * 1000)

/* The numbers docs/migration.md gives. */
G_STATIC_ASSERT(LIMEVI_CONTROL_RETRY_MS == 50);
G_STATIC_ASSERT(LIMEVI_CONTROL_ATTEMPTS == 200);
G_STATIC_ASSERT(LIMEVI_RESEQ_GRACE_MS == 2000);
G_STATIC_ASSERT(LIMEVI_GAP_TIMEOUT_MS == 500);

static const guint8 mac_p[6] = { 0x02, 0, 0, 0, 0, 0x0e };

typedef struct {
    GMainContext *context;
    FakeGuest *p, *s, *d;
    GSocket *mute;              /* a peer that reads but never answers */
    char *mute_endpoint;
} Move;

static void set_route(FakeGuest *g, const char *vm, const char *endpoint)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(limevi_port_route_set(g->port, vm, endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
}

static void mute_open(Move *m)
{
    m->mute = test_socket_new(&m->mute_endpoint);
}

/* The ROUTE_UPDATEs about r waiting at the mute peer; reads them all. */
static guint mute_updates(Move *m)
{
    guint8 buf[LIMEVI_WIRE_PACKET_MAX];
    LimeviWirePacket pkt;
    guint n = 0;
    gssize len;

    while ((len = g_socket_receive(m->mute, (gchar *)buf, sizeof(buf),
                                   NULL, NULL)) > 0) {
        if (limevi_wire_decode(buf, len, &pkt) == LIMEVI_WIRE_OK &&
            pkt.type == LIMEVI_WIRE_TYPE_CONTROL &&
            pkt.op == LIMEVI_CONTROL_UPDATE) {
            n++;
        }
    }
    return n;
}

/* p streams frames 0..2 to r at s; @mute_peer: r also has a peer q
 * that never answers. */
static void move_init(Move *m, gboolean mute_peer)
{
    g_autofree char *s_ep = NULL, *p_ep = NULL;

    m->context = g_main_context_new();
    m->p = fake_guest_new();
    m->s = fake_guest_new();
    m->d = fake_guest_new();
    fake_guest_start(m->p, m->context, "p", "vc1", "lan1", NULL);
    fake_guest_start(m->s, m->context, "r", "vc1", "lan1", NULL);
    fake_guest_start(m->d, m->context, "r", "vc1", "lan1", NULL);
    s_ep = fake_guest_listen(m->s);
    p_ep = fake_guest_listen(m->p);
    set_route(m->p, "r", s_ep);
    set_route(m->s, "p", p_ep);
    if (mute_peer) {
        mute_open(m);
        set_route(m->s, "q", m->mute_endpoint);
    }
    for (guint32 id = 0; id <= 2; id++) {
        guint8 frame[60];

        test_frame(frame, sizeof(frame), test_broadcast, mac_p, id);
        limevi_port_send(m->p->port, frame, sizeof(frame));
    }
}

static void move_clear(Move *m)
{
    fake_guest_free(m->p);
    fake_guest_free(m->s);
    fake_guest_free(m->d);
    g_clear_object(&m->mute);
    g_free(m->mute_endpoint);
    g_main_context_unref(m->context);
}

static gboolean s_has_three(gpointer data)
{
    Move *m = data;

    return m->s->frames->len >= 3;
}

/* r moves from s to d with nothing in flight; d announces itself. */
static void move_r(Move *m)
{
    g_autoptr(GBytes) state = NULL;
    g_autoptr(GError) error = NULL;
    const guint8 *data;
    gsize len;

    g_assert_true(test_wait(m->context, s_has_three, m));
    limevi_port_migration_start(m->s->port);
    limevi_port_freeze(m->s->port);
    state = limevi_port_save(m->s->port);
    data = g_bytes_get_data(state, &len);
    limevi_port_set_incoming(m->d->port);
    g_assert_true(limevi_port_load(m->d->port, data, len, &error));
    g_assert_no_error(error);
    limevi_port_activate(m->d->port);
}

static gboolean d_synced(gpointer data)
{
    Move *m = data;
    g_autoptr(LimeviPortInfo) i = limevi_port_get_info(m->d->port);

    return i->peers_synced;
}

/* The only UPDATE d still sends again is the one to @peer. */
static gboolean d_waits_only_for_mute(gpointer data)
{
    Move *m = data;
    g_autoptr(LimeviPortInfo) i = limevi_port_get_info(m->d->port);

    return i->peers_pending == 1 && !m->d->port->source_owes;
}

/* p's frame @seq, carrying @seq as its id, reaches d. */
static void p_frame_reaches_d(Move *m, guint64 seq)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA,
        .seq = seq,
        .vc = "vc1",
        .lan = "lan1",
        .src = "p",
        .dst = "r",
    };
    guint8 buf[LIMEVI_WIRE_HEADER_MAX + 60];
    gsize hlen = limevi_wire_encode(&hdr, buf, sizeof(buf));

    g_assert_cmpuint(hlen, >, 0);
    test_frame(buf + hlen, 60, test_broadcast, mac_p, seq);
    limevi_port_receive(m->d->port, buf, hlen + 60);
}

static void assert_d_got(Move *m, const guint32 *ids, guint n)
{
    g_assert_cmpuint(m->d->frames->len, ==, n);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpuint(test_frame_id(m->d->frames->pdata[i]), ==, ids[i]);
    }
}

static LimeviStats d_stats(Move *m)
{
    g_autoptr(LimeviPortInfo) i = limevi_port_get_info(m->d->port);

    return i->stats;
}

/*
 * A peer that never answers gets d's ROUTE_UPDATE once and then once per
 * 50 ms tick, 200 times in all (10 s), and nothing after: given up on,
 * with a warning, d never reports peers-synced.
 */
static void test_retry_cap(void)
{
    Move m = { 0 };
    guint sent, ticks = 0;
    g_autoptr(LimeviPortInfo) di = NULL;

    move_init(&m, TRUE);
    move_r(&m);
    /* s answered d's UPDATE: only q's is left to resend. */
    g_assert_true(test_wait(m.context, d_waits_only_for_mute, &m));
    sent = mute_updates(&m);
    g_assert_cmpuint(sent, >=, 1);
    g_test_expect_message("limevi", G_LOG_LEVEL_WARNING,
                          "*q never answered*");
    while (m.d->port->tick && ticks < 2 * LIMEVI_CONTROL_ATTEMPTS) {
        m.d->now += TICK_US;
        test_fire(m.context, m.d->port->tick);
        ticks++;
        sent += mute_updates(&m);
        if (m.d->port->tick) {
            /* Still trying: not yet past the cap. */
            g_assert_cmpuint(sent, <=, LIMEVI_CONTROL_ATTEMPTS);
        }
    }
    g_test_assert_expected_messages();
    g_assert_cmpuint(sent, ==, LIMEVI_CONTROL_ATTEMPTS);
    g_assert_null(m.d->port->tick);
    di = limevi_port_get_info(m.d->port);
    g_assert_false(di->peers_synced);
    g_assert_cmpuint(di->peers_pending, ==, 0);
    /* Nothing is sent once given up on. */
    test_spin(m.context, 2 * LIMEVI_CONTROL_RETRY_MS);
    g_assert_cmpuint(mute_updates(&m), ==, 0);
    move_clear(&m);
}

/*
 * Once every peer acknowledged, d keeps resequencing for 2 s on its
 * clock: a frame p sent before the move is a duplicate until then, and
 * taken as new after (a restarted peer counts from 0 again).
 */
static void test_resequencing_grace(void)
{
    static const guint32 ids[] = { 3, 1 };
    Move m = { 0 };

    move_init(&m, FALSE);
    move_r(&m);
    g_assert_true(test_wait(m.context, d_synced, &m));
    p_frame_reaches_d(&m, 3);
    m.d->now += (LIMEVI_RESEQ_GRACE_MS - 1) * 1000;
    test_fire(m.context, m.d->port->rx_tick);
    p_frame_reaches_d(&m, 1);
    g_assert_cmpuint(d_stats(&m).rx_duplicates, ==, 1);
    assert_d_got(&m, ids, 1);

    m.d->now += 2 * 1000;
    test_fire(m.context, m.d->port->rx_tick);
    g_assert_null(m.d->port->rx_tick);
    p_frame_reaches_d(&m, 1);
    assert_d_got(&m, ids, 2);
    g_assert_cmpuint(d_stats(&m).rx_duplicates, ==, 1);
    move_clear(&m);
}

/*
 * Frames ahead of a gap are released the moment it closes, with no time
 * passing, in order; a gap that stays open is given up on only once
 * 500 ms passed on d's clock, and the frames after it then follow.
 */
static void test_gap_early_release_and_timeout(void)
{
    static const guint32 ids[] = { 3, 4, 5, 6, 8 };
    Move m = { 0 };
    LimeviStats st;

    move_init(&m, FALSE);
    move_r(&m);
    g_assert_true(test_wait(m.context, d_synced, &m));
    p_frame_reaches_d(&m, 5);
    p_frame_reaches_d(&m, 6);
    p_frame_reaches_d(&m, 4);
    assert_d_got(&m, ids, 0);
    p_frame_reaches_d(&m, 3);
    assert_d_got(&m, ids, 4);

    p_frame_reaches_d(&m, 8);
    for (guint us = 0; us < LIMEVI_GAP_TIMEOUT_MS * 1000; us += TICK_US) {
        m.d->now += TICK_US;
        test_fire(m.context, m.d->port->rx_tick);
        assert_d_got(&m, ids, 4);
    }
    m.d->now += 1000;
    test_fire(m.context, m.d->port->rx_tick);
    assert_d_got(&m, ids, 5);
    st = d_stats(&m);
    g_assert_cmpuint(st.rx_gaps, ==, 1);
    g_assert_cmpuint(st.rx_duplicates, ==, 0);
    move_clear(&m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/timers/control/resent-200-times-then-given-up",
                    test_retry_cap);
    g_test_add_func("/timers/resequencing/ends-2-s-after-peers-synced",
                    test_resequencing_grace);
    g_test_add_func("/timers/gap/released-at-once-given-up-after-500-ms",
                    test_gap_early_release_and_timeout);
    return g_test_run();
}
