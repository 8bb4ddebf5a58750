/*
 * The port between real UDP sockets on 127.0.0.1: flooding, learning,
 * isolation, malformed packets, guest back-pressure and the counters.
 * Every port of a test runs on one GMainContext the test iterates.
 */
#include <string.h>

#include "fake-guest.h"
#include "udp.h"
#include "wire.h"

#define FRAME_LEN 100

static const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const guint8 mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const guint8 mac_c[6] = { 0x02, 0, 0, 0, 0, 0x0c };
static const guint8 mac_multicast[6] = { 0x01, 0x00, 0x5e, 0, 0, 0x01 };

/* Points @from's route for @vm at @to's socket. */
static void route(FakeGuest *from, const char *vm, FakeGuest *to,
                  const char *lan, LimeviRouteStatus status)
{
    g_autofree char *endpoint = fake_guest_listen(to);
    g_autoptr(GError) error = NULL;

    g_assert_true(limevi_port_route_set(from->port, vm, endpoint, lan,
                                        status, &error));
    g_assert_no_error(error);
}

static void send_frame(FakeGuest *guest, const guint8 *dst,
                       const guint8 *src, guint32 id, gsize len)
{
    guint8 frame[2048];

    g_assert_cmpuint(len, <=, sizeof(frame));
    test_frame(frame, len, dst, src, id);
    limevi_port_send(guest->port, frame, len);
}

static LimeviStats stats(FakeGuest *guest)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(guest->port);

    return info->stats;
}

static LimeviBufferInfo buffer(FakeGuest *guest)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(guest->port);

    return info->buffer;
}

static guint mac_entries(FakeGuest *guest)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(guest->port);

    return info->mac_entries;
}

/* Everything a port did with the packets that reached it. */
static guint64 rx_handled(FakeGuest *guest)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(guest->port);
    const LimeviStats *s = &info->stats;

    return s->rx_frames + info->buffer.frames + info->buffer.dropped +
           s->rx_malformed + s->rx_bad_version + s->rx_wrong_vc +
           s->rx_wrong_lan + s->rx_not_for_us;
}

typedef struct {
    FakeGuest *guest;
    guint64 n;
} Want;

static gboolean has_frames(gpointer data)
{
    Want *want = data;

    return want->guest->frames->len >= want->n;
}

static gboolean has_handled(gpointer data)
{
    Want *want = data;

    return rx_handled(want->guest) >= want->n;
}

static void wait_frames(GMainContext *context, FakeGuest *guest, guint n)
{
    Want want = { guest, n };

    g_assert_true(test_wait(context, has_frames, &want));
}

/* Waits until @guest's port has dealt with @n packets in some way. */
static void wait_handled(GMainContext *context, FakeGuest *guest, guint64 n)
{
    Want want = { guest, n };

    g_assert_true(test_wait(context, has_handled, &want));
}

static guint32 frame_id(FakeGuest *guest, guint i)
{
    g_assert_cmpuint(i, <, guest->frames->len);
    return test_frame_id(guest->frames->pdata[i]);
}

static void assert_no_rx(FakeGuest *guest)
{
    g_assert_cmpuint(guest->frames->len, ==, 0);
    g_assert_cmpuint(rx_handled(guest), ==, 0);
}

/* ---- Flooding ---- */

