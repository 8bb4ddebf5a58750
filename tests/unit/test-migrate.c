/*
 * The migration protocol of liblimevi with real ports on 127.0.0.1:
 * peer p streams to VM r, which moves from port s (source) to port d
 * (destination).  No frame is lost or duplicated and the guest sees them
 * in order, whichever way each came: in the state, forwarded by the
 * source, or held and flushed by the peer.  Then what goes wrong on the
 * way: lost relays, stale epochs, full queues, failed sends, wildcard
 * listen addresses.
 */
#include <errno.h>
#include <string.h>

#include "fake-guest.h"
#include "port.h"
#include "state.h"
#include "udp.h"

static const guint8 mac_p[6] = { 0x02, 0, 0, 0, 0, 0x0e };

typedef struct {
    GMainContext *context;
    FakeGuest *p, *s, *d;
} Trio;

#define TEST_KEY "00112233445566778899aabbccddeeff" \
                 "00112233445566778899aabbccddeeff"


/* How the source and destination ports are started; zero: defaults. */
typedef struct {
    const char *listen;         /* of s and d; NULL: 127.0.0.1:0 */
    guint64 p_buffer_limit, s_buffer_limit, d_buffer_limit;
    guint64 s_flush_rate;       /* bytes/s; 0: the default */
    const char *key;            /* of all three, 64 hex digits; NULL: none */
} TrioOptions;

static void route_to(FakeGuest *from, const char *vm, const char *endpoint)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(limevi_port_route_set(from->port, vm, endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
}

static void route(FakeGuest *from, const char *vm, FakeGuest *to)
{
    g_autofree char *endpoint = fake_guest_listen(to);

    route_to(from, vm, endpoint);
}

static void trio_init_with(Trio *t, const TrioOptions *o)
{
    gsize key_len = o->key ? strlen(o->key) : 0;
    LimeviPortConfig p_config = {
        .buffer_limit = o->p_buffer_limit,
        .key = (const guint8 *)o->key, .key_len = key_len,
    };
    LimeviPortConfig s_config = {
        .listen = o->listen,
        .buffer_limit = o->s_buffer_limit,
        .flush_rate = o->s_flush_rate,
        .key = (const guint8 *)o->key, .key_len = key_len,
    };
    LimeviPortConfig d_config = {
        .listen = o->listen,
        .buffer_limit = o->d_buffer_limit,
        .key = (const guint8 *)o->key, .key_len = key_len,
    };

    t->context = g_main_context_new();
    t->p = fake_guest_new();
    t->s = fake_guest_new();
    t->d = fake_guest_new();
    fake_guest_start(t->p, t->context, "p", "vc1", "lan1", &p_config);
    fake_guest_start(t->s, t->context, "r", "vc1", "lan1", &s_config);
    fake_guest_start(t->d, t->context, "r", "vc1", "lan1", &d_config);
    route(t->p, "r", t->s);
    route(t->s, "p", t->p);
    route(t->d, "p", t->p);
}

static void trio_init(Trio *t)
{
    trio_init_with(t, &(TrioOptions){ 0 });
}

static void trio_clear(Trio *t)
{
    fake_guest_free(t->p);
    fake_guest_free(t->s);
    fake_guest_free(t->d);
    g_main_context_unref(t->context);
}

/* Broadcast frames @first..@last from p's guest. */
static void p_sends(Trio *t, guint32 first, guint32 last)
{
    for (guint32 id = first; id <= last; id++) {
        guint8 frame[60];

        test_frame(frame, sizeof(frame), test_broadcast, mac_p, id);
        limevi_port_send(t->p->port, frame, sizeof(frame));
    }
}

static LimeviPortInfo *info(FakeGuest *g)
{
    return limevi_port_get_info(g->port);
}

typedef struct {
    FakeGuest *guest;
    const char *peer;
    LimeviRouteStatus status;
    const char *endpoint;       /* of the route to peer; NULL: any */
    guint frames;
    guint64 held;
    LimeviPortState state;
} Want;

static gboolean route_is(gpointer data)
{
    Want *w = data;
    g_autoptr(LimeviPortInfo) i = info(w->guest);

    for (guint k = 0; k < i->routes->len; k++) {
        LimeviRouteInfo *r = i->routes->pdata[k];

        if (!strcmp(r->vm, w->peer)) {
            return r->status == w->status &&
                   (!w->endpoint || !strcmp(r->endpoint, w->endpoint));
        }
    }
    return FALSE;
}

static gboolean state_is(gpointer data)
{
    Want *w = data;

    return limevi_port_get_state(w->guest->port) == w->state;
}

static gboolean has_frames(gpointer data)
{
    Want *w = data;

    return w->guest->frames->len >= w->frames;
}

static gboolean buffer_has(gpointer data)
{
    Want *w = data;
    g_autoptr(LimeviPortInfo) i = info(w->guest);

    return i->buffer.frames >= w->held;
}

static gboolean is_synced(gpointer data)
{
    Want *w = data;
    g_autoptr(LimeviPortInfo) i = info(w->guest);

    return i->peers_synced;
}

static void assert_ids(FakeGuest *g, guint32 first, guint32 last)
{
    g_assert_cmpuint(g->frames->len, ==, last - first + 1);
    for (guint i = 0; i < g->frames->len; i++) {
        g_assert_cmpuint(test_frame_id(g->frames->pdata[i]), ==, first + i);
    }
}

/* Frames 0..@last from p reach r's guest at s before r moves. */
static void p_reaches_s(Trio *t, guint32 last)
{
    Want w = { .guest = t->s, .frames = last + 1 };

    p_sends(t, 0, last);
    g_assert_true(test_wait(t->context, has_frames, &w));
}

/* The destination's side of a switchover: the state in, the guest runs. */
static void arrive(FakeGuest *g, GBytes *state)
{
    g_autoptr(GError) error = NULL;
    gsize len;
    const guint8 *data = g_bytes_get_data(state, &len);

    limevi_port_set_incoming(g->port);
    g_assert_true(limevi_port_load(g->port, data, len, &error));
    g_assert_no_error(error);
    limevi_port_activate(g->port);
}

/* r moves from s to d at once: no frame is waiting anywhere. */
static void move_r(Trio *t)
{
    g_autoptr(GBytes) state = NULL;

    limevi_port_migration_start(t->s->port);
    limevi_port_freeze(t->s->port);
    state = limevi_port_save(t->s->port);
    arrive(t->d, state);
}

static LimeviState *state_decode(GBytes *bytes)
{
    g_autoptr(GError) error = NULL;
    gsize len;
    const guint8 *data = g_bytes_get_data(bytes, &len);
    LimeviState *state = limevi_state_decode(data, len, &error);

    g_assert_no_error(error);
    return state;
}

/* @state as the source saved it, but for where the destination reaches
 * the source: @endpoint. */
static GBytes *state_with_source(GBytes *bytes, const char *endpoint)
{
    g_autoptr(LimeviState) state = state_decode(bytes);

    g_free(state->source);
    state->source = g_strdup(endpoint);
    return limevi_state_encode(state);
}

/* A DATA datagram from VM @src to r: a @len-byte frame carrying @id. */
static gsize craft_data(guint8 *buf, gsize size, const char *src,
                        guint64 seq, guint32 id, gsize len)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA,
        .seq = seq,
        .vc = "vc1",
        .lan = "lan1",
        .src = src,
        .dst = "r",
    };
    gsize hlen = limevi_wire_encode(&hdr, buf, size);

    g_assert_cmpuint(hlen, >, 0);
    g_assert_cmpuint(hlen + len, <=, size);
    test_frame(buf + hlen, len, test_broadcast, mac_p, id);
    return hlen + len;
}

