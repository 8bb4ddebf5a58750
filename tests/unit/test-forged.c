/*
 * Packets from strangers, over real UDP sockets: every kind of forged
 * packet a non-member can send (unsealed, or sealed with another key)
 * changes nothing at a port with a key and is counted; captured packets
 * replayed and a wrong key are refused; without a key, control messages
 * from non-members, exhausted epochs and relays from elsewhere are
 * refused; 100 000 forged sender names leave every table within bound.
 */
#include <string.h>

#include "fake-guest.h"
#include "mac.h"
#include "pending.h"
#include "port.h"
#include "rx.h"
#include "state.h"

#define KEY   "00112233445566778899aabbccddeeff00112233445566778899aabbccdd"\
              "eeff"
#define OTHER "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221"\
              "100"
#define FORGED_NAMES 100000

static const guint8 mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0x0b };

/* Ports a and b of vc1/lan1, routes both ways, and a stranger's two
 * sockets: one sending unsealed, one sealing with another key. */
typedef struct {
    GMainContext *ctx;
    FakeGuest *a, *b;
    GSocketAddress *a_addr;
    LimeviUdp *plain;
    LimeviUdp *sealed;
    LimeviCrypto *other;
    LimeviCryptoSender *other_b;
    GBytes *captured;           /* the last datagram a stranger received */
} Bed;

static void on_captured(gpointer opaque, const guint8 *data, gsize len,
                        gconstpointer from, gsize from_len)
{
    Bed *t = opaque;

    g_clear_pointer(&t->captured, g_bytes_unref);
    t->captured = g_bytes_new(data, len);
}

static LimeviUdp *stranger_socket(Bed *t)
{
    g_autoptr(GSocketAddress) any =
        limevi_udp_parse_endpoint("127.0.0.1:0", "listen", TRUE, NULL);
    LimeviUdp *udp = limevi_udp_new(any, "127.0.0.1:0", "listen", t->ctx,
                                    on_captured, t, NULL);

    g_assert_nonnull(udp);
    return udp;
}

static void bed_init(Bed *t, const char *key)
{
    LimeviPortConfig ca = { .key = (const guint8 *)key,
                            .key_len = key ? strlen(key) : 0 };
    LimeviPortConfig cb = ca;
    g_autofree char *a_ep = NULL;
    LimeviKey other;

    memset(t, 0, sizeof(*t));
    t->ctx = g_main_context_new();
    t->a = fake_guest_new();
    t->b = fake_guest_new();
    fake_guest_start(t->a, t->ctx, "a", "vc1", "lan1", &ca);
    fake_guest_start(t->b, t->ctx, "b", "vc1", "lan1", &cb);
    fake_guest_route(t->a, "b", t->b);
    fake_guest_route(t->b, "a", t->a);
    a_ep = fake_guest_listen(t->a);
    t->a_addr = limevi_udp_parse_endpoint(a_ep, "a", FALSE, NULL);
    t->plain = stranger_socket(t);
    t->sealed = stranger_socket(t);
    g_assert_true(limevi_key_parse((const guint8 *)OTHER, strlen(OTHER),
                                   &other, NULL));
    t->other = limevi_crypto_new(LIMEVI_CIPHER_DEFAULT, &other, NULL);
    t->other_b = limevi_crypto_sender_new(t->other, "b", NULL);
    limevi_udp_set_sealer(t->sealed, t->other, t->other_b, 1);
}

static void bed_clear(Bed *t)
{
    limevi_udp_free(t->plain);
    limevi_udp_free(t->sealed);
    limevi_crypto_sender_free(t->other_b);
    limevi_crypto_free(t->other);
    g_object_unref(t->a_addr);
    g_clear_pointer(&t->captured, g_bytes_unref);
    fake_guest_free(t->a);
    fake_guest_free(t->b);
    g_main_context_unref(t->ctx);
}

/* Every way a port may drop a packet. */
static guint64 dropped(FakeGuest *g)
{
    LimeviStats s = fake_guest_stats(g);

    return s.rx_auth_failed + s.rx_replayed + s.rx_not_member +
           s.rx_refused + s.rx_over_limit + s.rx_malformed;
}

/* What a user sees of port a: routes, state, epochs, sync, frames. */
static char *snapshot(Bed *t)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(t->a->port);
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "state %s epoch %u synced %d pending %u "
                           "frames %u macs %u held %" G_GUINT64_FORMAT
                           " changes %u forward %d\n",
                           limevi_port_state_name(info->state), info->epoch,
                           info->peers_synced, info->peers_pending,
                           t->a->frames->len, info->mac_entries,
                           info->buffer.frames, t->a->routes->len,
                           t->a->port->forward_to != NULL);
    for (guint i = 0; i < info->routes->len; i++) {
        LimeviRouteInfo *r = info->routes->pdata[i];

        g_string_append_printf(s, "%s %s %s %s/%s %u\n", r->vm, r->endpoint,
                               limevi_route_status_name(r->status), r->vc,
                               r->lan, r->epoch);
    }
    return g_string_free(s, FALSE);
}