static void test_flood_broadcast(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(FakeGuest) c = fake_guest_new();
    g_autoptr(FakeGuest) d = fake_guest_new();
    g_autoptr(FakeGuest) e = fake_guest_new();
    LimeviStats s;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    fake_guest_start(c, context, "c", "vc1", "lan1", NULL);
    fake_guest_start(d, context, "d", "vc1", "lan2", NULL);
    fake_guest_start(e, context, "e", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    route(a, "c", c, NULL, LIMEVI_ROUTE_VALID);
    /* A peer of another LAN, and one whose route is marked invalid. */
    route(a, "d", d, "lan2", LIMEVI_ROUTE_VALID);
    route(a, "e", e, NULL, LIMEVI_ROUTE_INVALID);

    send_frame(a, test_broadcast, mac_a, 1, FRAME_LEN);
    wait_frames(context, b, 1);
    wait_frames(context, c, 1);
    test_spin(context, 50);     /* time for strays to d or e */

    g_assert_cmpuint(b->frames->len, ==, 1);
    g_assert_cmpuint(frame_id(b, 0), ==, 1);
    g_assert_cmpuint(g_bytes_get_size(b->frames->pdata[0]), ==, FRAME_LEN);
    g_assert_cmpuint(c->frames->len, ==, 1);
    g_assert_cmpuint(frame_id(c, 0), ==, 1);
    /* Not sent at all, so not even counted as an isolation drop. */
    assert_no_rx(d);
    assert_no_rx(e);

    s = stats(a);
    g_assert_cmpuint(s.tx_flooded, ==, 1);
    g_assert_cmpuint(s.tx_frames, ==, 2);
    g_assert_cmpuint(s.tx_bytes, ==, 2 * FRAME_LEN);
    g_assert_cmpuint(s.tx_no_route, ==, 0);
    g_assert_cmpuint(s.tx_errors, ==, 0);
    s = stats(b);
    g_assert_cmpuint(s.rx_frames, ==, 1);
    g_assert_cmpuint(s.rx_bytes, ==, FRAME_LEN);
}

static void test_flood_multicast(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(FakeGuest) c = fake_guest_new();

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    fake_guest_start(c, context, "c", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    route(a, "c", c, NULL, LIMEVI_ROUTE_VALID);

    send_frame(a, mac_multicast, mac_a, 7, FRAME_LEN);
    wait_frames(context, b, 1);
    wait_frames(context, c, 1);
    g_assert_cmpuint(frame_id(b, 0), ==, 7);
    g_assert_cmpuint(frame_id(c, 0), ==, 7);
    g_assert_cmpuint(stats(a).tx_flooded, ==, 1);
    g_assert_cmpuint(stats(a).tx_frames, ==, 2);
}

static void test_unknown_unicast_floods_then_learns(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(FakeGuest) c = fake_guest_new();
    g_autoptr(LimeviPortInfo) info = NULL;
    LimeviStats s;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    fake_guest_start(c, context, "c", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    route(a, "c", c, NULL, LIMEVI_ROUTE_VALID);
    route(b, "a", a, NULL, LIMEVI_ROUTE_VALID);
    route(b, "c", c, NULL, LIMEVI_ROUTE_VALID);

    /* a does not know mac_b yet: everyone gets it. */
    send_frame(a, mac_b, mac_a, 1, FRAME_LEN);
    wait_frames(context, b, 1);
    wait_frames(context, c, 1);
    g_assert_cmpuint(stats(a).tx_flooded, ==, 1);
    g_assert_cmpuint(stats(a).tx_frames, ==, 2);

    /* b learnt mac_a from the flood: its reply goes to a alone. */
    send_frame(b, mac_a, mac_b, 2, FRAME_LEN);
    wait_frames(context, a, 1);
    g_assert_cmpuint(frame_id(a, 0), ==, 2);
    s = stats(b);
    g_assert_cmpuint(s.tx_flooded, ==, 0);
    g_assert_cmpuint(s.tx_frames, ==, 1);

    /* Now a knows mac_b: the next unicast goes only to b. */
    send_frame(a, mac_b, mac_a, 3, FRAME_LEN);
    wait_frames(context, b, 2);
    test_spin(context, 50);
    g_assert_cmpuint(frame_id(b, 1), ==, 3);
    g_assert_cmpuint(c->frames->len, ==, 1);
    s = stats(c);
    g_assert_cmpuint(s.rx_frames, ==, 1);
    g_assert_cmpuint(s.rx_not_for_us, ==, 0);

    s = stats(a);
    g_assert_cmpuint(s.tx_flooded, ==, 1);
    g_assert_cmpuint(s.tx_frames, ==, 3);
    g_assert_cmpuint(s.tx_bytes, ==, 3 * FRAME_LEN);
    info = limevi_port_get_info(a->port);
    g_assert_cmpuint(info->mac_entries, ==, 1);
}

static void test_route_del_floods_again(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(FakeGuest) c = fake_guest_new();

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    fake_guest_start(c, context, "c", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    route(a, "c", c, NULL, LIMEVI_ROUTE_VALID);
    route(b, "a", a, NULL, LIMEVI_ROUTE_VALID);

    send_frame(b, mac_a, mac_b, 1, FRAME_LEN);
    wait_frames(context, a, 1);
    /* The MAC goes with its VM's route: the frame floods to c. */
    g_assert_true(limevi_port_route_del(a->port, "b", NULL));
    send_frame(a, mac_b, mac_a, 2, FRAME_LEN);
    wait_frames(context, c, 1);
    g_assert_cmpuint(frame_id(c, 0), ==, 2);
    g_assert_cmpuint(stats(a).tx_flooded, ==, 1);
    g_assert_cmpuint(stats(a).tx_no_route, ==, 0);
}

/* ---- Isolation ---- */

static void test_isolation_wrong_vc(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) x = fake_guest_new();
    g_autoptr(FakeGuest) y = fake_guest_new();
    LimeviStats s;

    /* x's configuration lies: y is not in x's VC. */
    fake_guest_start(x, context, "x", "vc2", "lan1", NULL);
    fake_guest_start(y, context, "y", "vc1", "lan1", NULL);
    route(x, "y", y, NULL, LIMEVI_ROUTE_VALID);

    send_frame(x, test_broadcast, mac_a, 1, FRAME_LEN);
    wait_handled(context, y, 1);
    test_spin(context, 20);
    s = stats(y);
    g_assert_cmpuint(s.rx_wrong_vc, ==, 1);
    g_assert_cmpuint(s.rx_wrong_lan, ==, 0);
    g_assert_cmpuint(s.rx_frames, ==, 0);
    g_assert_cmpuint(y->frames->len, ==, 0);
    g_assert_cmpuint(rx_handled(y), ==, 1);
    /* Nothing is learnt from a dropped packet. */
    g_assert_cmpuint(mac_entries(y), ==, 0);
}

static void test_isolation_wrong_lan(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) x = fake_guest_new();
    g_autoptr(FakeGuest) y = fake_guest_new();
    LimeviStats s;

    fake_guest_start(x, context, "x", "vc1", "lan2", NULL);
    fake_guest_start(y, context, "y", "vc1", "lan1", NULL);
    route(x, "y", y, NULL, LIMEVI_ROUTE_VALID);

    send_frame(x, test_broadcast, mac_a, 1, FRAME_LEN);
    wait_handled(context, y, 1);
    test_spin(context, 20);
    s = stats(y);
    g_assert_cmpuint(s.rx_wrong_lan, ==, 1);
    g_assert_cmpuint(s.rx_wrong_vc, ==, 0);
    g_assert_cmpuint(s.rx_frames, ==, 0);
    g_assert_cmpuint(y->frames->len, ==, 0);
    g_assert_cmpuint(rx_handled(y), ==, 1);
}

static void test_isolation_not_for_us(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(FakeGuest) c = fake_guest_new();

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    fake_guest_start(c, context, "c", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    route(b, "a", a, NULL, LIMEVI_ROUTE_VALID);

    send_frame(b, test_broadcast, mac_b, 1, FRAME_LEN);
    wait_frames(context, a, 1);
    /* a's route for b now lies: it points at c, who must not take it. */
    route(a, "b", c, NULL, LIMEVI_ROUTE_VALID);
    send_frame(a, mac_b, mac_a, 2, FRAME_LEN);
    wait_handled(context, c, 1);
    test_spin(context, 20);
    g_assert_cmpuint(stats(c).rx_not_for_us, ==, 1);
    g_assert_cmpuint(c->frames->len, ==, 0);
    g_assert_cmpuint(b->frames->len, ==, 0);
}

/* ---- Malformed packets ---- */

/* A valid packet from "s" in vc1/lan1 to everyone, carrying frame @id. */
static gsize good_packet(guint8 *buf, gsize size, const char *dst,
                         guint32 id)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA,
        .seq = id,
        .vc = "vc1",
        .lan = "lan1",
        .src = "s",
        .dst = dst,
    };
    gsize hlen = limevi_wire_encode(&hdr, buf, size);

    g_assert_cmpuint(hlen, >, 0);
    g_assert_cmpuint(hlen + FRAME_LEN, <=, size);
    test_frame(buf + hlen, FRAME_LEN, test_broadcast, mac_c, id);
    return hlen + FRAME_LEN;
}

static void send_raw(GSocket *socket, GSocketAddress *to, const guint8 *buf,
                     gsize len)
{
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(g_socket_send_to(socket, to, (const char *)buf, len,
                                     NULL, &error), ==, len);
    g_assert_no_error(error);
}

/* Sends a datagram the decoder rejects with @status; returns 1 to count. */
static guint send_bad(GSocket *socket, GSocketAddress *to, const guint8 *buf,
                      gsize len, LimeviWireStatus status)
{
    LimeviWirePacket pkt;

    g_assert_cmpstr(limevi_wire_status_name(limevi_wire_decode(buf, len,
                                                               &pkt)),
                    ==, limevi_wire_status_name(status));
    send_raw(socket, to, buf, len);
    return 1;
}

static void test_malformed_dropped(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GSocketAddress) from = NULL;
    g_autoptr(GSocketAddress) to = NULL;
    g_autoptr(GInetAddress) loopback = NULL;
    g_autofree char *listen = NULL;
    g_autoptr(GError) error = NULL;
    guint8 pkt[LIMEVI_WIRE_HEADER_MAX + FRAME_LEN];
    guint8 bad[sizeof(pkt)];
    gsize len, hlen;
    guint malformed = 0, bad_version = 0;
    LimeviStats s;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    listen = fake_guest_listen(a);
    to = limevi_udp_parse_endpoint(listen, "test", FALSE, &error);
    g_assert_no_error(error);
    socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                          G_SOCKET_PROTOCOL_UDP, &error);
    g_assert_no_error(error);
    loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    from = g_inet_socket_address_new(loopback, 0);
    g_assert_true(g_socket_bind(socket, from, FALSE, &error));
    g_assert_no_error(error);

    len = good_packet(pkt, sizeof(pkt), NULL, 1);
    hlen = len - FRAME_LEN;

    /* Empty, and truncated inside the fixed header. */
    malformed += send_bad(socket, to, pkt, 0, LIMEVI_WIRE_TOO_SHORT);
    malformed += send_bad(socket, to, pkt, 2, LIMEVI_WIRE_TOO_SHORT);
    malformed += send_bad(socket, to, pkt, 10, LIMEVI_WIRE_TOO_SHORT);
    /* Truncated inside the names and inside the frame. */
    malformed += send_bad(socket, to, pkt, hlen - 2,
                          LIMEVI_WIRE_BAD_HEADER_LEN);
    malformed += send_bad(socket, to, pkt, hlen + 5,
                          LIMEVI_WIRE_PAYLOAD_SHORT);

    memcpy(bad, pkt, len);
    bad[0] = 'X';
    malformed += send_bad(socket, to, bad, len, LIMEVI_WIRE_BAD_MAGIC);

    memcpy(bad, pkt, len);
    bad[LIMEVI_WIRE_OFF_VERSION] = 2;
    bad_version += send_bad(socket, to, bad, len, LIMEVI_WIRE_BAD_VERSION);

    memcpy(bad, pkt, len);
    bad[LIMEVI_WIRE_OFF_TYPE] = LIMEVI_WIRE_TYPE_CONTROL;
    malformed += send_bad(socket, to, bad, len, LIMEVI_WIRE_BAD_CONTROL);

    /* The vc name claims to run past header_len. */
    memcpy(bad, pkt, len);
    bad[LIMEVI_WIRE_OFF_NAMES] = 60;
    malformed += send_bad(socket, to, bad, len, LIMEVI_WIRE_NAME_OVERRUN);

    /* header_len past the end of the datagram. */
    memcpy(bad, pkt, len);
    bad[LIMEVI_WIRE_OFF_HEADER_LEN] = 0xff;
    bad[LIMEVI_WIRE_OFF_HEADER_LEN + 1] = 0xff;
    malformed += send_bad(socket, to, bad, len, LIMEVI_WIRE_BAD_HEADER_LEN);

    /* header_len short of where the names end. */
    memcpy(bad, pkt, len);
    bad[LIMEVI_WIRE_OFF_HEADER_LEN + 1] -= 1;
    malformed += send_bad(socket, to, bad, len, LIMEVI_WIRE_NAME_OVERRUN);

    /* A name byte outside [A-Za-z0-9_.-]. */
    memcpy(bad, pkt, len);
    bad[LIMEVI_WIRE_OFF_NAMES + 1] = '/';
    malformed += send_bad(socket, to, bad, len, LIMEVI_WIRE_BAD_NAME_CHAR);

    /* An empty src name. */
    {
        LimeviWireHeader hdr = {
            .type = LIMEVI_WIRE_TYPE_DATA, .vc = "vc1", .lan = "lan1",
            .src = "s",
        };
        gsize n = limevi_wire_encode(&hdr, bad, sizeof(bad));

        g_assert_cmpuint(n, >, 0);
        /* src is "\x01s" right before the empty dst: make its length 0. */
        bad[n - 3] = 0;
        test_frame(bad + n, FRAME_LEN, test_broadcast, mac_c, 9);
        malformed += send_bad(socket, to, bad, n + FRAME_LEN,
                              LIMEVI_WIRE_BAD_NAME_LEN);
    }

    wait_handled(context, a, malformed + bad_version);
    test_spin(context, 20);
    s = stats(a);
    g_assert_cmpuint(s.rx_malformed, ==, malformed);
    g_assert_cmpuint(s.rx_bad_version, ==, bad_version);
    g_assert_cmpuint(s.rx_frames, ==, 0);
    g_assert_cmpuint(a->frames->len, ==, 0);
    g_assert_cmpuint(mac_entries(a), ==, 0);

    /* The port still works. */
    send_raw(socket, to, pkt, len);
    wait_frames(context, a, 1);
    g_assert_cmpuint(frame_id(a, 0), ==, 1);
    g_assert_cmpuint(stats(a).rx_frames, ==, 1);
    g_assert_cmpuint(stats(a).rx_malformed, ==, malformed);
}

