/*
 * limevi-tap's offload code (net-backend/tap-offload.c) on crafted TCP
 * super-frames: every segment's checksums verified from scratch, its
 * lengths, sequence numbers and flags, and the payload reassembled.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <linux/virtio_net.h>
#include <string.h>

#include "tap-offload.h"

#define FIN 0x01
#define PSH 0x08
#define ACK 0x10
#define CWR 0x80

static guint16 rd16(const guint8 *p)
{
    return (guint16)(p[0] << 8 | p[1]);
}

static guint32 rd32(const guint8 *p)
{
    return (guint32)rd16(p) << 16 | rd16(p + 2);
}

static void wr16(guint8 *p, guint16 v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/* RFC 1071, written apart from the code under test: 0 when valid. */
static guint16 sum16(guint32 sum, const guint8 *p, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        sum += i & 1 ? p[i] : p[i] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (guint16)~sum;
}

/* A super-frame: vnet header, Ethernet, IPv@version, TCP with 12 bytes of
 * options, @payload bytes (i * 7 + 3), as the kernel hands it with TSO. */
static gsize craft(guint8 *buf, int version, gsize payload, guint16 gso_size,
                   guint8 flags)
{
    struct virtio_net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                 : VIRTIO_NET_HDR_GSO_TCPV6,
        .gso_size = gso_size,
    };
    guint8 *f = buf + TAP_VNET_HDR_LEN, *ip = f + 14, *tcp;
    gsize iphl = version == 4 ? 20 : 40, len;

    memset(f, 0, 14 + iphl + 32);
    memset(f, 0x02, 12);
    wr16(f + 12, version == 4 ? 0x0800 : 0x86dd);
    if (version == 4) {
        ip[0] = 0x45;
        wr16(ip + 4, 0x1234);               /* IP ID */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8);
    } else {
        ip[0] = 0x60;
        ip[6] = 6;
        ip[7] = 64;
        ip[8] = 0x20;
        ip[23] = 1;
        ip[24] = 0x20;
        ip[39] = 2;
    }
    tcp = ip + iphl;
    wr16(tcp, 40000);
    wr16(tcp + 2, 5201);
    memcpy(tcp + 4, "\xff\xff\xf0\x00", 4); /* the sequence wraps */
    tcp[12] = 8 << 4;                       /* 32-byte header */
    tcp[13] = flags;
    wr16(tcp + 14, 65535);
    for (gsize i = 0; i < payload; i++) {
        tcp[32 + i] = (guint8)(i * 7 + 3);
    }
    len = 14 + iphl + 32 + payload;
    /* The kernel leaves a partial sum in the field; a wrong one here
     * proves the code does not keep it. */
    wr16(tcp + 16, 0xdead);
    h.hdr_len = 14 + iphl + 32;
    h.csum_start = 14 + iphl;
    h.csum_offset = 16;
    memcpy(buf, &h, sizeof(h));
    return TAP_VNET_HDR_LEN + len;
}

static void check_split(int version, gsize payload, guint16 gso_size,
                        guint mtu, gsize want_mss)
{
    static guint8 buf[TAP_VNET_HDR_LEN + 70000], out[100000];
    static guint8 joined[70000];
    struct iovec segs[64];
    gsize iphl = version == 4 ? 20 : 40, hdrs = 14 + iphl + 32, got = 0;
    gsize len = craft(buf, version, payload, gso_size, FIN | PSH | ACK | CWR);
    int want_n = (int)((payload + want_mss - 1) / want_mss);
    int n = tap_offload_split(buf, len, mtu, out, sizeof(out), segs, 64);

    g_assert_cmpint(n, ==, want_n);
    for (int i = 0; i < n; i++) {
        guint8 *f = segs[i].iov_base, *ip = f + 14, *tcp = ip + iphl;
        gsize flen = segs[i].iov_len, tcp_len = flen - 14 - iphl;
        guint32 pseudo = 6 + (guint32)tcp_len;
        guint8 ph[32];

        g_assert_cmpuint(flen - 14, <=, mtu);
        g_assert_cmpuint(flen - hdrs, ==, MIN(want_mss, payload - got));
        if (version == 4) {
            g_assert_cmpuint(rd16(ip + 2), ==, flen - 14);
            g_assert_cmpuint(rd16(ip + 4), ==, 0x1234 + i);
            g_assert_cmpuint(sum16(0, ip, 20), ==, 0);
            memcpy(ph, ip + 12, 8);
            pseudo += rd16(ph) + rd16(ph + 2) + rd16(ph + 4) + rd16(ph + 6);
        } else {
            g_assert_cmpuint(rd16(ip + 4), ==, tcp_len);
            for (int k = 0; k < 32; k += 2) {
                pseudo += rd16(ip + 8 + k);
            }
        }
        g_assert_cmpuint(sum16(pseudo, tcp, tcp_len), ==, 0);
        g_assert_cmpuint(rd32(tcp + 4), ==, (guint32)(0xfffff000u + got));
        g_assert_cmpuint(tcp[13] & (FIN | PSH), ==, i == n - 1 ? FIN | PSH : 0);
        g_assert_cmpuint(tcp[13] & CWR, ==, i == 0 ? CWR : 0);
        g_assert_cmpuint(tcp[13] & ACK, ==, ACK);
        memcpy(joined + got, f + hdrs, flen - hdrs);
        got += flen - hdrs;
    }
    g_assert_cmpuint(got, ==, payload);
    g_assert_cmpmem(joined, got, buf + TAP_VNET_HDR_LEN + hdrs, payload);
}