typedef struct {
    const char *name;
    guint8 type;
    guint8 op;
    guint8 acked_op;
    guint32 epoch;
    const char *src;
    const char *dst;
} Forgery;

/* Every kind a non-member may send, as the issue saw them. */
static const Forgery forgeries[] = {
    { "update-at-epoch-max", LIMEVI_WIRE_TYPE_CONTROL,
      LIMEVI_CONTROL_UPDATE, 0, G_MAXUINT32, "b", NULL },
    { "invalidate", LIMEVI_WIRE_TYPE_CONTROL, LIMEVI_CONTROL_INVALIDATE, 0,
      5, "b", NULL },
    { "relay", LIMEVI_WIRE_TYPE_CONTROL, LIMEVI_CONTROL_RELAY,
      LIMEVI_CONTROL_UPDATE, 5, "b", "a" },
    { "ack", LIMEVI_WIRE_TYPE_CONTROL, LIMEVI_CONTROL_ACK,
      LIMEVI_CONTROL_UPDATE, 0, "b", "a" },
    { "stale-near-max", LIMEVI_WIRE_TYPE_CONTROL, LIMEVI_CONTROL_STALE,
      LIMEVI_CONTROL_UPDATE, G_MAXUINT32 - 1, "b", "a" },
    { "update-of-own-vm", LIMEVI_WIRE_TYPE_CONTROL, LIMEVI_CONTROL_UPDATE, 0,
      7, "a", NULL },
    { "data-from-unknown", LIMEVI_WIRE_TYPE_DATA, 0, 0, 0, "z", NULL },
    { "data-from-known", LIMEVI_WIRE_TYPE_DATA, 0, 0, 0, "b", NULL },
};

/* Sends @f to a from @udp, as the stranger's own endpoint says. */
static void forge_from(Bed *t, LimeviUdp *udp, const Forgery *f,
                       const char *src)
{
    LimeviWireHeader hdr = {
        .type = f->type, .epoch = f->epoch, .seq = 1, .vc = "vc1",
        .lan = "lan1", .src = src ? src : f->src, .dst = f->dst,
    };
    static const guint8 here[4] = { 127, 0, 0, 1 };
    guint8 header[LIMEVI_WIRE_HEADER_MAX];
    guint8 payload[64];
    gsize hlen = limevi_wire_encode(&hdr, header, sizeof(header));
    gsize plen = LIMEVI_WIRE_CONTROL_LEN;

    g_assert_cmpuint(hlen, >, 0);
    if (f->type == LIMEVI_WIRE_TYPE_DATA) {
        test_frame(payload, sizeof(payload), test_broadcast, mac_b, 666);
        plen = sizeof(payload);
    } else if (f->op == LIMEVI_CONTROL_RELAY) {
        limevi_wire_encode_relay(f->acked_op, 4, here, 9, payload);
        plen = LIMEVI_WIRE_RELAY_LEN;
    } else {
        limevi_wire_encode_control(f->op, f->acked_op, payload);
    }
    g_assert_cmpint(limevi_udp_send_to(udp, t->a_addr, header, hlen, payload,
                                       plen), ==, LIMEVI_UDP_SENT);
}

typedef struct {
    FakeGuest *guest;
    guint64 n;
} Want;

static gboolean has_dropped(gpointer data)
{
    Want *w = data;

    return dropped(w->guest) >= w->n;
}

static gboolean has_captured(gpointer data)
{
    return ((Bed *)data)->captured != NULL;
}

static void wait_dropped(Bed *t, guint64 n)
{
    Want w = { t->a, n };

    g_assert_true(test_wait(t->ctx, has_dropped, &w));
}

/* Port a in the middle of a migration: pre-copy ran and its state
 * left, so an UPDATE of its own VM is one it would follow if genuine. */
static void a_state_left(Bed *t)
{
    g_autoptr(GBytes) state = NULL;

    limevi_port_event(t->a->port, LIMEVI_EVENT_MIGRATION_SETUP);
    limevi_port_event(t->a->port, LIMEVI_EVENT_SWITCHOVER);
    state = limevi_port_save(t->a->port);
    g_assert_nonnull(state);
}

/* Each forgery, unsealed and sealed with another key, changes nothing
 * that a user of port a sees, and is counted as not authentic. */