/* p's frame @seq (carrying @seq as its id) reaches @g. */
static void receive_from_p(FakeGuest *g, guint64 seq)
{
    guint8 buf[LIMEVI_WIRE_HEADER_MAX + 100];
    gsize len = craft_data(buf, sizeof(buf), "p", seq, seq, 100);

    limevi_port_receive(g->port, buf, len);
}

/*
 * A hop between a port and @to that loses the first @drop RELAYs on
 * their way to @to, as a lossy WAN would; what comes from @to goes on to
 * @back.
 */
typedef struct {
    GSocket *socket;
    GSource *source;
    GSocketAddress *to;
    GSocketAddress *back;
    char *endpoint;             /* where it listens, "127.0.0.1:PORT" */
    guint drop;
    guint dropped;
} LossyLink;

static guint16 port_of(GSocketAddress *addr)
{
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(addr));
}

static gboolean lossy_link_readable(GSocket *socket, GIOCondition cond,
                                    gpointer data)
{
    LossyLink *link = data;
    guint8 buf[LIMEVI_WIRE_PACKET_MAX];
    g_autoptr(GSocketAddress) from = NULL;
    gssize n = g_socket_receive_from(socket, &from, (gchar *)buf,
                                     sizeof(buf), NULL, NULL);
    LimeviWirePacket pkt;

    if (n < 0) {
        return G_SOURCE_CONTINUE;
    }
    if (port_of(from) == port_of(link->to)) {
        g_socket_send_to(socket, link->back, (gchar *)buf, n, NULL, NULL);
        return G_SOURCE_CONTINUE;
    }
    /* Sealed, the op is out of sight; toward d only a RELAY is sent by
     * r's old host about another VM. */
    if (link->drop && limevi_wire_decode(buf, n, &pkt) == LIMEVI_WIRE_OK &&
        pkt.type == LIMEVI_WIRE_TYPE_CONTROL &&
        (pkt.sealed ? (pkt.flags & LIMEVI_WIRE_FLAG_BY_DST) != 0
                    : pkt.op == LIMEVI_CONTROL_RELAY)) {
        link->drop--;
        link->dropped++;
        return G_SOURCE_CONTINUE;
    }
    g_socket_send_to(socket, link->to, (gchar *)buf, n, NULL, NULL);
    return G_SOURCE_CONTINUE;
}

