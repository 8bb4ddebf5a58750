/*
 * The wire codec: round trips, the exact byte layout, and every class of
 * malformed packet, both at the decoder and as counted by a port.
 */
#include <string.h>

#include "fake-guest.h"
#include "port.h"
#include "wire.h"

typedef struct {
    guint8 data[LIMEVI_WIRE_PACKET_MAX + 1];
    gsize len;
    gsize hlen;
} Packet;

static const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };

/* vc1/lan1, vm2 -> @dst, seq 7, epoch 3, with a @frame_len byte frame. */
static Packet *packet_new(const char *dst, gsize frame_len)
{
    Packet *p = g_new0(Packet, 1);
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA, .epoch = 3, .seq = 7,
        .vc = "vc1", .lan = "lan1", .src = "vm2", .dst = dst,
    };

    p->hlen = limevi_wire_encode(&hdr, p->data, sizeof(p->data));
    g_assert_cmpuint(p->hlen, >, 0);
    test_frame(p->data + p->hlen, frame_len, test_broadcast, mac_a, 42);
    p->len = p->hlen + frame_len;
    return p;
}

static void set_be16(guint8 *p, guint16 v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void test_round_trip_keeps_every_field(void)
{
    g_autofree Packet *p = packet_new("vm1", 60);
    LimeviWirePacket pkt;

    g_assert_cmpint(limevi_wire_decode(p->data, p->len, &pkt), ==,
                    LIMEVI_WIRE_OK);
    g_assert_cmpuint(pkt.type, ==, LIMEVI_WIRE_TYPE_DATA);
    g_assert_cmpuint(pkt.epoch, ==, 3);
    g_assert_cmpuint(pkt.seq, ==, 7);
    g_assert_true(limevi_wire_name_equal(&pkt.vc, "vc1", 3));
    g_assert_true(limevi_wire_name_equal(&pkt.lan, "lan1", 4));
    g_assert_true(limevi_wire_name_equal(&pkt.src, "vm2", 3));
    g_assert_true(limevi_wire_name_equal(&pkt.dst, "vm1", 3));
    g_assert_cmpuint(pkt.payload_len, ==, 60);
    g_assert_true(pkt.payload == p->data + p->hlen);
}

static void test_round_trip_flooded_has_empty_destination(void)
{
    g_autofree Packet *p = packet_new(NULL, 14);
    LimeviWirePacket pkt;

    g_assert_cmpint(limevi_wire_decode(p->data, p->len, &pkt), ==,
                    LIMEVI_WIRE_OK);
    g_assert_cmpuint(pkt.dst.len, ==, 0);
    g_assert_cmpuint(pkt.payload_len, ==, 14);
}

static void test_round_trip_largest_names_and_frame(void)
{
    g_autofree char *name = g_strnfill(LIMEVI_WIRE_NAME_MAX, 'n');
    g_autofree Packet *p = g_new0(Packet, 1);
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA, .epoch = G_MAXUINT32,
        .seq = G_MAXUINT64, .vc = name, .lan = name, .src = name,
        .dst = name,
    };
    LimeviWirePacket pkt;

    p->hlen = limevi_wire_encode(&hdr, p->data, sizeof(p->data));
    g_assert_cmpuint(p->hlen, ==, LIMEVI_WIRE_HEADER_MAX);
    p->len = p->hlen + LIMEVI_WIRE_FRAME_MAX;
    g_assert_cmpint(limevi_wire_decode(p->data, p->len, &pkt), ==,
                    LIMEVI_WIRE_OK);
    g_assert_cmpuint(pkt.epoch, ==, G_MAXUINT32);
    g_assert_cmpuint(pkt.seq, ==, G_MAXUINT64);
    g_assert_true(limevi_wire_name_equal(&pkt.dst, name, strlen(name)));
    g_assert_cmpuint(pkt.payload_len, ==, LIMEVI_WIRE_FRAME_MAX);
}