static void test_keyed_forgery(gconstpointer data)
{
    const Forgery *f = data;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    Bed t;

    bed_init(&t, KEY);
    if (f->src && !strcmp(f->src, "a")) {
        a_state_left(&t);
    }
    before = snapshot(&t);
    forge_from(&t, t.plain, f, NULL);
    forge_from(&t, t.sealed, f, NULL);
    wait_dropped(&t, 2);
    test_spin(t.ctx, 30);
    after = snapshot(&t);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpuint(fake_guest_stats(t.a).rx_auth_failed, ==, 2);
    g_assert_cmpuint(dropped(t.a), ==, 2);
    g_assert_cmpuint(fake_guest_stats(t.a).rx_frames, ==, 0);
    /* Nothing a stranger sent was answered. */
    g_assert_null(t.captured);
    bed_clear(&t);
}

/* A frame b really sent, captured on the way and sent again. */
static void test_keyed_replay_refused(void)
{
    g_autofree char *stranger = NULL;
    guint8 frame[60];
    gsize len;
    const guint8 *data;
    Bed t;

    bed_init(&t, KEY);
    /* b's route to a leads through the stranger, who keeps a copy. */
    stranger = limevi_udp_endpoint_toward(t.plain, NULL);
    g_assert_true(limevi_port_route_set(t.b->port, "a", stranger, NULL,
                                        LIMEVI_ROUTE_VALID, NULL));
    test_frame(frame, sizeof(frame), test_broadcast, mac_b, 1);
    limevi_port_send(t.b->port, frame, sizeof(frame));
    g_assert_true(test_wait(t.ctx, has_captured, &t));
    data = g_bytes_get_data(t.captured, &len);
    /* Once: delivered, it is genuine. */
    g_assert_cmpint(limevi_udp_forward_to(t.plain, t.a_addr, data, len), ==,
                    LIMEVI_UDP_SENT);
    g_assert_true(fake_guest_wait_frames(t.ctx, t.a, 1));
    /* Twice and thrice: replays. */
    limevi_udp_forward_to(t.plain, t.a_addr, data, len);
    limevi_udp_forward_to(t.plain, t.a_addr, data, len);
    wait_dropped(&t, 2);
    test_spin(t.ctx, 30);
    g_assert_cmpuint(t.a->frames->len, ==, 1);
    g_assert_cmpuint(fake_guest_stats(t.a).rx_replayed, ==, 2);
    g_assert_cmpuint(fake_guest_stats(t.a).rx_frames, ==, 1);
    bed_clear(&t);
}

/* A member of the VC with another key: its frames never arrive. */
static void test_keyed_wrong_key_refused(void)
{
    g_autoptr(FakeGuest) c = fake_guest_new();
    LimeviPortConfig cc = { .key = (const guint8 *)OTHER,
                            .key_len = strlen(OTHER) };
    guint8 frame[60];
    Bed t;

    bed_init(&t, KEY);
    fake_guest_start(c, t.ctx, "c", "vc1", "lan1", &cc);
    fake_guest_route(c, "a", t.a);
    fake_guest_route(t.a, "c", c);
    test_frame(frame, sizeof(frame), test_broadcast, mac_b, 3);
    limevi_port_send(c->port, frame, sizeof(frame));
    limevi_port_send(c->port, frame, sizeof(frame));
    wait_dropped(&t, 2);
    test_spin(t.ctx, 30);
    g_assert_cmpuint(t.a->frames->len, ==, 0);
    g_assert_cmpuint(fake_guest_stats(t.a).rx_auth_failed, ==, 2);
    /* The same frame with the right key goes through. */
    limevi_port_send(t.b->port, frame, sizeof(frame));
    g_assert_true(fake_guest_wait_frames(t.ctx, t.a, 1));
    bed_clear(&t);
}

