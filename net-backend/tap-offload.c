/*
 * TCP segmentation and checksum completion for limevi-tap's offloaded
 * TAP (see tap-offload.h).  Only what TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6
 * can hand us: Ethernet (optionally one VLAN tag), IPv4 or IPv6 without
 * extension headers, TCP.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "limevi.h"
#include "tap-offload.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static gboolean offload_enable(int fd, GError **error)
{
    int hdr_len = TAP_VNET_HDR_LEN;

    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0 ||
        ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "TAP offloads: %s (try '--no-offload')",
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

int tap_offload_open(const char *name, gboolean offload, GError **error)
{
    struct ifreq ifr = { 0 };
    int fd;

    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "/dev/net/tun: %s", g_strerror(errno));
        return -1;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
    g_strlcpy(ifr.ifr_name, name, IFNAMSIZ);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--tap' %s: %s", name, g_strerror(errno));
        close(fd);
        return -1;
    }
    if (offload && !offload_enable(fd, error)) {
        close(fd);
        return -1;
    }
    return fd;
}

static guint16 get16(const guint8 *p)
{
    return (guint16)(p[0] << 8 | p[1]);
}

static void put16(guint8 *p, guint16 v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

static guint32 get32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 | p[2] << 8 | p[3];
}

static void put32(guint8 *p, guint32 v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

/* One's-complement sum of @len bytes, added to @sum (RFC 1071). */
static guint32 csum_add(guint32 sum, const guint8 *p, gsize len)
{
    gsize i;

    for (i = 0; i + 1 < len; i += 2) {
        sum += get16(p + i);
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    return sum;
}

static guint16 csum_fold(guint32 sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (guint16)~sum;
}

/* The L3 offset and IP version of an Ethernet frame, 0 if neither. */
static gsize l3_offset(const guint8 *f, gsize len, int *version)
{
    gsize off = 12;
    guint16 type;

    if (len < 14) {
        return 0;
    }
    type = get16(f + off);
    if (type == 0x8100 && len >= 18) {          /* one VLAN tag */
        off += 4;
        type = get16(f + off);
    }
    off += 2;
    *version = type == 0x0800 ? 4 : type == 0x86dd ? 6 : 0;
    return *version ? off : 0;
}

/* The TCP checksum of segment @f, from scratch: pseudo header, header,
 * payload.  The kernel's partial sum is for the super-frame, not us. */
static void tcp_csum(guint8 *f, gsize l3, gsize l4, gsize len, int version)
{
    gsize tcp_len = len - l4;
    guint32 sum = 6 + (guint32)tcp_len;

    if (version == 4) {
        sum = csum_add(sum, f + l3 + 12, 8);
    } else {
        sum = csum_add(sum, f + l3 + 8, 32);
    }
    put16(f + l4 + 16, 0);
    put16(f + l4 + 16, csum_fold(csum_add(sum, f + l4, tcp_len)));
}

/* NEEDS_CSUM without GSO: the field holds the pseudo header's sum; fold
 * the rest in, as the NIC would have. */
static gboolean finish_csum(guint8 *f, gsize len,
                            const struct virtio_net_hdr *h)
{
    gsize start = h->csum_start, field = start + h->csum_offset;

    if (field + 2 > len) {
        return FALSE;
    }
    put16(f + field, csum_fold(csum_add(0, f + start, len - start)));
    return TRUE;
}

/* Fixes the IP and TCP headers of segment @f: @i of @n, @payload bytes. */
static void fix_segment(guint8 *f, gsize l3, gsize l4, gsize len, int version,
                        guint32 seq, int i, int n)
{
    guint8 *tcp = f + l4;

    if (version == 4) {
        gsize ihl = (f[l3] & 0x0f) * 4;

        put16(f + l3 + 2, len - l3);
        put16(f + l3 + 4, get16(f + l3 + 4) + i);   /* IP ID per segment */
        put16(f + l3 + 10, 0);
        put16(f + l3 + 10, csum_fold(csum_add(0, f + l3, ihl)));
    } else {
        put16(f + l3 + 4, len - l3 - 40);
    }
    put32(tcp + 4, seq);
    if (i < n - 1) {
        tcp[13] &= ~(TCP_FIN | TCP_PSH);            /* only on the last */
    }
    if (i > 0) {
        tcp[13] &= ~TCP_CWR;                        /* only on the first */
    }
    tcp_csum(f, l3, l4, len, version);
}

int tap_offload_split(guint8 *buf, gsize len, guint mtu, guint8 *out,
                      gsize out_cap, struct iovec *segs, int max_segs)
{
    struct virtio_net_hdr h;
    guint8 *f = buf + TAP_VNET_HDR_LEN;
    gsize flen, l3, l4, hdrs, payload, mss, used = 0;
    guint8 gso;
    int version, n;
    guint32 seq;

    if (len < TAP_VNET_HDR_LEN || max_segs < 1) {
        return 0;
    }
    memcpy(&h, buf, sizeof(h));     /* host endian: legacy virtio, as tun */
    flen = len - TAP_VNET_HDR_LEN;
    gso = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_NONE) {
        if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
            !finish_csum(f, flen, &h)) {
            return 0;
        }
        segs[0].iov_base = f;
        segs[0].iov_len = flen;
        return 1;
    }
    l3 = l3_offset(f, flen, &version);
    if (!l3 || (gso == VIRTIO_NET_HDR_GSO_TCPV4) != (version == 4) ||
        (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)) {
        return 0;
    }
    /* The kernel's csum_start is where TCP begins; check it agrees. */
    l4 = l3 + (version == 4 ? (f[l3] & 0x0f) * 4 : 40);
    if (h.csum_start != l4 || l4 + 20 > flen ||
        (version == 6 && f[l3 + 6] != 6) || (version == 4 && f[l3 + 9] != 6)) {
        return 0;
    }
    hdrs = l4 + (f[l4 + 12] >> 4) * 4;
    if (hdrs > flen || hdrs - l3 >= mtu) {
        return 0;
    }
    payload = flen - hdrs;
    mss = MIN(h.gso_size, mtu - (hdrs - l3));
    if (!mss) {
        return 0;
    }
    n = (int)((payload + mss - 1) / mss);
    if (n > max_segs) {
        return -1;
    }
    seq = get32(f + l4 + 4);
    for (int i = 0; i < n; i++) {
        gsize chunk = MIN(mss, payload - i * mss), slen = hdrs + chunk;
        guint8 *s = out + used;

        if (used + slen > out_cap) {
            return -1;
        }
        memcpy(s, f, hdrs);
        memcpy(s + hdrs, f + hdrs + i * mss, chunk);
        fix_segment(s, l3, l4, slen, version, seq + i * mss, i, n);
        segs[i].iov_base = s;
        segs[i].iov_len = slen;
        used += slen;
    }
    return n;
}