/* Pins the layout docs/wire.md gives to other implementations. */
static void test_layout_is_big_endian_as_documented(void)
{
    guint8 buf[LIMEVI_WIRE_HEADER_MAX];
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA, .epoch = 0x01020304,
        .seq = 0x0102030405060708, .vc = "v", .lan = "l", .src = "s",
        .dst = "",
    };
    static const guint8 expected[] = {
        0x4c, 0x56, 1, 1, 0, 27, 0, 0,
        1, 2, 3, 4,
        1, 2, 3, 4, 5, 6, 7, 8,
        1, 'v', 1, 'l', 1, 's', 0,
    };
    gsize hlen = limevi_wire_encode(&hdr, buf, sizeof(buf));

    g_assert_cmpmem(buf, hlen, expected, sizeof(expected));
}

static void test_encode_refuses_bad_names_and_small_buffers(void)
{
    guint8 buf[LIMEVI_WIRE_HEADER_MAX];
    g_autofree char *long_name = g_strnfill(LIMEVI_WIRE_NAME_MAX + 1, 'n');
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA, .vc = "vc1", .lan = "lan1",
        .src = "vm1",
    };

    g_assert_cmpuint(limevi_wire_encode(&hdr, buf, sizeof(buf) - 1), ==, 0);
    hdr.vc = "";
    g_assert_cmpuint(limevi_wire_encode(&hdr, buf, sizeof(buf)), ==, 0);
    hdr.vc = "vc1";
    hdr.src = NULL;
    g_assert_cmpuint(limevi_wire_encode(&hdr, buf, sizeof(buf)), ==, 0);
    hdr.src = "vm1";
    hdr.dst = long_name;
    g_assert_cmpuint(limevi_wire_encode(&hdr, buf, sizeof(buf)), ==, 0);
    hdr.dst = NULL;
    g_assert_cmpuint(limevi_wire_encode(&hdr, buf, sizeof(buf)), >, 0);
}

static void test_decode_ignores_flags(void)
{
    g_autofree Packet *p = packet_new("vm1", 60);
    LimeviWirePacket pkt;

    set_be16(p->data + LIMEVI_WIRE_OFF_FLAGS, 0x8001);
    g_assert_cmpint(limevi_wire_decode(p->data, p->len, &pkt), ==,
                    LIMEVI_WIRE_OK);
    g_assert_cmpuint(pkt.flags, ==, 0x8001);
}

static void test_control_round_trip(void)
{
    static const guint8 ops[][2] = {
        { LIMEVI_CONTROL_INVALIDATE, 0 },
        { LIMEVI_CONTROL_UPDATE, 0 },
        { LIMEVI_CONTROL_ACK, LIMEVI_CONTROL_INVALIDATE },
        { LIMEVI_CONTROL_ACK, LIMEVI_CONTROL_UPDATE },
        { LIMEVI_CONTROL_ACK, LIMEVI_CONTROL_RELAY },
        { LIMEVI_CONTROL_STALE, LIMEVI_CONTROL_INVALIDATE },
        { LIMEVI_CONTROL_STALE, LIMEVI_CONTROL_UPDATE },
        { LIMEVI_CONTROL_STALE, LIMEVI_CONTROL_RELAY },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(ops); i++) {
        LimeviWireHeader hdr = {
            .type = LIMEVI_WIRE_TYPE_CONTROL, .epoch = 7, .seq = 0,
            .vc = "vc1", .lan = "lan1", .src = "vm1", .dst = "vm2",
        };
        guint8 buf[LIMEVI_WIRE_HEADER_MAX + LIMEVI_WIRE_CONTROL_LEN];
        gsize hlen = limevi_wire_encode(&hdr, buf, sizeof(buf));
        LimeviWirePacket pkt;

        g_assert_cmpuint(hlen, >, 0);
        limevi_wire_encode_control(ops[i][0], ops[i][1], buf + hlen);
        g_assert_cmpint(limevi_wire_decode(buf, hlen + 4, &pkt), ==,
                        LIMEVI_WIRE_OK);
        g_assert_cmpuint(pkt.type, ==, LIMEVI_WIRE_TYPE_CONTROL);
        g_assert_cmpuint(pkt.op, ==, ops[i][0]);
        g_assert_cmpuint(pkt.acked_op, ==, ops[i][1]);
        g_assert_cmpuint(pkt.epoch, ==, 7);
        g_assert_true(limevi_wire_name_equal(&pkt.dst, "vm2", 3));
    }
}

