/*
 * UDP segmentation offloads (net-backend/udp-gso.c) between real ports
 * on 127.0.0.1: a batch of equal frames leaves as UDP_SEGMENT sends, the
 * loopback hands it to the peer coalesced (UDP_GRO), and the peer gets
 * every frame once, whole and in order; a peer without GRO sees the
 * datagrams it always did.
 */
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

#include "fake-guest.h"
#include "port.h"
#include "wire.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define FRAMES 32

static const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };

static LimeviStats stats(FakeGuest *g)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(g->port);

    return info->stats;
}

/* One batch of frames @len[i] bytes long, ids @first on. */
static void send_batch(FakeGuest *g, guint32 first, const gsize *len,
                       guint n)
{
    static guint8 frames[FRAMES][1514];

    g_assert_cmpuint(n, <=, FRAMES);
    limevi_port_send_batch_begin(g->port);
    for (guint i = 0; i < n; i++) {
        test_frame(frames[i], len[i], test_broadcast, mac_a, first + i);
        limevi_port_send(g->port, frames[i], len[i]);
    }
    limevi_port_send_batch_end(g->port);
}

static void start_pair(GMainContext *ctx, FakeGuest *a, FakeGuest *b,
                       const char *key)
{
    LimeviPortConfig ca = { 0 }, cb = { 0 };

    if (key) {
        ca.key = cb.key = (const guint8 *)key;
        ca.key_len = cb.key_len = strlen(key);
    }
    fake_guest_start(a, ctx, "a", "vc1", "lan1", &ca);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", &cb);
    fake_guest_route(a, "b", b);
    fake_guest_route(b, "a", a);
}

static void assert_frames(FakeGuest *b, const gsize *len, guint n)
{
    g_assert_cmpuint(b->frames->len, ==, n);
    for (guint i = 0; i < n; i++) {
        g_assert_cmpuint(test_frame_id(b->frames->pdata[i]), ==, i);
        g_assert_cmpuint(g_bytes_get_size(b->frames->pdata[i]), ==, len[i]);
    }
}

static void equal_frames_one_send(const char *key)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    gsize len[FRAMES];

    for (guint i = 0; i < FRAMES; i++) {
        len[i] = 1514;
    }
    start_pair(ctx, a, b, key);
    send_batch(a, 0, len, FRAMES);
    g_assert_true(fake_guest_wait_frames(ctx, b, FRAMES));
    test_spin(ctx, 20);
    assert_frames(b, len, FRAMES);
    g_assert_cmpuint(stats(a).tx_frames, ==, FRAMES);
    g_assert_cmpuint(stats(a).tx_gso_segments, ==, FRAMES);
    g_assert_cmpuint(stats(b).rx_gro_segments, ==, FRAMES);
    g_assert_cmpuint(stats(b).rx_auth_failed, ==, 0);
    g_assert_cmpuint(stats(b).rx_replayed, ==, 0);
    g_assert_cmpuint(stats(b).rx_malformed, ==, 0);
}

static void test_equal_frames_one_send(void)
{
    equal_frames_one_send(NULL);
}

static void test_equal_frames_one_send_sealed(void)
{
    equal_frames_one_send(KEY);
}

/* Runs of sizes, each ended by a shorter frame or a longer one: every
 * frame arrives whole, in order. */
static void test_mixed_sizes_keep_order(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    static const gsize len[] = {
        1514, 1514, 1514, 700, 1514, 1514, 60, 60, 60, 200, 1000, 1000,
        1000, 1000, 1514, 64, 64,
    };

    start_pair(ctx, a, b, KEY);
    send_batch(a, 0, len, G_N_ELEMENTS(len));
    g_assert_true(fake_guest_wait_frames(ctx, b, G_N_ELEMENTS(len)));
    test_spin(ctx, 20);
    assert_frames(b, len, G_N_ELEMENTS(len));
    /* 3 + 1 ending the first run, 2 + 1, 3, 4, 2. */
    g_assert_cmpuint(stats(a).tx_gso_segments, ==, 15);
    g_assert_cmpuint(stats(b).rx_malformed, ==, 0);
}

/* A peer that never asked for GRO reads one datagram per frame, each a
 * whole LimeVI packet: the offload changes nothing on the wire. */
static void test_peer_without_gro_sees_datagrams(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autofree char *endpoint = NULL;
    g_autoptr(GSocket) plain = test_socket_new(&endpoint);
    g_autoptr(GError) error = NULL;
    gsize len[FRAMES];
    guint got = 0;

    for (guint i = 0; i < FRAMES; i++) {
        len[i] = 1000;
    }
    fake_guest_start(a, ctx, "a", "vc1", "lan1", NULL);
    g_assert_true(limevi_port_route_set(a->port, "b", endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
    send_batch(a, 0, len, FRAMES);
    g_assert_cmpuint(stats(a).tx_gso_segments, ==, FRAMES);
    g_socket_set_blocking(plain, TRUE);
    g_socket_set_timeout(plain, 3);
    for (;;) {
        guint8 buf[65536];
        LimeviWirePacket pkt;
        gssize n = g_socket_receive(plain, (gchar *)buf, sizeof(buf), NULL,
                                    NULL);

        if (n <= 0) {
            break;
        }
        g_assert_cmpint(limevi_wire_decode(buf, n, &pkt), ==,
                        LIMEVI_WIRE_OK);
        g_assert_cmpuint(pkt.payload_len, ==, 1000);
        g_assert_cmpuint(pkt.seq, ==, got);
        if (++got == FRAMES) {
            break;
        }
    }
    g_assert_cmpuint(got, ==, FRAMES);
}

/* no_udp_gso (limevi-tap --no-udp-gso): the same frames, one by one. */
static void test_no_udp_gso_sends_one_by_one(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig ca = { .no_udp_gso = TRUE };
    gsize len[FRAMES];

    for (guint i = 0; i < FRAMES; i++) {
        len[i] = 1514;
    }
    fake_guest_start(a, ctx, "a", "vc1", "lan1", &ca);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", NULL);
    fake_guest_route(a, "b", b);
    send_batch(a, 0, len, FRAMES);
    g_assert_true(fake_guest_wait_frames(ctx, b, FRAMES));
    assert_frames(b, len, FRAMES);
    g_assert_cmpuint(stats(a).tx_gso_segments, ==, 0);
    g_assert_cmpuint(stats(b).rx_gro_segments, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/udp-gso/equal-frames-leave-as-one-send",
                    test_equal_frames_one_send);
    g_test_add_func("/udp-gso/equal-frames-leave-as-one-send-sealed",
                    test_equal_frames_one_send_sealed);
    g_test_add_func("/udp-gso/mixed-sizes-keep-order",
                    test_mixed_sizes_keep_order);
    g_test_add_func("/udp-gso/peer-without-gro-sees-datagrams",
                    test_peer_without_gro_sees_datagrams);
    g_test_add_func("/udp-gso/no-udp-gso-sends-one-by-one",
                    test_no_udp_gso_sends_one_by_one);
    return g_test_run();
}