static LossyLink *lossy_link_new(GMainContext *context, FakeGuest *to,
                                 FakeGuest *back, guint drop)
{
    LossyLink *link = g_new0(LossyLink, 1);
    g_autofree char *to_ep = fake_guest_listen(to);
    g_autofree char *back_ep = fake_guest_listen(back);
    g_autoptr(GError) error = NULL;

    link->socket = test_socket_new(&link->endpoint);
    link->to = limevi_udp_parse_endpoint(to_ep, "to", FALSE, &error);
    link->back = limevi_udp_parse_endpoint(back_ep, "back", FALSE, &error);
    g_assert_no_error(error);
    link->drop = drop;
    link->source = g_socket_create_source(link->socket, G_IO_IN, NULL);
    g_source_set_callback(link->source, G_SOURCE_FUNC(lossy_link_readable),
                          link, NULL);
    g_source_attach(link->source, context);
    return link;
}

static void lossy_link_free(LossyLink *link)
{
    g_source_destroy(link->source);
    g_source_unref(link->source);
    g_object_unref(link->socket);
    g_object_unref(link->to);
    g_object_unref(link->back);
    g_free(link->endpoint);
    g_free(link);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LossyLink, lossy_link_free)

/*
 * Frames 0-2 wait in s's buffer (its guest is stopped) and travel in the
 * state; 3-4 reach s after it saved and are forwarded; 5-7 wait at p
 * while r's route is invalid and are flushed to d.
 */
static void no_loss_no_duplicate_in_order(Trio *t, GBytes **saved)
{
    Want w = { 0 };
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviPortInfo) si = NULL;
    g_autoptr(LimeviPortInfo) di = NULL;
    g_autoptr(LimeviPortInfo) pi_held = NULL;
    g_autofree char *d_listen = NULL;

    t->s->can_receive = FALSE;
    t->d->can_receive = TRUE;
    p_sends(t, 0, 2);
    w = (Want){ .guest = t->s, .held = 3 };
    g_assert_true(test_wait(t->context, buffer_has, &w));

    limevi_port_migration_start(t->s->port);
    limevi_port_freeze(t->s->port);
    /* Before p hears of it: these two go to s, which has saved. */
    state = limevi_port_save(t->s->port);
    p_sends(t, 3, 4);
    w = (Want){ .guest = t->p, .peer = "r", .status = LIMEVI_ROUTE_INVALID };
    g_assert_true(test_wait(t->context, route_is, &w));
    p_sends(t, 5, 7);
    pi_held = info(t->p);
    g_assert_cmpuint(pi_held->stats.tx_held, ==, 3);

    arrive(t->d, state);
    w = (Want){ .guest = t->d, .frames = 8 };
    g_assert_true(test_wait(t->context, has_frames, &w));
    w = (Want){ .guest = t->d };
    g_assert_true(test_wait(t->context, is_synced, &w));
    test_spin(t->context, 50);

    assert_ids(t->d, 0, 7);
    g_assert_cmpuint(t->s->frames->len, ==, 0);
    si = info(t->s);
    g_assert_cmpint(si->state, ==, LIMEVI_PORT_FORWARDING);
    g_assert_cmpuint(si->stats.rx_forwarded, ==, 2);
    di = info(t->d);
    g_assert_cmpint(di->state, ==, LIMEVI_PORT_ACTIVE);
    g_assert_cmpuint(di->epoch, ==, 2);
    g_assert_cmpuint(di->stats.rx_duplicates, ==, 0);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 0);
    g_assert_cmpuint(di->peers_pending, ==, 0);
    /* p now sends to d: its route follows d's source address. */
    d_listen = fake_guest_listen(t->d);
    w = (Want){ .guest = t->p, .peer = "r", .status = LIMEVI_ROUTE_VALID };
    g_assert_true(route_is(&w));
    {
        g_autoptr(LimeviPortInfo) pi = info(t->p);
        LimeviRouteInfo *r = pi->routes->pdata[0];

        g_assert_cmpstr(r->endpoint, ==, d_listen);
        g_assert_cmpuint(r->epoch, ==, 2);
    }
    p_sends(t, 8, 8);
    w = (Want){ .guest = t->d, .frames = 9 };
    g_assert_true(test_wait(t->context, has_frames, &w));
    assert_ids(t->d, 0, 8);
    *saved = g_steal_pointer(&state);
}

static void test_no_loss_no_duplicate_in_order(void)
{
    Trio t;
    g_autoptr(GBytes) state = NULL;

    trio_init(&t);
    no_loss_no_duplicate_in_order(&t, &state);
    trio_clear(&t);
}

/*
 * Source and destination run the same command line, listen=0.0.0.0:PORT
 * (as libvirt starts them).  The state tells the destination where the
 * source is reached, not the wildcard it is bound to: on two hosts, that
 * would lead the destination to itself and nothing would be forwarded.
 */
