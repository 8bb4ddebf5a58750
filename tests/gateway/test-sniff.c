/*
 * The frames limevi-gateway reads itself: DNS queries for --dns-name
 * names (answered without libslirp) and libslirp's DHCPACKs (noted as
 * leases).  Anything else, or anything truncated, is left alone.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <string.h>

#include "gateway.h"

static const guint8 guest_mac[6] = { 0x52, 0x54, 0x00, 0x18, 0x00, 0x01 };
static const guint8 gw_mac[6] = { 0x52, 0x55, 0xc6, 0x13, 0x00, 0x03 };

static GatewayOptions *options(void)
{
    char *argv[] = { "gw", "--vm", "gw", "--vc", "v", "--lan", "l",
                     "--listen", "127.0.0.1:0", "--net", "198.19.0.0/24",
                     "--dns-name", "files.example=198.19.0.9", NULL };
    g_autoptr(GError) error = NULL;
    GatewayOptions *opts = gateway_options_parse(G_N_ELEMENTS(argv) - 1,
                                                 argv, &error);

    g_assert_no_error(error);
    return opts;
}

static void put16(guint8 *p, guint16 v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/* An Ethernet + IPv4 + UDP frame around @payload; returns its length. */
static gsize udp_frame(guint8 *f, const char *src, const char *dst,
                       guint16 sport, guint16 dport, const guint8 *payload,
                       gsize len)
{
    memcpy(f, gw_mac, 6);
    memcpy(f + 6, guest_mac, 6);
    put16(f + 12, 0x0800);
    memset(f + 14, 0, 20);
    f[14] = 0x45;
    put16(f + 16, 28 + len);
    f[22] = 64;
    f[23] = 17;
    inet_pton(AF_INET, src, f + 26);
    inet_pton(AF_INET, dst, f + 30);
    put16(f + 34, sport);
    put16(f + 36, dport);
    put16(f + 38, 8 + len);
    put16(f + 40, 0);
    memcpy(f + 42, payload, len);
    return 42 + len;
}

/* A query for @name of @type, ID 0x1234, RD set. */
static gsize dns_query(guint8 *q, const char *name, guint16 type)
{
    g_auto(GStrv) labels = g_strsplit(name, ".", -1);
    gsize off = 12;

    memset(q, 0, 12);
    put16(q, 0x1234);
    q[2] = 0x01;
    put16(q + 4, 1);
    for (guint i = 0; labels[i]; i++) {
        q[off++] = strlen(labels[i]);
        memcpy(q + off, labels[i], strlen(labels[i]));
        off += strlen(labels[i]);
    }
    q[off++] = 0;
    put16(q + off, type);
    put16(q + off + 2, 1);
    return off + 4;
}

static void test_answers_our_name(void)
{
    g_autoptr(GatewayOptions) opts = options();
    guint8 q[300], frame[400], reply[512];
    gsize qlen = dns_query(q, "Files.Example", 1);
    gsize len = udp_frame(frame, "198.19.0.15", "198.19.0.3", 40000, 53,
                          q, qlen);
    gsize n = gateway_dns_answer(opts, frame, len, reply, sizeof(reply));
    const guint8 *dns = reply + 42;
    char addr[INET_ADDRSTRLEN];

    g_assert_cmpuint(n, ==, 42 + qlen + 16);
    g_assert_cmpmem(reply, 6, guest_mac, 6);
    g_assert_cmpmem(reply + 6, 6, gw_mac, 6);
    inet_ntop(AF_INET, reply + 26, addr, sizeof(addr));
    g_assert_cmpstr(addr, ==, "198.19.0.3");
    inet_ntop(AF_INET, reply + 30, addr, sizeof(addr));
    g_assert_cmpstr(addr, ==, "198.19.0.15");
    g_assert_cmpuint((reply[36] << 8) | reply[37], ==, 40000);
    g_assert_cmpuint((dns[0] << 8) | dns[1], ==, 0x1234);
    g_assert_cmpuint(dns[2], ==, 0x81);         /* answer, RD echoed */
    g_assert_cmpuint(dns[3] & 0x0f, ==, 0);     /* NOERROR */
    g_assert_cmpuint((dns[6] << 8) | dns[7], ==, 1);
    inet_ntop(AF_INET, reply + n - 4, addr, sizeof(addr));
    g_assert_cmpstr(addr, ==, "198.19.0.9");
}

/* AAAA of our name: an answer with no records, not a forward that
 * would leak the name to the host's resolver. */
static void test_other_type_no_record(void)
{
    g_autoptr(GatewayOptions) opts = options();
    guint8 q[300], frame[400], reply[512];
    gsize qlen = dns_query(q, "files.example", 28);
    gsize len = udp_frame(frame, "198.19.0.15", "198.19.0.3", 40000, 53,
                          q, qlen);
    gsize n = gateway_dns_answer(opts, frame, len, reply, sizeof(reply));

    g_assert_cmpuint(n, ==, 42 + qlen);
    g_assert_cmpuint((reply[42 + 6] << 8) | reply[42 + 7], ==, 0);
}