static void test_relay_round_trip_and_rejects(void)
{
    static const guint8 v4[4] = { 198, 18, 0, 2 };
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_CONTROL, .epoch = 9,
        .vc = "vc1", .lan = "lan1", .src = "app", .dst = "web",
    };
    guint8 buf[LIMEVI_WIRE_HEADER_MAX + LIMEVI_WIRE_RELAY_LEN];
    gsize hlen = limevi_wire_encode(&hdr, buf, sizeof(buf));
    LimeviWirePacket pkt;

    limevi_wire_encode_relay(LIMEVI_CONTROL_UPDATE, 4, v4, 7002, buf + hlen);
    g_assert_cmpint(limevi_wire_decode(buf, hlen + LIMEVI_WIRE_RELAY_LEN,
                                       &pkt), ==, LIMEVI_WIRE_OK);
    g_assert_cmpuint(pkt.op, ==, LIMEVI_CONTROL_RELAY);
    g_assert_cmpuint(pkt.acked_op, ==, LIMEVI_CONTROL_UPDATE);
    g_assert_cmpuint(pkt.relay_family, ==, 4);
    g_assert_cmpuint(pkt.relay_port, ==, 7002);
    g_assert_cmpmem(pkt.relay_addr, 4, v4, 4);
    /* Cut short, of an ACK, or of an unknown family: rejected. */
    g_assert_cmpint(limevi_wire_decode(buf, hlen + LIMEVI_WIRE_RELAY_LEN - 1,
                                       &pkt), ==, LIMEVI_WIRE_BAD_CONTROL);
    buf[hlen + 1] = LIMEVI_CONTROL_ACK;
    g_assert_cmpint(limevi_wire_decode(buf, hlen + LIMEVI_WIRE_RELAY_LEN,
                                       &pkt), ==, LIMEVI_WIRE_BAD_CONTROL);
    buf[hlen + 1] = LIMEVI_CONTROL_UPDATE;
    buf[hlen + 6] = 5;
    g_assert_cmpint(limevi_wire_decode(buf, hlen + LIMEVI_WIRE_RELAY_LEN,
                                       &pkt), ==, LIMEVI_WIRE_BAD_CONTROL);
}

/* ---- Malformed packets: one mutation of a valid packet per class ---- */

typedef struct {
    const char *name;
    void (*mutate)(Packet *p);
    gsize frame_len;            /* of the packet mutated; 0: 60 */
    LimeviWireStatus status;
} Malformed;

/* Offsets in packet_new()'s header: vc at 20, lan at 24, src at 29,
 * dst at 33, 37 bytes in all. */
#define OFF_VC  20
#define OFF_LAN 24
#define OFF_SRC 29
#define OFF_DST 33

static void cut_to_nothing(Packet *p) { p->len = 0; }
static void cut_in_magic(Packet *p) { p->len = 2; }
static void cut_in_fixed_header(Packet *p) { p->len = 19; }
static void break_magic(Packet *p) { p->data[0] = 'X'; }
static void set_version_2(Packet *p) { p->data[2] = 2; }
static void set_version_0(Packet *p) { p->data[2] = 0; }
static void set_version_2_short(Packet *p) { p->data[2] = 2; p->len = 4; }
static void set_type_control(Packet *p) { p->data[3] = 2; }
static void set_type_0(Packet *p) { p->data[3] = 0; }
static void set_type_255(Packet *p) { p->data[3] = 255; }