static void test_ipv4(void)
{
    check_split(4, 65000, 1448, 1500, 1448);
    check_split(4, 1449, 1448, 1500, 1448);     /* one byte over */
    check_split(4, 3000, 1448, 576, 576 - 52);  /* capped by the MTU */
}

static void test_ipv6(void)
{
    check_split(6, 64000, 1428, 1500, 1428);
    check_split(6, 5001, 1428, 1280, 1280 - 72);
}

/* A small frame with a pending checksum: completed in place, not cut. */
static void test_needs_csum(void)
{
    static guint8 buf[TAP_VNET_HDR_LEN + 2000];
    struct virtio_net_hdr h;
    struct iovec seg;
    gsize len = craft(buf, 4, 100, 0, PSH | ACK);
    guint8 *ip = buf + TAP_VNET_HDR_LEN + 14, *tcp = ip + 20;
    guint32 pseudo = 6 + 132;
    guint8 out[16];

    memcpy(&h, buf, sizeof(h));
    h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
    h.gso_size = 0;
    memcpy(buf, &h, sizeof(h));
    wr16(ip + 2, 20 + 132);
    for (int k = 0; k < 8; k += 2) {
        pseudo += rd16(ip + 12 + k);
    }
    /* What the kernel leaves: the pseudo header's sum, not inverted. */
    wr16(tcp + 16, (guint16)~sum16(pseudo, NULL, 0));
    g_assert_cmpint(tap_offload_split(buf, len, 1500, out, sizeof(out),
                                      &seg, 1), ==, 1);
    g_assert_true(seg.iov_base == buf + TAP_VNET_HDR_LEN);
    g_assert_cmpuint(seg.iov_len, ==, len - TAP_VNET_HDR_LEN);
    g_assert_cmpuint(sum16(pseudo, tcp, 132), ==, 0);
}

/* Too little room says so (the caller sends its batch and retries). */
static void test_no_room(void)
{
    static guint8 buf[TAP_VNET_HDR_LEN + 70000], out[4000];
    struct iovec segs[64];
    gsize len = craft(buf, 4, 10000, 1448, ACK);

    g_assert_cmpint(tap_offload_split(buf, len, 1500, out, sizeof(out),
                                      segs, 64), ==, -1);
    g_assert_cmpint(tap_offload_split(buf, len, 1500, out, sizeof(out),
                                      segs, 3), ==, -1);
}

/* Cuts a super-frame of @payload bytes into @mss-byte segments (the
 * peer's limevi-tap does), into @segs, @out; returns their count. */
static int cut(guint8 *buf, guint8 *out, gsize out_cap, struct iovec *segs,
               int version, gsize payload, guint16 mss, guint8 flags)
{
    gsize len = craft(buf, version, payload, mss, flags);

    return tap_offload_split(buf, len, 1500, out, out_cap, segs, 64);
}

/* Segments of one TSO frame, coalesced again for the TAP: one TSO frame
 * with the same headers, payload and sequence, the kernel's fields set,
 * its checksums valid once the kernel completes the TCP one. */