static void test_wildcard_listen_carries_reachable_source(void)
{
    Trio t;
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviState) saved = NULL;
    g_autofree char *s_endpoint = NULL;
    g_autoptr(LimeviPortInfo) si = NULL;

    /* Beyond loopback a port needs a key. */
    trio_init_with(&t, &(TrioOptions){ .listen = "0.0.0.0:0",
                                       .key = TEST_KEY });
    si = info(t.s);
    g_assert_true(g_str_has_prefix(si->listen, "0.0.0.0:"));
    no_loss_no_duplicate_in_order(&t, &state);
    saved = state_decode(state);
    s_endpoint = fake_guest_listen(t.s);
    g_assert_cmpstr(saved->source, ==, s_endpoint);
    trio_clear(&t);
}

/* The migration fails after the freeze: r stays at s, which gets every
 * frame in order once p sends to it again. */
static void test_failure_keeps_everything_at_source(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviPortInfo) si = NULL;

    trio_init(&t);
    p_reaches_s(&t, 1);
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state = limevi_port_save(t.s->port);
    p_sends(&t, 2, 3);          /* reach s after its save */
    w = (Want){ .guest = t.p, .peer = "r", .status = LIMEVI_ROUTE_INVALID };
    g_assert_true(test_wait(t.context, route_is, &w));
    p_sends(&t, 4, 5);          /* held at p */

    limevi_port_migration_failed(t.s->port);
    w = (Want){ .guest = t.s, .frames = 6 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    test_spin(t.context, 50);
    assert_ids(t.s, 0, 5);
    si = info(t.s);
    g_assert_cmpint(si->state, ==, LIMEVI_PORT_ACTIVE);
    g_assert_cmpuint(si->epoch, ==, 3);
    w = (Want){ .guest = t.p, .peer = "r", .status = LIMEVI_ROUTE_VALID };
    g_assert_true(route_is(&w));
    trio_clear(&t);
}

static const guint8 mac_r[6] = { 0x02, 0, 0, 0, 0, 0x0f };

/* Broadcast frames @first..@last from r's guest at @g, which cannot send
 * them yet: its link is full. */
static void r_sends_on_a_full_link(FakeGuest *g, guint32 first, guint32 last)
{
    limevi_udp_test_refuse(g->port->udp, 1000, EAGAIN);
    for (guint32 id = first; id <= last; id++) {
        guint8 frame[60];

        test_frame(frame, sizeof(frame), test_broadcast, mac_r, id);
        limevi_port_send(g->port, frame, sizeof(frame));
    }
}

/*
 * The sender moves while its link is full: the frames it could not send
 * yet travel in the state, and leave from the destination once the VM
 * runs there.  Sent from the source after its save, they would reach p
 * after the destination's newer frames.
 */
static void test_sender_backlog_travels_with_state(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviPortInfo) si = NULL;
    g_autoptr(LimeviPortInfo) pi = NULL;

    trio_init(&t);
    r_sends_on_a_full_link(t.s, 0, 9);
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state = limevi_port_save(t.s->port);
    limevi_udp_test_refuse(t.s->port->udp, 0, 0);   /* room again */
    test_spin(t.context, 100);
    g_assert_cmpuint(t.p->frames->len, ==, 0);

    arrive(t.d, state);
    limevi_port_migration_done(t.s->port);
    w = (Want){ .guest = t.p, .frames = 10 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    test_spin(t.context, 50);
    assert_ids(t.p, 0, 9);
    si = info(t.s);
    g_assert_cmpuint(si->stats.tx_frames, ==, 0);
    pi = info(t.p);
    g_assert_cmpuint(pi->stats.rx_duplicates, ==, 0);
    trio_clear(&t);
}

/* The migration fails after the save: the source sends what waited, in
 * order, and the destination never does. */