static void set_hlen(Packet *p, gsize hlen)
{
    set_be16(p->data + LIMEVI_WIRE_OFF_HEADER_LEN, hlen);
}

static void hlen_below_minimum(Packet *p)
{
    set_hlen(p, LIMEVI_WIRE_HEADER_MIN - 1);
}

static void hlen_above_maximum(Packet *p)
{
    set_hlen(p, LIMEVI_WIRE_HEADER_MAX + 1);
}

static void hlen_past_packet(Packet *p) { p->len = p->hlen - 1; }
static void hlen_after_names(Packet *p) { set_hlen(p, p->hlen + 1); }
static void hlen_inside_dst(Packet *p) { set_hlen(p, p->hlen - 1); }
static void vc_runs_past_header(Packet *p) { p->data[OFF_VC] = 63; }
static void vc_empty(Packet *p) { p->data[OFF_VC] = 0; }
static void lan_empty(Packet *p) { p->data[OFF_LAN] = 0; }
static void src_empty(Packet *p) { p->data[OFF_SRC] = 0; }
static void vc_64_bytes(Packet *p) { p->data[OFF_VC] = 64; }
static void dst_255_bytes(Packet *p) { p->data[OFF_DST] = 255; }
static void vc_has_space(Packet *p) { p->data[OFF_VC + 1] = ' '; }
static void lan_has_slash(Packet *p) { p->data[OFF_LAN + 2] = '/'; }
static void src_has_nul(Packet *p) { p->data[OFF_SRC + 3] = 0; }
static void dst_has_high_byte(Packet *p) { p->data[OFF_DST + 1] = 0xc3; }
/* A CONTROL packet: the header of @p and a 4-byte payload. */
static void make_control(Packet *p, guint8 op, guint8 acked_op)
{
    p->data[3] = LIMEVI_WIRE_TYPE_CONTROL;
    limevi_wire_encode_control(op, acked_op, p->data + p->hlen);
    p->len = p->hlen + LIMEVI_WIRE_CONTROL_LEN;
}
static void control_unknown_op(Packet *p) { make_control(p, 9, 0); }
static void control_ack_of_nothing(Packet *p) { make_control(p, 3, 0); }
static void control_stale_of_nothing(Packet *p) { make_control(p, 5, 0); }
static void control_ack_of_ack(Packet *p) { make_control(p, 3, 3); }
static void control_stale_of_stale(Packet *p) { make_control(p, 5, 5); }
static void control_update_acked(Packet *p) { make_control(p, 2, 1); }
static void control_5_bytes(Packet *p)
{
    make_control(p, 1, 0);
    p->len++;
}
static void payload_13(Packet *p) { p->len = p->hlen + 13; }
static void payload_empty(Packet *p) { p->len = p->hlen; }
static void payload_65536(Packet *p) { p->len += 1; }

