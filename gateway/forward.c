/*
 * The gateway's tables from the command line: port forwards in QEMU's
 * hostfwd syntax, and the names its DNS server answers itself.  Both are
 * checked whole before anything is added.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <string.h>

#include "gateway.h"

#define opt_error(error, ...) \
    g_set_error(error, GATEWAY_ERROR, GATEWAY_ERROR_OPTION, __VA_ARGS__)

/* "ADDR:PORT" with ADDR possibly empty (@dflt); PORT 1..65535. */
static gboolean parse_addr_port(const char *text, struct in_addr dflt,
                                struct in_addr *addr, guint16 *port)
{
    const char *colon = strrchr(text, ':');
    g_autofree char *host = NULL;
    guint64 n;
    char *end;

    if (!colon) {
        return FALSE;
    }
    host = g_strndup(text, colon - text);
    n = g_ascii_strtoull(colon + 1, &end, 10);
    if (end == colon + 1 || *end || n < 1 || n > 65535) {
        return FALSE;
    }
    *port = n;
    if (!*host) {
        *addr = dflt;
        return TRUE;
    }
    return gateway_parse_ipv4(host, addr);
}

static gboolean same_host_socket(const GatewayForward *a,
                                 const GatewayForward *b)
{
    /* A wildcard and a specific address of the same port collide too. */
    return a->udp == b->udp && a->host_port == b->host_port &&
           (a->host_addr.s_addr == b->host_addr.s_addr ||
            a->host_addr.s_addr == INADDR_ANY ||
            b->host_addr.s_addr == INADDR_ANY);
}

gboolean gateway_forward_add(GatewayOptions *opts, const char *spec,
                             GError **error)
{
    GatewayForward fwd = { 0 };
    struct in_addr any = { .s_addr = INADDR_ANY };
    g_autofree char *host = NULL;
    const char *rest, *dash;
    guint32 hostpart;

    if (g_str_has_prefix(spec, "tcp:")) {
        rest = spec + 4;
    } else if (g_str_has_prefix(spec, "udp:")) {
        fwd.udp = TRUE;
        rest = spec + 4;
    } else {
        opt_error(error, "'--forward' %s: expects tcp: or udp: first",
                  spec);
        return FALSE;
    }
    dash = strchr(rest, '-');
    if (!dash) {
        opt_error(error, "'--forward' %s: expects "
                  "HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT", spec);
        return FALSE;
    }
    host = g_strndup(rest, dash - rest);
    if (!parse_addr_port(host, any, &fwd.host_addr, &fwd.host_port)) {
        opt_error(error, "'--forward' %s: bad host address '%s' "
                  "(expects IPv4ADDR:PORT)", spec, host);
        return FALSE;
    }
    if (!parse_addr_port(dash + 1, opts->dhcp_start, &fwd.guest_addr,
                         &fwd.guest_port)) {
        opt_error(error, "'--forward' %s: bad guest address '%s' "
                  "(expects IPv4ADDR:PORT)", spec, dash + 1);
        return FALSE;
    }
    hostpart = ntohl(fwd.guest_addr.s_addr & ~opts->mask.s_addr);
    if (!gateway_addr_in_net(opts, fwd.guest_addr) || hostpart == 0 ||
        hostpart == ~ntohl(opts->mask.s_addr) ||
        fwd.guest_addr.s_addr == opts->host.s_addr ||
        fwd.guest_addr.s_addr == opts->dns.s_addr) {
        opt_error(error, "'--forward' %s: guest address %s is not a "
                  "guest's address in --net", spec, inet_ntoa(fwd.guest_addr));
        return FALSE;
    }
    for (guint i = 0; i < opts->forwards->len; i++) {
        const GatewayForward *old =
            &g_array_index(opts->forwards, GatewayForward, i);

        if (same_host_socket(old, &fwd)) {
            g_autofree char *other = gateway_forward_to_string(old);

            opt_error(error, "'--forward' %s: its host port is taken by "
                      "'--forward' %s", spec, other);
            return FALSE;
        }
    }
    if (opts->forwards->len >= GATEWAY_FORWARDS_MAX) {
        opt_error(error, "'--forward': more than %d forwards",
                  GATEWAY_FORWARDS_MAX);
        return FALSE;
    }
    g_array_append_val(opts->forwards, fwd);
    return TRUE;
}

char *gateway_forward_to_string(const GatewayForward *fwd)
{
    char host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN];

    inet_ntop(AF_INET, &fwd->host_addr, host, sizeof(host));
    inet_ntop(AF_INET, &fwd->guest_addr, guest, sizeof(guest));
    return g_strdup_printf("%s:%s:%u-%s:%u", fwd->udp ? "udp" : "tcp",
                           host, fwd->host_port, guest, fwd->guest_port);
}

/* A DNS name: dot-separated labels of 1..63 [A-Za-z0-9-], 253 at most. */
static gboolean dns_name_valid(const char *name)
{
    gsize label = 0, len = strlen(name);

    if (len == 0 || len > 253) {
        return FALSE;
    }
    for (const char *p = name; ; p++) {
        if (*p == '.' || !*p) {
            if (label == 0 || label > 63) {
                return FALSE;
            }
            if (!*p) {
                return TRUE;
            }
            label = 0;
        } else if (g_ascii_isalnum(*p) || *p == '-') {
            label++;
        } else {
            return FALSE;
        }
    }
}

gboolean gateway_dns_name_add(GatewayOptions *opts, const char *spec,
                              GError **error)
{
    const char *eq = strchr(spec, '=');
    g_autofree char *name = NULL;
    GatewayDnsName entry = { 0 };

    if (!eq) {
        opt_error(error, "'--dns-name' expects NAME=ADDR, got '%s'", spec);
        return FALSE;
    }
    name = g_ascii_strdown(spec, eq - spec);
    if (g_str_has_suffix(name, ".")) {
        name[strlen(name) - 1] = '\0';
    }
    if (!dns_name_valid(name)) {
        opt_error(error, "'--dns-name' %s: '%s' is not a DNS name", spec,
                  name);
        return FALSE;
    }
    if (!gateway_parse_ipv4(eq + 1, &entry.addr)) {
        opt_error(error, "'--dns-name' %s: '%s' is not an IPv4 address",
                  spec, eq + 1);
        return FALSE;
    }
    if (gateway_dns_lookup(opts, name)) {
        opt_error(error, "'--dns-name' %s: '%s' is given twice", spec,
                  name);
        return FALSE;
    }
    if (opts->dns_names->len >= GATEWAY_DNS_NAMES_MAX) {
        opt_error(error, "'--dns-name': more than %d names",
                  GATEWAY_DNS_NAMES_MAX);
        return FALSE;
    }
    entry.name = g_steal_pointer(&name);
    g_array_append_val(opts->dns_names, entry);
    return TRUE;
}

const GatewayDnsName *gateway_dns_lookup(const GatewayOptions *opts,
                                         const char *name)
{
    for (guint i = 0; i < opts->dns_names->len; i++) {
        const GatewayDnsName *e =
            &g_array_index(opts->dns_names, GatewayDnsName, i);

        if (!g_ascii_strcasecmp(e->name, name)) {
            return e;
        }
    }
    return NULL;
}