static void test_sender_backlog_stays_on_failure(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(GBytes) state = NULL;

    trio_init(&t);
    r_sends_on_a_full_link(t.s, 0, 9);
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state = limevi_port_save(t.s->port);
    limevi_udp_test_refuse(t.s->port->udp, 0, 0);
    limevi_port_migration_failed(t.s->port);
    w = (Want){ .guest = t.p, .frames = 10 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    test_spin(t.context, 50);
    assert_ids(t.p, 0, 9);
    trio_clear(&t);
}

/* A stale or malformed state changes nothing at the destination. */
static void test_load_rejects_bad_state(void)
{
    Trio t;
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) before = NULL;
    g_autoptr(LimeviPortInfo) after = NULL;
    static const guint8 junk[] = { 1, 2, 3, 4, 5, 6, 7 };

    trio_init(&t);
    before = info(t.d);
    g_assert_false(limevi_port_load(t.d->port, junk, sizeof(junk), &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_true(g_str_has_prefix(error->message, "migration state"));
    after = info(t.d);
    g_assert_cmpuint(after->routes->len, ==, before->routes->len);
    g_assert_cmpuint(after->epoch, ==, before->epoch);
    trio_clear(&t);
}

/*
 * p and r move at once: p freezes first, its table (r at s) travels to
 * p2, and p2 announces itself to r at s, which r has left for d.  s
 * passes that on to d as a RELAY; the first two are lost on the way.  s
 * sends it again until d answers, and answers p2 only then, so p2 counts
 * r as synced only once r's new host follows it.
 */
static void test_relay_resent_until_new_host_answers(gconstpointer key)
{
    LimeviPortConfig p2_config = {
        .key = key, .key_len = key ? strlen(key) : 0,
    };
    Trio t;
    Want w = { 0 };
    g_autoptr(FakeGuest) p2 = fake_guest_new();
    g_autoptr(LossyLink) link = NULL;
    g_autoptr(GBytes) state_p = NULL;
    g_autoptr(GBytes) state_r = NULL;
    g_autoptr(GBytes) via_link = NULL;
    g_autofree char *p2_listen = NULL;
    g_autofree char *d_listen = NULL;
    guint8 frame[60];

    trio_init_with(&t, &(TrioOptions){ .key = key });
    fake_guest_start(p2, t.context, "p", "vc1", "lan1", &p2_config);
    limevi_port_migration_start(t.p->port);
    limevi_port_freeze(t.p->port);
    w = (Want){ .guest = t.s, .peer = "p", .status = LIMEVI_ROUTE_INVALID };
    g_assert_true(test_wait(t.context, route_is, &w));
    state_p = limevi_port_save(t.p->port);

    /* r moves; d reaches s only through the lossy link. */
    link = lossy_link_new(t.context, t.d, t.s, 2);
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state_r = limevi_port_save(t.s->port);
    via_link = state_with_source(state_r, link->endpoint);
    arrive(t.d, via_link);
    w = (Want){ .guest = t.s, .state = LIMEVI_PORT_FORWARDING };
    g_assert_true(test_wait(t.context, state_is, &w));

    arrive(p2, state_p);
    p2_listen = fake_guest_listen(p2);
    w = (Want){ .guest = t.d, .peer = "p", .status = LIMEVI_ROUTE_VALID,
                .endpoint = p2_listen };
    g_assert_true(test_wait(t.context, route_is, &w));
    g_assert_cmpuint(link->dropped, ==, 2);
    w = (Want){ .guest = p2 };
    g_assert_true(test_wait(t.context, is_synced, &w));
    w = (Want){ .guest = t.d };
    g_assert_true(test_wait(t.context, is_synced, &w));
    /* d's own move reached p2 the same way, through p. */
    d_listen = fake_guest_listen(t.d);
    w = (Want){ .guest = p2, .peer = "r", .status = LIMEVI_ROUTE_VALID,
                .endpoint = d_listen };
    g_assert_true(route_is(&w));

    /* The new hosts now talk straight to each other. */
    test_frame(frame, sizeof(frame), test_broadcast, mac_p, 42);
    limevi_port_send(t.d->port, frame, sizeof(frame));
    w = (Want){ .guest = p2, .frames = 1 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    assert_ids(p2, 42, 42);
    trio_clear(&t);
}

/*
 * p's route to r was re-pointed by hand three times, so p holds epoch 4
 * for r, and r's announcements at epochs 1 and 2 are stale there.  p
 * says so instead of acknowledging them: d, where r runs, announces again
 * above p's epoch, and is synced only once p follows it.
 */
static void test_stale_peer_not_synced_until_it_follows(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(LimeviPortInfo) di = NULL;
    g_autoptr(LimeviPortInfo) pi = NULL;
    g_autofree char *d_listen = NULL;
    LimeviRouteInfo *r;

    trio_init(&t);
    for (int i = 0; i < 3; i++) {
        route(t.p, "r", t.s);
    }
    move_r(&t);
    w = (Want){ .guest = t.d };
    g_assert_true(test_wait(t.context, is_synced, &w));

    d_listen = fake_guest_listen(t.d);
    pi = info(t.p);
    r = pi->routes->pdata[0];
    g_assert_cmpstr(r->endpoint, ==, d_listen);
    g_assert_cmpint(r->status, ==, LIMEVI_ROUTE_VALID);
    g_assert_cmpuint(r->epoch, ==, 5);
    di = info(t.d);
    g_assert_cmpuint(di->epoch, ==, 5);
    g_assert_cmpuint(di->peers_pending, ==, 0);

    p_sends(&t, 0, 0);
    w = (Want){ .guest = t.d, .frames = 1 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    g_assert_cmpuint(t.s->frames->len, ==, 0);
    trio_clear(&t);
}

/*
 * The destination holds p's frames that come ahead of a gap (3, on its
 * way through the source) within buffer-limit bytes: 20 of 100 bytes fit
 * in 2048.  The 20 frames latest in sequence are dropped and counted as
 * the guest buffer counts its own, the embedder hears of it, and once 3
 * arrives the guest waits for none of the dropped ones.
 */
static void test_resequencing_bounded_by_buffer_limit(void)
{
    Trio t;
    g_autoptr(LimeviPortInfo) di = NULL;

    trio_init_with(&t, &(TrioOptions){ .d_buffer_limit = 2048 });
    p_reaches_s(&t, 2);
    move_r(&t);

    for (guint64 seq = 4; seq <= 43; seq++) {
        receive_from_p(t.d, seq);
    }
    di = info(t.d);
    g_assert_cmpuint(di->buffer.dropped, ==, 20);
    g_assert_cmpuint(t.d->overflows, ==, 20);
    g_assert_cmpuint(t.d->overflow_dropped, ==, 20);
    g_assert_cmpuint(t.d->frames->len, ==, 0);

    receive_from_p(t.d, 3);
    /* Paced into the guest (guest.c): they come within some tens of ms. */
    g_assert_true(test_wait(t.context, has_frames,
                            &(Want){ .guest = t.d, .frames = 21 }));
    assert_ids(t.d, 3, 23);
    receive_from_p(t.d, 44);
    g_assert_true(test_wait(t.context, has_frames,
                            &(Want){ .guest = t.d, .frames = 22 }));
    g_assert_cmpuint(t.d->frames->len, ==, 22);
    g_assert_cmpuint(test_frame_id(t.d->frames->pdata[21]), ==, 44);
    /* A dropped frame that comes again is not delivered late. */
    receive_from_p(t.d, 30);
    g_assert_cmpuint(t.d->frames->len, ==, 22);
    g_clear_pointer(&di, limevi_port_info_free);
    di = info(t.d);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 0);
    g_assert_cmpuint(di->stats.rx_duplicates, ==, 1);
    g_assert_cmpuint(di->buffer.dropped, ==, 20);
    trio_clear(&t);
}

/* r's source has saved: p, told, holds what it sends for r. */
static void r_leaves_s(Trio *t, GBytes **state)
{
    Want w = { .guest = t->p, .peer = "r", .status = LIMEVI_ROUTE_INVALID };

    limevi_port_migration_start(t->s->port);
    limevi_port_freeze(t->s->port);
    *state = limevi_port_save(t->s->port);
    g_assert_true(test_wait(t->context, route_is, &w));
}

/*
 * What p holds for a moving r is bounded by p's buffer-limit: beyond it
 * the newest frames are dropped, counted in tx-held-dropped and reported
 * (LIMEVI_BUFFER_OVERFLOW for r).  What was kept reaches d in order;
 * the dropped frames used no sequence number, so d waits for none of
 * them and p's next frames come at once.
 */
static void test_held_for_a_moving_peer_bounded(void)
{
    Trio t;
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviPortInfo) pi = NULL;
    g_autoptr(LimeviPortInfo) di = NULL;
    guint64 held;

    trio_init_with(&t, &(TrioOptions){
        .p_buffer_limit = LIMEVI_BUFFER_LIMIT_MIN });
    p_reaches_s(&t, 1);
    r_leaves_s(&t, &state);
    p_sends(&t, 2, 61);
    pi = info(t.p);
    held = pi->stats.tx_held;
    g_assert_cmpuint(held, >, 0);
    g_assert_cmpuint(held * 60, <=, LIMEVI_BUFFER_LIMIT_MIN);
    g_assert_cmpuint(pi->stats.tx_held_dropped, ==, 60 - held);
    g_assert_cmpuint(t.p->peer_overflows, >, 0);
    g_assert_cmpuint(t.p->peer_overflow_dropped, ==, 60 - held);

    arrive(t.d, state);
    g_assert_true(test_wait(t.context, has_frames,
                            &(Want){ .guest = t.d, .frames = held }));
    assert_ids(t.d, 2, 2 + held - 1);
    g_assert_true(test_wait(t.context, is_synced, &(Want){ .guest = t.d }));
    route(t.p, "r", t.d);
    p_sends(&t, 62, 63);
    g_assert_true(test_wait(t.context, has_frames,
                            &(Want){ .guest = t.d, .frames = held + 2 }));
    g_assert_cmpuint(test_frame_id(t.d->frames->pdata[held]), ==, 62);
    g_assert_cmpuint(test_frame_id(t.d->frames->pdata[held + 1]), ==, 63);
    di = info(t.d);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 0);
    g_assert_cmpuint(di->stats.rx_duplicates, ==, 0);
    trio_clear(&t);
}

/*
 * What reaches s after its save waits there for d to announce itself,
 * bounded by s's buffer-limit: beyond it the newest are dropped and
 * counted (buffer.dropped, LIMEVI_BUFFER_OVERFLOW); the rest reach d in
 * order once it runs.
 */
static void test_forward_queue_bounded(void)
{
    Trio t;
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviPortInfo) si = NULL;
    guint64 kept;

    trio_init_with(&t, &(TrioOptions){
        .s_buffer_limit = LIMEVI_BUFFER_LIMIT_MIN });
    p_reaches_s(&t, 1);
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state = limevi_port_save(t.s->port);
    /* Before p hears of the save: all of them go to s. */
    p_sends(&t, 2, 61);
    g_assert_true(test_wait(t.context, route_is,
                            &(Want){ .guest = t.p, .peer = "r",
                                     .status = LIMEVI_ROUTE_INVALID }));
    test_spin(t.context, 50);
    si = info(t.s);
    g_assert_cmpuint(si->stats.rx_forwarded, ==, 60);
    g_assert_cmpuint(si->buffer.dropped, >, 0);
    kept = 60 - si->buffer.dropped;
    /* Each waits as its datagram, more than its 60-byte frame. */
    g_assert_cmpuint(kept * 60, <=, LIMEVI_BUFFER_LIMIT_MIN);
    g_assert_cmpuint(t.s->overflows, >, 0);
    g_assert_cmpuint(t.s->overflow_dropped, ==, si->buffer.dropped);

    arrive(t.d, state);
    g_assert_true(test_wait(t.context, has_frames,
                            &(Want){ .guest = t.d, .frames = kept }));
    test_spin(t.context, 50);
    assert_ids(t.d, 2, 2 + kept - 1);
    trio_clear(&t);
}