static const Malformed malformed[] = {
    { "too-short/empty", cut_to_nothing, 0, LIMEVI_WIRE_TOO_SHORT },
    { "too-short/cut-in-magic", cut_in_magic, 0, LIMEVI_WIRE_TOO_SHORT },
    { "too-short/cut-in-fixed-header", cut_in_fixed_header, 0,
      LIMEVI_WIRE_TOO_SHORT },
    { "bad-magic", break_magic, 0, LIMEVI_WIRE_BAD_MAGIC },
    { "bad-version/2", set_version_2, 0, LIMEVI_WIRE_BAD_VERSION },
    { "bad-version/0", set_version_0, 0, LIMEVI_WIRE_BAD_VERSION },
    { "bad-version/before-length", set_version_2_short, 0,
      LIMEVI_WIRE_BAD_VERSION },
    { "bad-control/frame-as-control-payload", set_type_control, 0,
      LIMEVI_WIRE_BAD_CONTROL },
    { "bad-control/unknown-op", control_unknown_op, 0,
      LIMEVI_WIRE_BAD_CONTROL },
    { "bad-control/ack-of-nothing", control_ack_of_nothing, 0,
      LIMEVI_WIRE_BAD_CONTROL },
    { "bad-control/ack-of-ack", control_ack_of_ack, 0,
      LIMEVI_WIRE_BAD_CONTROL },
    { "bad-control/stale-of-nothing", control_stale_of_nothing, 0,
      LIMEVI_WIRE_BAD_CONTROL },
    { "bad-control/stale-of-stale", control_stale_of_stale, 0,
      LIMEVI_WIRE_BAD_CONTROL },
    { "bad-control/update-with-acked-op", control_update_acked, 0,
      LIMEVI_WIRE_BAD_CONTROL },
    { "bad-control/5-bytes", control_5_bytes, 0, LIMEVI_WIRE_BAD_CONTROL },
    { "bad-type/0", set_type_0, 0, LIMEVI_WIRE_BAD_TYPE },
    { "bad-type/255", set_type_255, 0, LIMEVI_WIRE_BAD_TYPE },
    { "bad-header-len/below-minimum", hlen_below_minimum, 0,
      LIMEVI_WIRE_BAD_HEADER_LEN },
    { "bad-header-len/above-maximum", hlen_above_maximum, 0,
      LIMEVI_WIRE_BAD_HEADER_LEN },
    { "bad-header-len/past-the-packet", hlen_past_packet, 0,
      LIMEVI_WIRE_BAD_HEADER_LEN },
    { "bad-header-len/after-the-names", hlen_after_names, 0,
      LIMEVI_WIRE_BAD_HEADER_LEN },
    { "name-overrun/header-ends-inside-dst", hlen_inside_dst, 0,
      LIMEVI_WIRE_NAME_OVERRUN },
    { "name-overrun/vc-runs-past-header", vc_runs_past_header, 0,
      LIMEVI_WIRE_NAME_OVERRUN },
    { "bad-name-len/empty-vc", vc_empty, 0, LIMEVI_WIRE_BAD_NAME_LEN },
    { "bad-name-len/empty-lan", lan_empty, 0, LIMEVI_WIRE_BAD_NAME_LEN },
    { "bad-name-len/empty-src", src_empty, 0, LIMEVI_WIRE_BAD_NAME_LEN },
    { "bad-name-len/64-byte-vc", vc_64_bytes, 0, LIMEVI_WIRE_BAD_NAME_LEN },
    { "bad-name-len/255-byte-dst", dst_255_bytes, 0,
      LIMEVI_WIRE_BAD_NAME_LEN },
    { "bad-name-char/space-in-vc", vc_has_space, 0,
      LIMEVI_WIRE_BAD_NAME_CHAR },
    { "bad-name-char/slash-in-lan", lan_has_slash, 0,
      LIMEVI_WIRE_BAD_NAME_CHAR },
    { "bad-name-char/nul-in-src", src_has_nul, 0,
      LIMEVI_WIRE_BAD_NAME_CHAR },
    { "bad-name-char/utf8-in-dst", dst_has_high_byte, 0,
      LIMEVI_WIRE_BAD_NAME_CHAR },
    { "payload-short/13-bytes", payload_13, 0, LIMEVI_WIRE_PAYLOAD_SHORT },
    { "payload-short/empty", payload_empty, 0, LIMEVI_WIRE_PAYLOAD_SHORT },
    { "payload-long/65536-bytes", payload_65536, LIMEVI_WIRE_FRAME_MAX,
      LIMEVI_WIRE_PAYLOAD_LONG },
};