/* Without a key the control plane still takes no orders from outside. */
static void test_insecure_control_refused(void)
{
    static const Forgery refused[] = {
        /* A member's name, but what no member may announce. */
        { "update-at-epoch-max", LIMEVI_WIRE_TYPE_CONTROL,
          LIMEVI_CONTROL_UPDATE, 0, G_MAXUINT32, "b", NULL },
        { "update-far-ahead", LIMEVI_WIRE_TYPE_CONTROL,
          LIMEVI_CONTROL_UPDATE, 0, 5000, "b", NULL },
        { "relay-not-from-old-host", LIMEVI_WIRE_TYPE_CONTROL,
          LIMEVI_CONTROL_RELAY, LIMEVI_CONTROL_UPDATE, 1, "b", "a" },
        { "update-of-own-vm-while-active", LIMEVI_WIRE_TYPE_CONTROL,
          LIMEVI_CONTROL_UPDATE, 0, 7, "a", NULL },
        /* No member at all. */
        { "update-from-stranger", LIMEVI_WIRE_TYPE_CONTROL,
          LIMEVI_CONTROL_UPDATE, 0, 1, "z", NULL },
        { "invalidate-from-stranger", LIMEVI_WIRE_TYPE_CONTROL,
          LIMEVI_CONTROL_INVALIDATE, 0, 1, "z", NULL },
        { "ack-from-stranger", LIMEVI_WIRE_TYPE_CONTROL, LIMEVI_CONTROL_ACK,
          LIMEVI_CONTROL_UPDATE, 0, "z", "a" },
        { "stale-from-stranger", LIMEVI_WIRE_TYPE_CONTROL,
          LIMEVI_CONTROL_STALE, LIMEVI_CONTROL_UPDATE, G_MAXUINT32 - 1, "z",
          "a" },
    };
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    Bed t;

    bed_init(&t, NULL);
    before = snapshot(&t);
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_test_message("%s", refused[i].name);
        forge_from(&t, t.plain, &refused[i], NULL);
        wait_dropped(&t, i + 1);
    }
    test_spin(t.ctx, 30);
    after = snapshot(&t);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpuint(fake_guest_stats(t.a).rx_refused, ==, 4);
    g_assert_cmpuint(fake_guest_stats(t.a).rx_not_member, ==, 4);
    g_assert_null(t.captured);
    bed_clear(&t);
}

static gboolean port_settled(gpointer data)
{
    Want *w = data;

    return dropped(w->guest) + fake_guest_stats(w->guest).rx_frames >= w->n;
}

/* Sends @n forgeries, a name each, in bursts a's socket holds. */
static void forge_names(Bed *t, LimeviUdp *udp, guint n)
{
    for (guint i = 0; i < n; i++) {
        const Forgery *f = &forgeries[i % G_N_ELEMENTS(forgeries)];
        g_autofree char *name = g_strdup_printf("forged-%u", i);

        forge_from(t, udp, f, name);
        if (i % 500 == 499 || i == n - 1) {
            Want w = { t->a, i + 1 };

            g_assert_true(test_wait(t->ctx, port_settled, &w));
        }
    }
}

/* 100 000 names no port knows: every table stays within its bound,
 * with or without a key. */
static void test_many_names_bounded(gconstpointer data)
{
    const char *key = data;
    guint routes_before;
    guint pending_before;
    guint changes_before;
    g_autoptr(LimeviPortInfo) info = NULL;
    Bed t;

    bed_init(&t, key);
    routes_before = limevi_route_table_size(t.a->port->routes);
    pending_before = t.a->port->pending->len;
    changes_before = t.a->routes->len;
    forge_names(&t, key ? t.sealed : t.plain, FORGED_NAMES);
    info = limevi_port_get_info(t.a->port);
    g_test_message("dropped %" G_GUINT64_FORMAT ", delivered %"
                   G_GUINT64_FORMAT ", over a limit %" G_GUINT64_FORMAT,
                   dropped(t.a), info->stats.rx_frames,
                   info->stats.rx_over_limit);
    g_assert_cmpuint(limevi_route_table_size(t.a->port->routes), ==,
                     routes_before);
    g_assert_cmpuint(t.a->port->pending->len, ==, pending_before);
    g_assert_cmpuint(g_hash_table_size(t.a->port->rx), <=,
                     LIMEVI_RX_SENDERS_MAX);
    g_assert_cmpuint(info->mac_entries, <=, LIMEVI_MAC_TABLE_MAX);
    g_assert_cmpuint(t.a->routes->len, ==, changes_before);
    if (key) {
        /* Nobody authenticated: nobody was kept. */
        g_assert_cmpuint(limevi_auth_count(t.a->port->auth), ==, 0);
        g_assert_cmpuint(info->stats.rx_frames, ==, 0);
    } else {
        g_assert_cmpuint(info->stats.rx_over_limit, >, 0);
    }
    bed_clear(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(forgeries); i++) {
        g_autofree char *path = g_strdup_printf(
            "/forged/keyed/%s/changes-nothing", forgeries[i].name);

        g_test_add_data_func(path, &forgeries[i], test_keyed_forgery);
    }
    g_test_add_func("/forged/keyed/replay/refused",
                    test_keyed_replay_refused);
    g_test_add_func("/forged/keyed/wrong-key/refused",
                    test_keyed_wrong_key_refused);
    g_test_add_func("/forged/insecure/control/refused",
                    test_insecure_control_refused);
    g_test_add_data_func("/forged/keyed/many-names/tables-bounded", KEY,
                         test_many_names_bounded);
    g_test_add_data_func("/forged/insecure/many-names/tables-bounded", NULL,
                         test_many_names_bounded);
    return g_test_run();
}