/*
 * A frame p cannot send (the socket refuses the broadcast address) uses
 * up no sequence number, so d, still resequencing after the switchover,
 * delivers p's next frame at once instead of waiting for the lost one.
 */
static void test_failed_send_uses_no_sequence_number(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(LimeviPortInfo) pi = NULL;
    g_autoptr(LimeviPortInfo) di = NULL;

    trio_init(&t);
    p_reaches_s(&t, 1);
    move_r(&t);
    w = (Want){ .guest = t.d };
    g_assert_true(test_wait(t.context, is_synced, &w));

    route_to(t.p, "r", "255.255.255.255:9");
    p_sends(&t, 2, 2);
    pi = info(t.p);
    g_assert_cmpuint(pi->stats.tx_errors, ==, 1);
    route(t.p, "r", t.d);
    p_sends(&t, 3, 3);
    w = (Want){ .guest = t.d, .frames = 1 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    assert_ids(t.d, 3, 3);
    /* Delivered in sequence: no gap was waited for and given up on. */
    di = info(t.d);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 0);
    trio_clear(&t);
}

/*
 * A loaded source (or a slow WAN) answers the destination's UPDATE, and
 * forwards what reached it after its save, later than the gap timeout.
 * d holds p's frames 4-5, which p flushed at once, for as long as the
 * source has not answered: 3 comes late and the guest gets 3, 4, 5 in
 * order; nothing is given up as a gap, nothing counted as a duplicate.
 * Once the source has answered, a gap is given up after the timeout.
 */