/* ---- Guest back-pressure ---- */

static void send_ids(FakeGuest *from, guint32 first, guint32 last, gsize len)
{
    for (guint32 id = first; id <= last; id++) {
        send_frame(from, test_broadcast, mac_a, id, len);
    }
}

static void assert_ids(FakeGuest *guest, guint32 first, guint32 last)
{
    g_assert_cmpuint(guest->frames->len, ==, last - first + 1);
    for (guint32 id = first; id <= last; id++) {
        g_assert_cmpuint(frame_id(guest, id - first), ==, id);
    }
}

static void test_refused_frames_held_in_order(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviBufferInfo held;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    b->refuse_from = 2;

    send_ids(a, 1, 5, FRAME_LEN);
    wait_handled(context, b, 5);
    assert_ids(b, 1, 2);
    held = buffer(b);
    g_assert_cmpuint(held.frames, ==, 3);
    g_assert_cmpuint(held.bytes, ==, 3 * FRAME_LEN);
    g_assert_cmpuint(held.dropped, ==, 0);
    g_assert_cmpuint(stats(b).rx_frames, ==, 2);

    /* The guest would take frames again, but has not said so yet. */
    b->refuse_from = 0;
    send_ids(a, 6, 6, FRAME_LEN);
    wait_handled(context, b, 6);
    assert_ids(b, 1, 2);
    g_assert_cmpuint(buffer(b).frames, ==, 4);

    limevi_port_guest_ready(b->port);
    assert_ids(b, 1, 6);
    held = buffer(b);
    g_assert_cmpuint(held.frames, ==, 0);
    g_assert_cmpuint(held.bytes, ==, 0);
    g_assert_cmpuint(stats(b).rx_frames, ==, 6);
    g_assert_cmpuint(stats(b).rx_bytes, ==, 6 * FRAME_LEN);

    /* And later frames go straight through. */
    send_ids(a, 7, 7, FRAME_LEN);
    wait_frames(context, b, 7);
    assert_ids(b, 1, 7);
    g_assert_cmpuint(buffer(b).frames, ==, 0);
}

