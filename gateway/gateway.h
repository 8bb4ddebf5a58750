/*
 * limevi-gateway: a LimeVI port with libslirp behind it, so a VC LAN gets
 * DHCP, DNS, NAT out and port forwards in.  This header holds the parts
 * the unit tests reach: the options, the forward table, the DNS names,
 * the lease table and the frame sniffers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <netinet/in.h>
#include <glib.h>

G_BEGIN_DECLS

#define GATEWAY_ERROR (gateway_error_quark())
GQuark gateway_error_quark(void);

typedef enum {
    GATEWAY_ERROR_OPTION,       /* a bad option: exit status 2 */
    GATEWAY_ERROR_START,        /* cannot start as asked: exit status 1 */
} GatewayError;

/* libslirp's DHCP server hands out this many addresses from dhcp-start
 * (NB_BOOTP_CLIENTS in its bootp.h). */
#define GATEWAY_DHCP_RANGE 16
#define GATEWAY_FORWARDS_MAX 64
#define GATEWAY_DNS_NAMES_MAX 64

typedef struct {
    gboolean udp;
    struct in_addr host_addr;   /* INADDR_ANY when the spec left it empty */
    guint16 host_port;
    struct in_addr guest_addr;
    guint16 guest_port;
} GatewayForward;

typedef struct {
    char *name;                 /* lower case, no trailing dot */
    struct in_addr addr;
} GatewayDnsName;

typedef struct {
    char *vm, *vc, *lan, *listen;
    char *control;              /* unix socket for the stats; NULL: none */
    char *key_file;             /* the VC's key (--key-file); NULL: none */
    gboolean insecure;          /* --insecure: no key beyond loopback */
    GArray *routes;             /* of LimeviRouteConfig, strings in @strings */
    struct in_addr net, mask, host, dhcp_start, dns;
    guint prefix;
    GArray *forwards;           /* of GatewayForward */
    GArray *dns_names;          /* of GatewayDnsName */
    GPtrArray *strings;         /* owns what @routes points to */
} GatewayOptions;

/*
 * Parses the command line.  Returns NULL with @error set
 * (GATEWAY_ERROR_OPTION) naming the option at fault; --help prints and
 * exits 0 as GOptionContext does.
 */
GatewayOptions *gateway_options_parse(int argc, char **argv, GError **error);
void gateway_options_free(GatewayOptions *opts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GatewayOptions, gateway_options_free)

/* "10.1.2.3" into @addr; FALSE when it is not a dotted IPv4 address. */
gboolean gateway_parse_ipv4(const char *s, struct in_addr *addr);
gboolean gateway_addr_in_net(const GatewayOptions *opts, struct in_addr a);

/*
 * "tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT" (or udp:), as QEMU's
 * hostfwd: an empty HOSTADDR means every host address, an empty
 * GUESTADDR the first DHCP address.  The guest address must be a guest's
 * address in --net, and no two forwards may take the same host socket.
 * Appends to @opts->forwards; on error nothing changes.
 */
gboolean gateway_forward_add(GatewayOptions *opts, const char *spec,
                             GError **error);
/* "tcp:127.0.0.1:8080-198.19.0.15:80"; free with g_free. */
char *gateway_forward_to_string(const GatewayForward *fwd);

/* "NAME=ADDR"; appends to @opts->dns_names; on error nothing changes. */
gboolean gateway_dns_name_add(GatewayOptions *opts, const char *spec,
                              GError **error);
const GatewayDnsName *gateway_dns_lookup(const GatewayOptions *opts,
                                         const char *name);

/* ---- Frames (gateway/sniff.c) ---- */

/*
 * When @frame is a DNS query to @opts->dns for a name in
 * @opts->dns_names, writes the Ethernet frame answering it into @reply
 * (at least @reply_size bytes) and returns its length; else 0 (the query
 * goes to libslirp, which forwards it to the host's resolver).
 */
gsize gateway_dns_answer(const GatewayOptions *opts, const guint8 *frame,
                         gsize len, guint8 *reply, gsize reply_size);

typedef struct {
    guint8 mac[6];
    struct in_addr addr;
    gint64 granted_us;          /* g_get_monotonic_time() of the ACK */
    guint32 lease_s;            /* lease time the ACK gave */
} GatewayLease;

/* The DHCP leases libslirp granted, learned from its DHCPACKs; at most
 * GATEWAY_DHCP_RANGE, one per MAC, the oldest replaced first. */
typedef struct {
    GatewayLease leases[GATEWAY_DHCP_RANGE];
    guint n;
} GatewayLeases;

/* Records a lease when @frame is a DHCPACK; returns whether it was one. */
gboolean gateway_leases_note(GatewayLeases *leases, const guint8 *frame,
                             gsize len, gint64 now_us);

G_END_DECLS