/* ---- Coalescing for the TAP ---- */

#define TCP_ACK 0x10

/* Offsets of @f's IP and TCP headers and the end of its TCP header, if
 * it is a TCP segment with payload the kernel could have cut. */
static gboolean coalesce_parse(const guint8 *f, gsize len, gsize *l3,
                               gsize *l4, gsize *hdrs, int *version)
{
    guint8 flags;

    *l3 = l3_offset(f, len, version);
    if (!*l3 || *l3 != 14) {
        return FALSE;                           /* no VLAN: keep it plain */
    }
    if (*version == 4) {
        if (len < *l3 + 20 || f[*l3] != 0x45 || f[*l3 + 9] != 6 ||
            (get16(f + *l3 + 6) & 0x3fff) ||    /* MF or an offset */
            get16(f + *l3 + 2) != len - *l3) {
            return FALSE;
        }
        *l4 = *l3 + 20;
    } else {
        if (len < *l3 + 40 || f[*l3 + 6] != 6 ||
            get16(f + *l3 + 4) != len - *l3 - 40) {
            return FALSE;
        }
        *l4 = *l3 + 40;
    }
    if (len < *l4 + 20) {
        return FALSE;
    }
    *hdrs = *l4 + (f[*l4 + 12] >> 4) * 4;
    flags = f[*l4 + 13];
    return *hdrs >= *l4 + 20 && *hdrs < len &&
           (flags == TCP_ACK || flags == (TCP_ACK | TCP_PSH));
}

/* Whether segment @f's headers equal the run's but for what segments of
 * one TSO frame differ in: lengths, IPv4 ID and checksums, the sequence
 * number, PSH. */