static void test_cannot_receive_holds_in_order(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    b->can_receive = FALSE;

    send_ids(a, 1, 4, FRAME_LEN);
    wait_handled(context, b, 4);
    g_assert_cmpuint(b->frames->len, ==, 0);
    g_assert_cmpuint(buffer(b).frames, ==, 4);

    /* Still unable: guest_ready delivers nothing and loses nothing. */
    limevi_port_guest_ready(b->port);
    g_assert_cmpuint(b->frames->len, ==, 0);
    g_assert_cmpuint(buffer(b).frames, ==, 4);

    b->can_receive = TRUE;
    limevi_port_guest_ready(b->port);
    assert_ids(b, 1, 4);
    g_assert_cmpuint(buffer(b).frames, ==, 0);
}

static void test_overflow_drops_newest(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig config = { .buffer_limit = LIMEVI_BUFFER_LIMIT_MIN };
    LimeviBufferInfo held;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", &config);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    b->can_receive = FALSE;

    /* Three 600-byte frames fit in 2048 bytes, a fourth does not. */
    send_ids(a, 1, 5, 600);
    wait_handled(context, b, 5);
    held = buffer(b);
    g_assert_cmpuint(held.frames, ==, 3);
    g_assert_cmpuint(held.bytes, ==, 1800);
    g_assert_cmpuint(held.limit, ==, LIMEVI_BUFFER_LIMIT_MIN);
    g_assert_cmpuint(held.dropped, ==, 2);

    b->can_receive = TRUE;
    limevi_port_guest_ready(b->port);
    assert_ids(b, 1, 3);
    held = buffer(b);
    g_assert_cmpuint(held.frames, ==, 0);
    g_assert_cmpuint(held.dropped, ==, 2);
}