static void test_leaves_the_rest_to_slirp(void)
{
    g_autoptr(GatewayOptions) opts = options();
    guint8 q[300], frame[400], reply[512];
    gsize qlen = dns_query(q, "other.example", 1);
    gsize len = udp_frame(frame, "198.19.0.15", "198.19.0.3", 40000, 53,
                          q, qlen);

    /* Not our name: slirp forwards it. */
    g_assert_cmpuint(gateway_dns_answer(opts, frame, len, reply,
                                        sizeof(reply)), ==, 0);
    /* Our name, to another server. */
    qlen = dns_query(q, "files.example", 1);
    len = udp_frame(frame, "198.19.0.15", "198.19.0.4", 40000, 53, q, qlen);
    g_assert_cmpuint(gateway_dns_answer(opts, frame, len, reply,
                                        sizeof(reply)), ==, 0);
    /* Truncated at every length: never answered, never read past. */
    len = udp_frame(frame, "198.19.0.15", "198.19.0.3", 40000, 53, q, qlen);
    for (gsize cut = 0; cut < len; cut++) {
        g_autofree guint8 *part = g_memdup2(frame, cut);

        g_assert_cmpuint(gateway_dns_answer(opts, part, cut, reply,
                                            sizeof(reply)), ==, 0);
    }
    /* A fragment. */
    frame[20] = 0x20;
    g_assert_cmpuint(gateway_dns_answer(opts, frame, len, reply,
                                        sizeof(reply)), ==, 0);
    /* A response, not a query. */
    frame[20] = 0;
    frame[42 + 2] |= 0x80;
    g_assert_cmpuint(gateway_dns_answer(opts, frame, len, reply,
                                        sizeof(reply)), ==, 0);
}

/* A DHCP reply of @type for @mac giving @addr for 86400 s. */
static gsize dhcp_reply(guint8 *frame, const guint8 *mac, const char *addr,
                        guint8 type)
{
    guint8 b[300] = { 0 };

    b[0] = 2;
    inet_pton(AF_INET, addr, b + 16);
    memcpy(b + 28, mac, 6);
    memcpy(b + 236, (guint8[]){ 99, 130, 83, 99 }, 4);
    memcpy(b + 240, (guint8[]){ 53, 1, type, 51, 4, 0, 1, 0x51, 0x80, 255 },
           10);
    return udp_frame(frame, "198.19.0.2", "255.255.255.255", 67, 68, b, 250);
}

static void test_leases_from_acks(void)
{
    GatewayLeases leases = { 0 };
    guint8 frame[400], mac[6];
    char addr[INET_ADDRSTRLEN];
    gsize len;

    /* An OFFER is no lease yet. */
    len = dhcp_reply(frame, guest_mac, "198.19.0.15", 2);
    g_assert_false(gateway_leases_note(&leases, frame, len, 1));
    len = dhcp_reply(frame, guest_mac, "198.19.0.15", 5);
    g_assert_true(gateway_leases_note(&leases, frame, len, 1));
    g_assert_cmpuint(leases.n, ==, 1);
    g_assert_cmpuint(leases.leases[0].lease_s, ==, 86400);
    inet_ntop(AF_INET, &leases.leases[0].addr, addr, sizeof(addr));
    g_assert_cmpstr(addr, ==, "198.19.0.15");
    /* A renewal replaces the MAC's lease. */
    g_assert_true(gateway_leases_note(&leases, frame, len, 2));
    g_assert_cmpuint(leases.n, ==, 1);
    /* Bounded: more MACs than slirp's range keep the newest. */
    memcpy(mac, guest_mac, 6);
    for (guint i = 0; i < 2 * GATEWAY_DHCP_RANGE; i++) {
        mac[5] = 0x10 + i;
        len = dhcp_reply(frame, mac, "198.19.0.16", 5);
        g_assert_true(gateway_leases_note(&leases, frame, len, 10 + i));
    }
    g_assert_cmpuint(leases.n, ==, GATEWAY_DHCP_RANGE);
    for (guint i = 0; i < leases.n; i++) {
        g_assert_cmpint(leases.leases[i].granted_us, >=,
                        10 + GATEWAY_DHCP_RANGE);
    }
    /* Truncated ACKs are not read. */
    len = dhcp_reply(frame, guest_mac, "198.19.0.15", 5);
    for (gsize cut = 0; cut < len - 250 + 243; cut++) {
        g_assert_false(gateway_leases_note(&leases, frame, cut, 99));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gateway/dns/answers-a-given-name",
                    test_answers_our_name);
    g_test_add_func("/gateway/dns/other-types-of-a-given-name-get-none",
                    test_other_type_no_record);
    g_test_add_func("/gateway/dns/leaves-the-rest-to-slirp",
                    test_leaves_the_rest_to_slirp);
    g_test_add_func("/gateway/dhcp/leases-from-acks", test_leases_from_acks);
    return g_test_run();
}