static void test_gap_waits_while_source_forwards(void)
{
    Trio t;
    g_autoptr(GBytes) state = NULL;
    g_autoptr(GBytes) slow = NULL;
    g_autoptr(GSocket) mute = NULL;
    g_autoptr(GSocketAddress) any = NULL;
    g_autoptr(GSocketAddress) local = NULL;
    g_autoptr(GInetAddress) lo = NULL;
    g_autoptr(LimeviPortInfo) di = NULL;
    g_autofree char *mute_ep = NULL;
    g_autoptr(GError) error = NULL;

    trio_init(&t);
    p_reaches_s(&t, 2);
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state = limevi_port_save(t.s->port);
    /* The source, as d reaches it: it reads nothing, answers nothing. */
    lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    any = g_inet_socket_address_new(lo, 0);
    mute = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                        G_SOCKET_PROTOCOL_UDP, &error);
    g_assert_no_error(error);
    g_assert_true(g_socket_bind(mute, any, FALSE, &error));
    local = g_socket_get_local_address(mute, &error);
    g_assert_no_error(error);
    mute_ep = g_strdup_printf("127.0.0.1:%u", port_of(local));
    slow = state_with_source(state, mute_ep);
    arrive(t.d, slow);

    receive_from_p(t.d, 4);     /* flushed by p */
    receive_from_p(t.d, 5);
    /* Four gap timeouts pass on d's clock, one timer tick at a time. */
    for (guint i = 0; i < 4 * LIMEVI_GAP_TIMEOUT_MS / LIMEVI_CONTROL_RETRY_MS;
         i++) {
        t.d->now += LIMEVI_CONTROL_RETRY_MS * 1000;
        test_fire(t.context, t.d->port->rx_tick);
    }
    g_assert_cmpuint(t.d->frames->len, ==, 0);
    receive_from_p(t.d, 3);     /* forwarded by the source, late */
    assert_ids(t.d, 3, 5);
    di = info(t.d);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 0);
    g_assert_cmpuint(di->stats.rx_duplicates, ==, 0);
    g_clear_pointer(&di, limevi_port_info_free);

    /* The source answers (it forwarded everything): 6 never comes. */
    {
        guint8 buf[LIMEVI_WIRE_HEADER_MAX + LIMEVI_WIRE_CONTROL_LEN];
        LimeviWireHeader hdr = {
            .type = LIMEVI_WIRE_TYPE_CONTROL,
            .epoch = 2,
            .vc = "vc1",
            .lan = "lan1",
            .src = "r",
            .dst = "r",
        };
        gsize hlen = limevi_wire_encode(&hdr, buf, sizeof(buf));

        g_assert_cmpuint(hlen, >, 0);
        limevi_wire_encode_control(LIMEVI_CONTROL_ACK,
                                   LIMEVI_CONTROL_UPDATE, buf + hlen);
        limevi_port_receive(t.d->port, buf, hlen + LIMEVI_WIRE_CONTROL_LEN);
    }
    receive_from_p(t.d, 7);
    /* Held for the whole timeout, given up on just past it. */
    t.d->now += LIMEVI_GAP_TIMEOUT_MS * 1000;
    test_fire(t.context, t.d->port->rx_tick);
    g_assert_cmpuint(t.d->frames->len, ==, 3);
    t.d->now += 1000;
    test_fire(t.context, t.d->port->rx_tick);
    g_assert_cmpuint(t.d->frames->len, ==, 4);
    g_assert_cmpuint(test_frame_id(t.d->frames->pdata[3]), ==, 7);
    di = info(t.d);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 1);
    trio_clear(&t);
}