static void check_round_trip(int version, gsize payload, guint16 mss)
{
    static guint8 buf[TAP_VNET_HDR_LEN + 70000], out[100000];
    static guint8 frame[TAP_VNET_HDR_LEN + 70000];
    g_autofree TapCoalesce *c = g_new0(TapCoalesce, 1);
    struct iovec segs[64];
    struct virtio_net_hdr h;
    gsize iphl = version == 4 ? 20 : 40, hdrs = 14 + iphl + 32;
    const guint8 *res;
    guint8 *ip, *tcp;
    gsize len, tcp_len;
    guint32 pseudo;
    int n = cut(buf, out, sizeof(out), segs, version, payload, mss,
                PSH | ACK);

    g_assert_cmpint(n, >, 1);
    for (int i = 0; i < n; i++) {
        g_assert_true(tap_coalesce_add(c, segs[i].iov_base, segs[i].iov_len));
    }
    len = tap_coalesce_finish(c, &res);
    g_assert_cmpuint(len, ==, TAP_VNET_HDR_LEN + hdrs + payload);
    memcpy(frame, res, len);
    memcpy(&h, frame, sizeof(h));
    g_assert_cmpuint(h.flags, ==, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    g_assert_cmpuint(h.gso_type, ==, version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                                  : VIRTIO_NET_HDR_GSO_TCPV6);
    g_assert_cmpuint(h.gso_size, ==, mss);
    g_assert_cmpuint(h.hdr_len, ==, hdrs);
    g_assert_cmpuint(h.csum_start, ==, 14 + iphl);
    g_assert_cmpuint(h.csum_offset, ==, 16);
    ip = frame + TAP_VNET_HDR_LEN + 14;
    tcp = ip + iphl;
    tcp_len = 32 + payload;
    pseudo = 6 + (guint32)tcp_len;
    if (version == 4) {
        g_assert_cmpuint(rd16(ip + 2), ==, iphl + tcp_len);
        g_assert_cmpuint(sum16(0, ip, 20), ==, 0);
        for (int k = 0; k < 8; k += 2) {
            pseudo += rd16(ip + 12 + k);
        }
    } else {
        g_assert_cmpuint(rd16(ip + 4), ==, tcp_len);
        for (int k = 0; k < 32; k += 2) {
            pseudo += rd16(ip + 8 + k);
        }
    }
    g_assert_cmpuint(rd32(tcp + 4), ==, 0xfffff000u);
    g_assert_cmpuint(tcp[13], ==, PSH | ACK);
    g_assert_cmpmem(tcp + 32, payload, buf + TAP_VNET_HDR_LEN + hdrs,
                    payload);
    /* As the kernel completes NEEDS_CSUM: the sum from csum_start over
     * the field's partial sum. */
    wr16(tcp + 16, sum16(0, tcp, tcp_len));
    g_assert_cmpuint(sum16(pseudo, tcp, tcp_len), ==, 0);
    g_assert_cmpuint(c->segs, ==, 0);
}

static void test_coalesce_round_trip(void)
{
    check_round_trip(4, 65000, 1448);
    check_round_trip(4, 1449, 1448);
    check_round_trip(6, 60000, 1428);
}

/* What cannot join a run, and a lone segment, which goes as it came. */
static void test_coalesce_refuses(void)
{
    static guint8 buf[TAP_VNET_HDR_LEN + 70000], out[100000];
    g_autofree TapCoalesce *c = g_new0(TapCoalesce, 1);
    static guint8 other[2000];
    struct iovec segs[64];
    struct virtio_net_hdr h;
    const guint8 *res;
    gsize len;
    int n = cut(buf, out, sizeof(out), segs, 4, 10000, 1448, ACK);

    g_assert_cmpint(n, ==, 7);
    /* Out of sequence. */
    g_assert_true(tap_coalesce_add(c, segs[0].iov_base, segs[0].iov_len));
    g_assert_false(tap_coalesce_add(c, segs[2].iov_base, segs[2].iov_len));
    /* Another flow: another source port. */
    memcpy(other, segs[1].iov_base, segs[1].iov_len);
    wr16(other + 14 + 20, 40001);
    g_assert_false(tap_coalesce_add(c, other, segs[1].iov_len));
    /* Another window. */
    memcpy(other, segs[1].iov_base, segs[1].iov_len);
    wr16(other + 14 + 20 + 14, 1000);
    g_assert_false(tap_coalesce_add(c, other, segs[1].iov_len));
    /* A lone segment: no vnet flags, the frame as it came. */
    len = tap_coalesce_finish(c, &res);
    g_assert_cmpuint(len, ==, TAP_VNET_HDR_LEN + segs[0].iov_len);
    memcpy(&h, res, sizeof(h));
    g_assert_cmpuint(h.flags, ==, 0);
    g_assert_cmpuint(h.gso_type, ==, VIRTIO_NET_HDR_GSO_NONE);
    g_assert_cmpmem(res + TAP_VNET_HDR_LEN, len - TAP_VNET_HDR_LEN,
                    segs[0].iov_base, segs[0].iov_len);
    /* A shorter segment ends the run (the last of 7 is). */
    for (int i = 0; i < n; i++) {
        g_assert_true(tap_coalesce_add(c, segs[i].iov_base, segs[i].iov_len));
    }
    g_assert_false(tap_coalesce_add(c, segs[0].iov_base, segs[0].iov_len));
    tap_coalesce_finish(c, &res);
    /* FIN, SYN or CWR: never in a run. */
    memcpy(other, segs[0].iov_base, segs[0].iov_len);
    other[14 + 20 + 13] = ACK | FIN;
    g_assert_false(tap_coalesce_add(c, other, segs[0].iov_len));
    other[14 + 20 + 13] = ACK | CWR;
    g_assert_false(tap_coalesce_add(c, other, segs[0].iov_len));
    /* No payload (a pure ACK). */
    g_assert_false(tap_coalesce_add(c, segs[0].iov_base, 14 + 20 + 32));
    g_assert_cmpuint(c->segs, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tap-offload/tcpv4-split", test_ipv4);
    g_test_add_func("/tap-offload/tcpv6-split", test_ipv6);
    g_test_add_func("/tap-offload/needs-csum", test_needs_csum);
    g_test_add_func("/tap-offload/no-room", test_no_room);
    g_test_add_func("/tap-offload/coalesce-round-trip",
                    test_coalesce_round_trip);
    g_test_add_func("/tap-offload/coalesce-refuses", test_coalesce_refuses);
    return g_test_run();
}
