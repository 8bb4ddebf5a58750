/*
 * The two places the gateway reads frames itself rather than leaving them
 * to libslirp: DNS queries for the names given with --dns-name (answered
 * here), and libslirp's DHCPACKs (noted as leases, which libslirp does
 * not report).  Every length is checked before a byte is read.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "gateway.h"

#define ETH_HLEN 14
#define ETH_P_IPV4 0x0800
#define IP_PROTO_UDP 17
#define UDP_HLEN 8
#define DNS_HLEN 12
#define DNS_TYPE_A 1
#define DNS_CLASS_IN 1
#define DNS_TTL_S 60
#define BOOTP_CHADDR 28
#define BOOTP_OPTIONS 240       /* after the magic cookie */
#define DHCP_OPT_LEASE_TIME 51
#define DHCP_OPT_MSG_TYPE 53
#define DHCPACK 5

static guint16 get16(const guint8 *p)
{
    return (p[0] << 8) | p[1];
}

static void put16(guint8 *p, guint16 v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/*
 * The UDP payload of an unfragmented IPv4 frame; NULL if @frame is not
 * one.  *@ip points at the IP header, *@udp at the UDP header.
 */
static const guint8 *udp_payload(const guint8 *frame, gsize len,
                                 const guint8 **ip, const guint8 **udp,
                                 gsize *payload_len)
{
    gsize ihl, ip_len, udp_len;

    if (len < ETH_HLEN + 20 || get16(frame + 12) != ETH_P_IPV4) {
        return NULL;
    }
    *ip = frame + ETH_HLEN;
    ihl = ((*ip)[0] & 0x0f) * 4;
    ip_len = get16(*ip + 2);
    if (((*ip)[0] >> 4) != 4 || ihl < 20 || (*ip)[9] != IP_PROTO_UDP ||
        (get16(*ip + 6) & 0x3fff) != 0 ||   /* MF or an offset */
        ip_len < ihl + UDP_HLEN || ip_len > len - ETH_HLEN) {
        return NULL;
    }
    *udp = *ip + ihl;
    udp_len = get16(*udp + 4);
    if (udp_len < UDP_HLEN || udp_len > ip_len - ihl) {
        return NULL;
    }
    *payload_len = udp_len - UDP_HLEN;
    return *udp + UDP_HLEN;
}

/* The question's name, lower case, dotted, into @name (256 bytes); the
 * offset just past it, or 0 when malformed or compressed. */
static gsize dns_question_name(const guint8 *msg, gsize len, char *name)
{
    gsize off = DNS_HLEN, out = 0;

    while (off < len) {
        guint8 label = msg[off++];

        if (label == 0) {
            name[out] = '\0';
            return out ? off : 0;
        }
        if (label > 63 || off + label > len || out + label + 1 >= 254) {
            return 0;
        }
        if (out) {
            name[out++] = '.';
        }
        for (guint i = 0; i < label; i++) {
            name[out++] = g_ascii_tolower(msg[off + i]);
        }
        off += label;
    }
    return 0;
}

static guint16 ip_checksum(const guint8 *p, gsize len)
{
    guint32 sum = 0;

    for (gsize i = 0; i + 1 < len; i += 2) {
        sum += get16(p + i);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

gsize gateway_dns_answer(const GatewayOptions *opts, const guint8 *frame,
                         gsize len, guint8 *reply, gsize reply_size)
{
    const guint8 *ip, *udp, *msg;
    const GatewayDnsName *entry;
    gsize msg_len, qend, out_len, dns_len;
    char name[256];
    gboolean type_a;
    guint8 *rip, *rudp, *rdns;

    msg = udp_payload(frame, len, &ip, &udp, &msg_len);
    if (!msg || memcmp(ip + 16, &opts->dns.s_addr, 4) ||
        get16(udp + 2) != 53 || msg_len < DNS_HLEN ||
        (msg[2] & 0xf8) != 0 ||             /* QR = 0, OPCODE = QUERY */
        get16(msg + 4) != 1) {              /* one question */
        return 0;
    }
    qend = dns_question_name(msg, msg_len, name);
    if (!qend || qend + 4 > msg_len) {
        return 0;
    }
    entry = gateway_dns_lookup(opts, name);
    if (!entry || get16(msg + qend + 2) != DNS_CLASS_IN) {
        return 0;
    }
    /* A name of ours has only an A record: other types get none. */
    type_a = get16(msg + qend) == DNS_TYPE_A;
    dns_len = qend + 4 + (type_a ? 16 : 0);
    out_len = ETH_HLEN + 20 + UDP_HLEN + dns_len;
    if (out_len > reply_size) {
        return 0;
    }
    memset(reply, 0, out_len);
    memcpy(reply, frame + 6, 6);            /* to the asker's MAC */
    memcpy(reply + 6, frame, 6);            /* from the MAC it asked */
    put16(reply + 12, ETH_P_IPV4);
    rip = reply + ETH_HLEN;
    rip[0] = 0x45;
    put16(rip + 2, 20 + UDP_HLEN + dns_len);
    rip[8] = 64;
    rip[9] = IP_PROTO_UDP;
    memcpy(rip + 12, &opts->dns.s_addr, 4);
    memcpy(rip + 16, ip + 12, 4);
    put16(rip + 10, ip_checksum(rip, 20));
    rudp = rip + 20;
    put16(rudp, 53);
    put16(rudp + 2, get16(udp));
    put16(rudp + 4, UDP_HLEN + dns_len);    /* checksum 0: none (IPv4) */
    rdns = rudp + UDP_HLEN;
    memcpy(rdns, msg, qend + 4);            /* id, flags, the question */
    rdns[2] = 0x80 | (msg[2] & 0x01);       /* QR, RD as asked */
    rdns[3] = 0x80;                         /* RA, NOERROR */
    put16(rdns + 4, 1);
    put16(rdns + 6, type_a ? 1 : 0);
    put16(rdns + 8, 0);
    put16(rdns + 10, 0);
    if (type_a) {
        guint8 *an = rdns + qend + 4;

        put16(an, 0xc000 | DNS_HLEN);       /* the question's name */
        put16(an + 2, DNS_TYPE_A);
        put16(an + 4, DNS_CLASS_IN);
        put16(an + 6, 0);
        put16(an + 8, DNS_TTL_S);
        put16(an + 10, 4);
        memcpy(an + 12, &entry->addr.s_addr, 4);
    }
    return out_len;
}

/* Option @code of a DHCP message's options, or NULL. */
static const guint8 *dhcp_option(const guint8 *opt, gsize len, guint8 code,
                                 guint8 *opt_len)
{
    gsize off = 0;

    while (off < len && opt[off] != 255) {
        if (opt[off] == 0) {
            off++;
            continue;
        }
        if (off + 2 > len || off + 2 + opt[off + 1] > len) {
            return NULL;
        }
        if (opt[off] == code) {
            *opt_len = opt[off + 1];
            return opt + off + 2;
        }
        off += 2 + opt[off + 1];
    }
    return NULL;
}

static void leases_store(GatewayLeases *leases, const GatewayLease *lease)
{
    guint slot = leases->n, oldest = 0;

    for (guint i = 0; i < leases->n; i++) {
        if (!memcmp(leases->leases[i].mac, lease->mac, 6)) {
            slot = i;
            break;
        }
        if (leases->leases[i].granted_us <
            leases->leases[oldest].granted_us) {
            oldest = i;
        }
    }
    if (slot == leases->n) {
        if (leases->n < GATEWAY_DHCP_RANGE) {
            leases->n++;
        } else {
            slot = oldest;
        }
    }
    leases->leases[slot] = *lease;
}

gboolean gateway_leases_note(GatewayLeases *leases, const guint8 *frame,
                             gsize len, gint64 now_us)
{
    static const guint8 cookie[4] = { 99, 130, 83, 99 };
    const guint8 *ip, *udp, *msg, *type, *time;
    GatewayLease lease = { .granted_us = now_us };
    gsize msg_len;
    guint8 opt_len;

    msg = udp_payload(frame, len, &ip, &udp, &msg_len);
    if (!msg || get16(udp) != 67 || get16(udp + 2) != 68 ||
        msg_len < BOOTP_OPTIONS || msg[0] != 2 ||
        memcmp(msg + BOOTP_OPTIONS - 4, cookie, 4)) {
        return FALSE;
    }
    type = dhcp_option(msg + BOOTP_OPTIONS, msg_len - BOOTP_OPTIONS,
                       DHCP_OPT_MSG_TYPE, &opt_len);
    if (!type || opt_len != 1 || *type != DHCPACK) {
        return FALSE;
    }
    time = dhcp_option(msg + BOOTP_OPTIONS, msg_len - BOOTP_OPTIONS,
                       DHCP_OPT_LEASE_TIME, &opt_len);
    if (time && opt_len == 4) {
        lease.lease_s = ((guint32)get16(time) << 16) | get16(time + 2);
    }
    memcpy(&lease.addr.s_addr, msg + 16, 4);    /* yiaddr */
    memcpy(lease.mac, msg + BOOTP_CHADDR, 6);
    leases_store(leases, &lease);
    return TRUE;
}