static gboolean forwarded(gpointer data)
{
    Want *w = data;
    g_autoptr(LimeviPortInfo) i = info(w->guest);

    return i->stats.rx_forwarded >= w->frames;
}

/*
 * The source forwards what reached it after its save at the pace, so
 * slower than it can answer.  Its answer to the destination's UPDATE
 * says "nothing more comes through me": it goes once the queue is gone,
 * or the destination would give up on the frames still on their way
 * after one gap timeout (a slow link, a loaded source) and drop them as
 * duplicates when they come.
 */
static void test_source_answers_after_its_paced_queue(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviPortInfo) di = NULL;
    guint32 last = 40;

    /* 40 frames of 1400 bytes: past a 16 KiB burst at 1 Mbit/s. */
    trio_init_with(&t, &(TrioOptions){
        .s_flush_rate = LIMEVI_FLUSH_RATE_MIN });
    p_reaches_s(&t, 0);
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state = limevi_port_save(t.s->port);
    /* Before p hears of the move: these reach s, which queues them. */
    for (guint32 id = 1; id <= last; id++) {
        guint8 frame[1400];

        test_frame(frame, sizeof(frame), test_broadcast, mac_p, id);
        limevi_port_send(t.p->port, frame, sizeof(frame));
    }
    w = (Want){ .guest = t.s, .frames = last };
    g_assert_true(test_wait(t.context, forwarded, &w));
    w = (Want){ .guest = t.p, .peer = "r", .status = LIMEVI_ROUTE_INVALID };
    g_assert_true(test_wait(t.context, route_is, &w));
    p_sends(&t, last + 1, last + 2);      /* held at p, flushed to d */

    arrive(t.d, state);
    w = (Want){ .guest = t.d };
    g_assert_true(test_wait(t.context, is_synced, &w));
    /* From the answer on, a gap is given up on after the timeout. */
    t.d->now += (LIMEVI_GAP_TIMEOUT_MS + 1) * 1000;
    if (t.d->port->rx_tick) {
        test_fire(t.context, t.d->port->rx_tick);
    }
    w = (Want){ .guest = t.d, .frames = last + 2 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    test_spin(t.context, 300);
    assert_ids(t.d, 1, last + 2);
    di = info(t.d);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 0);
    g_assert_cmpuint(di->stats.rx_duplicates, ==, 0);
    trio_clear(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migrate/no-loss-no-duplicate-in-order",
                    test_no_loss_no_duplicate_in_order);
    g_test_add_func("/migrate/failure-keeps-everything-at-source",
                    test_failure_keeps_everything_at_source);
    g_test_add_func("/migrate/sender-backlog/travels-with-the-state",
                    test_sender_backlog_travels_with_state);
    g_test_add_func("/migrate/sender-backlog/stays-on-failure",
                    test_sender_backlog_stays_on_failure);
    g_test_add_func("/migrate/load-rejects-bad-state",
                    test_load_rejects_bad_state);
    g_test_add_data_func("/migrate/relay/resent-until-the-new-host-answers",
                         NULL, test_relay_resent_until_new_host_answers);
    /* The RELAY and its answer cross between the two hosts of one VM,
     * about another: sealed, they must open under that VM's key. */
    g_test_add_data_func("/migrate/relay/sealed-opens-at-the-new-host",
                         TEST_KEY, test_relay_resent_until_new_host_answers);
    g_test_add_func("/migrate/stale-peer/not-synced-until-it-follows",
                    test_stale_peer_not_synced_until_it_follows);
    g_test_add_func("/migrate/resequencing/bounded-by-buffer-limit",
                    test_resequencing_bounded_by_buffer_limit);
    g_test_add_func("/migrate/held-for-a-moving-peer/bounded-by-buffer-limit",
                    test_held_for_a_moving_peer_bounded);
    g_test_add_func("/migrate/forward-queue/bounded-by-buffer-limit",
                    test_forward_queue_bounded);
    g_test_add_func("/migrate/failed-send/uses-no-sequence-number",
                    test_failed_send_uses_no_sequence_number);
    g_test_add_func("/migrate/resequencing/gap-waits-while-source-forwards",
                    test_gap_waits_while_source_forwards);
    g_test_add_func("/migrate/forwarding/answered-after-the-paced-queue",
                    test_source_answers_after_its_paced_queue);
    g_test_add_func("/migrate/wildcard-listen/carries-reachable-source",
                    test_wildcard_listen_carries_reachable_source);
    return g_test_run();
}