/* ---- Transmit counters ---- */

/*
 * A peer whose port is closed (its QEMU gone, a route left behind)
 * answers each datagram with an ICMP error.  A send to a live peer right
 * after takes the error's errno; the error itself stays queued and the
 * socket polls ready until it is read.  Seen as a QEMU main loop that
 * never slept and starved its guest: the port's context must go idle.
 */
static void test_tx_dead_peer_leaves_the_context_idle(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) c = fake_guest_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *dead = NULL;
    GSocket *closed = test_socket_new(&dead);
    guint busy = 0;

    g_object_unref(closed);
    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(c, context, "c", "vc1", "lan1", NULL);
    g_assert_true(limevi_port_route_set(a->port, "b", dead, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
    fake_guest_route(a, "c", c);
    for (guint i = 0; i < 5; i++) {
        send_frame(a, test_broadcast, mac_a, i, FRAME_LEN);
        test_spin(context, 20);
    }
    g_assert_true(fake_guest_wait_frames(context, c, 5));
    g_assert_cmpuint(stats(a).tx_errors, ==, 0);
    /* Once what arrived is dealt with, nothing is left to dispatch. */
    test_spin(context, 50);
    while (busy < 1000 && g_main_context_iteration(context, FALSE)) {
        busy++;
    }
    g_assert_cmpuint(busy, <, 1000);
}

static void test_tx_no_route(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviStats s;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);

    /* No peer at all. */
    send_frame(a, test_broadcast, mac_a, 1, FRAME_LEN);
    send_frame(a, mac_b, mac_a, 2, FRAME_LEN);
    s = stats(a);
    g_assert_cmpuint(s.tx_no_route, ==, 2);
    g_assert_cmpuint(s.tx_frames, ==, 0);
    g_assert_cmpuint(s.tx_flooded, ==, 0);

    /* An invalid peer is moving: its frames wait for it. */
    route(a, "b", b, NULL, LIMEVI_ROUTE_INVALID);
    send_frame(a, test_broadcast, mac_a, 3, FRAME_LEN);
    s = stats(a);
    g_assert_cmpuint(s.tx_no_route, ==, 2);
    g_assert_cmpuint(s.tx_held, ==, 1);
    g_assert_cmpuint(s.tx_frames, ==, 0);

    /* Valid again: the held frame first, then the new one. */
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    send_frame(a, mac_b, mac_a, 4, 60);
    wait_frames(context, b, 2);
    g_assert_cmpuint(frame_id(b, 0), ==, 3);
    g_assert_cmpuint(frame_id(b, 1), ==, 4);
    s = stats(a);
    g_assert_cmpuint(s.tx_no_route, ==, 2);
    g_assert_cmpuint(s.tx_frames, ==, 2);
    g_assert_cmpuint(s.tx_bytes, ==, FRAME_LEN + 60);
    g_assert_cmpuint(s.tx_flooded, ==, 2);
    g_assert_cmpuint(s.tx_errors, ==, 0);
    test_spin(context, 20);
    assert_ids(b, 3, 4);
}