static gboolean coalesce_same(const TapCoalesce *c, const guint8 *f)
{
    const guint8 *r = c->buf + TAP_VNET_HDR_LEN;
    gsize l3 = c->l3, l4 = c->l4;

    if (memcmp(r, f, l3)) {
        return FALSE;
    }
    if (c->version == 4) {
        /* Version, TOS; flags; TTL, protocol; addresses. */
        if (r[l3] != f[l3] || r[l3 + 1] != f[l3 + 1] ||
            get16(r + l3 + 6) != get16(f + l3 + 6) ||
            memcmp(r + l3 + 8, f + l3 + 8, 2) ||
            memcmp(r + l3 + 12, f + l3 + 12, 8)) {
            return FALSE;
        }
    } else if (memcmp(r + l3, f + l3, 4) ||
               memcmp(r + l3 + 6, f + l3 + 6, 34)) {
        return FALSE;
    }
    /* Ports; ACK number, data offset; window; urgent pointer; options. */
    return !memcmp(r + l4, f + l4, 4) && !memcmp(r + l4 + 8, f + l4 + 8, 5) &&
           !memcmp(r + l4 + 14, f + l4 + 14, 2) &&
           !memcmp(r + l4 + 18, f + l4 + 18, c->hdrs - l4 - 18);
}

gboolean tap_coalesce_add(TapCoalesce *c, const guint8 *f, gsize len)
{
    guint8 *r = c->buf + TAP_VNET_HDR_LEN;
    gsize l3, l4, hdrs, payload;
    int version;

    if (!coalesce_parse(f, len, &l3, &l4, &hdrs, &version)) {
        return FALSE;
    }
    payload = len - hdrs;
    if (!c->segs) {
        /* Field by field: the buffer is part of @c. */
        memcpy(r, f, len);
        c->len = len;
        c->segs = 1;
        c->l3 = l3;
        c->l4 = l4;
        c->hdrs = hdrs;
        c->version = version;
        c->mss = payload;
        c->next_seq = get32(f + l4 + 4) + payload;
        c->closed = (f[l4 + 13] & TCP_PSH) != 0;
        return TRUE;
    }
    if (c->closed || version != c->version || hdrs != c->hdrs ||
        payload > c->mss || get32(f + l4 + 4) != c->next_seq ||
        c->len + payload - l3 > TAP_COALESCE_MAX || !coalesce_same(c, f)) {
        return FALSE;
    }
    memcpy(r + c->len, f + hdrs, payload);
    c->len += payload;
    c->segs++;
    c->next_seq += payload;
    r[l4 + 13] |= f[l4 + 13] & TCP_PSH;
    c->closed = payload < c->mss || (f[l4 + 13] & TCP_PSH);
    return TRUE;
}

gsize tap_coalesce_finish(TapCoalesce *c, const guint8 **out)
{
    guint8 *r = c->buf + TAP_VNET_HDR_LEN;
    struct virtio_net_hdr h = { 0 };
    gsize len = c->len;

    if (c->segs > 1) {
        gsize tcp_len = len - c->l4;
        guint32 sum = 6 + (guint32)tcp_len;

        if (c->version == 4) {
            put16(r + c->l3 + 2, len - c->l3);
            put16(r + c->l3 + 10, 0);
            put16(r + c->l3 + 10, csum_fold(csum_add(0, r + c->l3, 20)));
            sum = csum_add(sum, r + c->l3 + 12, 8);
        } else {
            put16(r + c->l3 + 4, len - c->l3 - 40);
            sum = csum_add(sum, r + c->l3 + 8, 32);
        }
        /* NEEDS_CSUM: the field holds the pseudo header's sum, which the
         * kernel completes per segment if it cuts the frame again. */
        put16(r + c->l4 + 16, (guint16)~csum_fold(sum));
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.gso_type = c->version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4
                                     : VIRTIO_NET_HDR_GSO_TCPV6;
        h.hdr_len = c->hdrs;
        h.gso_size = c->mss;
        h.csum_start = c->l4;
        h.csum_offset = 16;
    }
    memcpy(c->buf, &h, TAP_VNET_HDR_LEN);
    c->segs = 0;
    c->len = 0;
    *out = c->buf;
    return TAP_VNET_HDR_LEN + len;
}