static Packet *malformed_packet(const Malformed *m)
{
    Packet *p = packet_new("vm1", m->frame_len ? m->frame_len : 60);
    LimeviWirePacket pkt;

    /* The packet is valid until mutated, so the mutation is the cause. */
    g_assert_cmpint(limevi_wire_decode(p->data, p->len, &pkt), ==,
                    LIMEVI_WIRE_OK);
    m->mutate(p);
    return p;
}

static void test_decode_rejects(gconstpointer data)
{
    const Malformed *m = data;
    g_autofree Packet *p = malformed_packet(m);
    LimeviWirePacket pkt;
    LimeviWireStatus status = limevi_wire_decode(p->data, p->len, &pkt);

    g_assert_cmpstr(limevi_wire_status_name(status), ==,
                    limevi_wire_status_name(m->status));
}

static void test_port_counts_rejected(gconstpointer data)
{
    const Malformed *m = data;
    g_autofree Packet *p = malformed_packet(m);
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    g_autoptr(LimeviPortInfo) info = NULL;
    gboolean version = m->status == LIMEVI_WIRE_BAD_VERSION;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", NULL);
    limevi_port_receive(guest->port, p->data, p->len);
    info = limevi_port_get_info(guest->port);
    g_assert_cmpuint(info->stats.rx_malformed, ==, version ? 0 : 1);
    g_assert_cmpuint(info->stats.rx_bad_version, ==, version ? 1 : 0);
    g_assert_cmpuint(info->stats.rx_frames, ==, 0);
    g_assert_cmpuint(guest->frames->len, ==, 0);
    g_assert_cmpuint(info->mac_entries, ==, 0);
}

/* The control case: the unmutated packet is delivered and learnt. */
static void test_port_delivers_valid_packet(void)
{
    g_autofree Packet *p = packet_new("vm1", 60);
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    g_autoptr(LimeviPortInfo) info = NULL;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", NULL);
    limevi_port_receive(guest->port, p->data, p->len);
    info = limevi_port_get_info(guest->port);
    g_assert_cmpuint(info->stats.rx_frames, ==, 1);
    g_assert_cmpuint(info->stats.rx_bytes, ==, 60);
    g_assert_cmpuint(info->stats.rx_malformed, ==, 0);
    g_assert_cmpuint(guest->frames->len, ==, 1);
    g_assert_cmpuint(test_frame_id(guest->frames->pdata[0]), ==, 42);
    g_assert_cmpuint(info->mac_entries, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/wire/round-trip/keeps-every-field",
                    test_round_trip_keeps_every_field);
    g_test_add_func("/wire/round-trip/flooded-packet-has-empty-destination",
                    test_round_trip_flooded_has_empty_destination);
    g_test_add_func("/wire/round-trip/carries-largest-names-and-frame",
                    test_round_trip_largest_names_and_frame);
    g_test_add_func("/wire/layout/is-big-endian-as-documented",
                    test_layout_is_big_endian_as_documented);
    g_test_add_func("/wire/encode/refuses-bad-names-and-small-buffers",
                    test_encode_refuses_bad_names_and_small_buffers);
    g_test_add_func("/wire/decode/ignores-flags", test_decode_ignores_flags);
    g_test_add_func("/wire/control/round-trips-every-op",
                    test_control_round_trip);
    g_test_add_func("/wire/control/relay-round-trips-and-rejects",
                    test_relay_round_trip_and_rejects);
    for (gsize i = 0; i < G_N_ELEMENTS(malformed); i++) {
        g_autofree char *decode = g_strdup_printf("/wire/decode/rejects/%s",
                                                  malformed[i].name);
        g_autofree char *port = g_strdup_printf(
            "/wire/port/counts-rejected/%s", malformed[i].name);

        g_test_add_data_func(decode, &malformed[i], test_decode_rejects);
        g_test_add_data_func(port, &malformed[i], test_port_counts_rejected);
    }
    g_test_add_func("/wire/port/delivers-a-valid-packet",
                    test_port_delivers_valid_packet);
    return g_test_run();
}