static void test_tx_learnt_peer_invalid(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(FakeGuest) c = fake_guest_new();
    LimeviStats s;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    fake_guest_start(c, context, "c", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);
    route(a, "c", c, NULL, LIMEVI_ROUTE_VALID);
    route(b, "a", a, NULL, LIMEVI_ROUTE_VALID);

    send_frame(b, test_broadcast, mac_b, 1, FRAME_LEN);
    wait_frames(context, a, 1);
    /* b's MAC is known but b is moving: held for it, not flooded. */
    route(a, "b", b, NULL, LIMEVI_ROUTE_INVALID);
    send_frame(a, mac_b, mac_a, 2, FRAME_LEN);
    test_spin(context, 30);
    s = stats(a);
    g_assert_cmpuint(s.tx_held, ==, 1);
    g_assert_cmpuint(s.tx_no_route, ==, 0);
    g_assert_cmpuint(s.tx_frames, ==, 0);
    assert_no_rx(b);
    assert_no_rx(c);
}

static void test_tx_bad_frame_length(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    guint8 frame[LIMEVI_WIRE_FRAME_MIN] = { 0 };
    LimeviStats s;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", NULL);
    route(a, "b", b, NULL, LIMEVI_ROUTE_VALID);

    memset(frame, 0xff, 6);
    limevi_port_send(a->port, frame, LIMEVI_WIRE_FRAME_MIN - 1);
    limevi_port_send(a->port, frame, 0);
    s = stats(a);
    g_assert_cmpuint(s.tx_errors, ==, 2);
    g_assert_cmpuint(s.tx_frames, ==, 0);

    /* A bare Ethernet header is the shortest frame that travels. */
    limevi_port_send(a->port, frame, LIMEVI_WIRE_FRAME_MIN);
    wait_handled(context, b, 1);
    g_assert_cmpuint(stats(b).rx_frames, ==, 1);
    g_assert_cmpuint(g_bytes_get_size(b->frames->pdata[0]), ==,
                     LIMEVI_WIRE_FRAME_MIN);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/port/flood/broadcast", test_flood_broadcast);
    g_test_add_func("/port/flood/multicast", test_flood_multicast);
    g_test_add_func("/port/flood/unknown-unicast-then-learnt",
                    test_unknown_unicast_floods_then_learns);
    g_test_add_func("/port/flood/after-route-del",
                    test_route_del_floods_again);
    g_test_add_func("/port/isolation/wrong-vc", test_isolation_wrong_vc);
    g_test_add_func("/port/isolation/wrong-lan", test_isolation_wrong_lan);
    g_test_add_func("/port/isolation/not-for-us", test_isolation_not_for_us);
    g_test_add_func("/port/rx/malformed-dropped", test_malformed_dropped);
    g_test_add_func("/port/back-pressure/refused-held-in-order",
                    test_refused_frames_held_in_order);
    g_test_add_func("/port/back-pressure/cannot-receive-held-in-order",
                    test_cannot_receive_holds_in_order);
    g_test_add_func("/port/back-pressure/overflow-drops-newest",
                    test_overflow_drops_newest);
    g_test_add_func("/port/tx/no-route", test_tx_no_route);
    g_test_add_func("/port/tx/learnt-peer-invalid",
                    test_tx_learnt_peer_invalid);
    g_test_add_func("/port/tx/bad-frame-length", test_tx_bad_frame_length);
    g_test_add_func("/port/tx/dead-peer-leaves-the-context-idle",
                    test_tx_dead_peer_leaves_the_context_idle);
    return g_test_run();
}
