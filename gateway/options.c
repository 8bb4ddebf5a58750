/*
 * limevi-gateway's command line: the port's identity (as limevi-tap's),
 * the slirp network, the forwards and the DNS names.  Every error names
 * the option as the user typed it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <string.h>

#include "gateway.h"
#include "limevi.h"

G_DEFINE_QUARK(limevi-gateway-error-quark, gateway_error)

#define opt_error(error, ...) \
    g_set_error(error, GATEWAY_ERROR, GATEWAY_ERROR_OPTION, __VA_ARGS__)

gboolean gateway_parse_ipv4(const char *s, struct in_addr *addr)
{
    return inet_pton(AF_INET, s, addr) == 1;
}

gboolean gateway_addr_in_net(const GatewayOptions *opts, struct in_addr a)
{
    return (a.s_addr & opts->mask.s_addr) == opts->net.s_addr;
}

static guint32 host_part(const GatewayOptions *opts, struct in_addr a)
{
    return ntohl(a.s_addr & ~opts->mask.s_addr);
}

/* "A.B.C.D/LEN", LEN 8..29: room for the gateway, DNS and 16 leases. */
static gboolean parse_net(GatewayOptions *opts, const char *spec,
                          GError **error)
{
    const char *slash = strchr(spec, '/');
    g_autofree char *addr = NULL;
    guint64 len;
    char *end;

    if (!slash) {
        opt_error(error, "'--net' expects ADDR/LEN, got '%s'", spec);
        return FALSE;
    }
    addr = g_strndup(spec, slash - spec);
    len = g_ascii_strtoull(slash + 1, &end, 10);
    if (!gateway_parse_ipv4(addr, &opts->net) || end == slash + 1 || *end ||
        len < 8 || len > 27) {
        opt_error(error, "'--net' expects an IPv4 ADDR/LEN with LEN 8..27, "
                  "got '%s'", spec);
        return FALSE;
    }
    opts->prefix = len;
    opts->mask.s_addr = htonl(~0u << (32 - len));
    if (opts->net.s_addr & ~opts->mask.s_addr) {
        opt_error(error, "'--net' %s has host bits set", spec);
        return FALSE;
    }
    return TRUE;
}

/* An address of --net that is neither the network nor its broadcast;
 * @text NULL takes @dflt (a host part). */
static gboolean parse_member(GatewayOptions *opts, const char *option,
                             const char *text, guint32 dflt,
                             struct in_addr *out, GError **error)
{
    guint32 last = ~ntohl(opts->mask.s_addr);

    if (!text) {
        out->s_addr = opts->net.s_addr | htonl(dflt);
        return TRUE;
    }
    if (!gateway_parse_ipv4(text, out)) {
        opt_error(error, "'%s' expects an IPv4 address, got '%s'", option,
                  text);
        return FALSE;
    }
    if (!gateway_addr_in_net(opts, *out) || host_part(opts, *out) == 0 ||
        host_part(opts, *out) == last) {
        opt_error(error, "'%s' %s is not a host address of --net", option,
                  text);
        return FALSE;
    }
    return TRUE;
}

/* The 16 DHCP addresses must fit in --net and miss --host and --dns. */
static gboolean check_dhcp_range(GatewayOptions *opts, GError **error)
{
    guint32 first = host_part(opts, opts->dhcp_start);
    guint32 last = first + GATEWAY_DHCP_RANGE - 1;
    guint32 host = host_part(opts, opts->host);
    guint32 dns = host_part(opts, opts->dns);

    if (last >= ~ntohl(opts->mask.s_addr)) {
        opt_error(error, "'--dhcp-start' leaves no room in --net for %d "
                  "leases", GATEWAY_DHCP_RANGE);
        return FALSE;
    }
    if ((host >= first && host <= last) || (dns >= first && dns <= last)) {
        opt_error(error, "'--dhcp-start' range of %d leases takes the "
                  "address of '--%s'", GATEWAY_DHCP_RANGE,
                  host >= first && host <= last ? "host" : "dns");
        return FALSE;
    }
    if (host == dns) {
        opt_error(error, "'--dns' must differ from '--host'");
        return FALSE;
    }
    return TRUE;
}

/* "VM=HOST:PORT[@LAN]", as limevi-tap takes it. */
static gboolean add_route(GatewayOptions *opts, const char *spec,
                          GError **error)
{
    char *copy = g_strdup(spec);
    char *eq = strchr(copy, '=');
    LimeviRouteConfig route = { 0 };
    char *at;

    g_ptr_array_add(opts->strings, copy);
    if (!eq || eq == copy || !eq[1]) {
        opt_error(error, "'--route' expects VM=HOST:PORT[@LAN], got '%s'",
                  spec);
        return FALSE;
    }
    *eq = '\0';
    route.vm = copy;
    route.endpoint = eq + 1;
    at = strrchr(eq + 1, '@');
    if (at) {
        *at = '\0';
        route.lan = at + 1;
    }
    g_array_append_val(opts->routes, route);
    return TRUE;
}

static void dns_name_clear(gpointer p)
{
    g_free(((GatewayDnsName *)p)->name);
}

static GatewayOptions *options_new(void)
{
    GatewayOptions *opts = g_new0(GatewayOptions, 1);

    opts->routes = g_array_new(FALSE, TRUE, sizeof(LimeviRouteConfig));
    opts->forwards = g_array_new(FALSE, TRUE, sizeof(GatewayForward));
    opts->dns_names = g_array_new(FALSE, TRUE, sizeof(GatewayDnsName));
    g_array_set_clear_func(opts->dns_names, dns_name_clear);
    opts->strings = g_ptr_array_new_with_free_func(g_free);
    return opts;
}

void gateway_options_free(GatewayOptions *opts)
{
    if (!opts) {
        return;
    }
    g_free(opts->vm);
    g_free(opts->vc);
    g_free(opts->lan);
    g_free(opts->listen);
    g_free(opts->control);
    g_free(opts->key_file);
    g_array_unref(opts->routes);
    g_array_unref(opts->forwards);
    g_array_unref(opts->dns_names);
    g_ptr_array_unref(opts->strings);
    g_free(opts);
}

typedef struct {
    char *net, *host, *dhcp_start, *dns;
    GStrv routes, forwards, dns_names;
} RawOptions;

static void raw_clear(RawOptions *raw)
{
    g_free(raw->net);
    g_free(raw->host);
    g_free(raw->dhcp_start);
    g_free(raw->dns);
    g_strfreev(raw->routes);
    g_strfreev(raw->forwards);
    g_strfreev(raw->dns_names);
}

/* The checks on values, once GOptionContext has sorted them. */
static gboolean options_check(GatewayOptions *opts, RawOptions *raw,
                              GError **error)
{
    const char *missing = !opts->vm ? "vm" : !opts->vc ? "vc" :
        !opts->lan ? "lan" : !opts->listen ? "listen" : !raw->net ? "net" :
        NULL;

    if (missing) {
        opt_error(error, "'--%s' is required", missing);
        return FALSE;
    }
    if (!limevi_name_valid(opts->vm, "--vm", error) ||
        !limevi_name_valid(opts->vc, "--vc", error) ||
        !limevi_name_valid(opts->lan, "--lan", error)) {
        (*error)->domain = GATEWAY_ERROR;
        (*error)->code = GATEWAY_ERROR_OPTION;
        return FALSE;
    }
    /* Defaults as libslirp's own: .2 the gateway, .3 DNS, .15 DHCP. */
    if (!parse_net(opts, raw->net, error) ||
        !parse_member(opts, "--host", raw->host, 2, &opts->host, error) ||
        !parse_member(opts, "--dns", raw->dns, 3, &opts->dns, error) ||
        !parse_member(opts, "--dhcp-start", raw->dhcp_start, 15,
                      &opts->dhcp_start, error) ||
        !check_dhcp_range(opts, error)) {
        return FALSE;
    }
    for (guint i = 0; raw->routes && raw->routes[i]; i++) {
        if (!add_route(opts, raw->routes[i], error)) {
            return FALSE;
        }
    }
    for (guint i = 0; raw->forwards && raw->forwards[i]; i++) {
        if (!gateway_forward_add(opts, raw->forwards[i], error)) {
            return FALSE;
        }
    }
    for (guint i = 0; raw->dns_names && raw->dns_names[i]; i++) {
        if (!gateway_dns_name_add(opts, raw->dns_names[i], error)) {
            return FALSE;
        }
    }
    return TRUE;
}

GatewayOptions *gateway_options_parse(int argc, char **argv, GError **error)
{
    g_autoptr(GatewayOptions) opts = options_new();
    RawOptions raw = { 0 };
    GOptionEntry entries[] = {
        { "vm", 0, 0, G_OPTION_ARG_STRING, &opts->vm,
          "the gateway's member name in the VC", "NAME" },
        { "vc", 0, 0, G_OPTION_ARG_STRING, &opts->vc, "virtual cluster",
          "VC" },
        { "lan", 0, 0, G_OPTION_ARG_STRING, &opts->lan, "LAN of the VC",
          "LAN" },
        { "listen", 0, 0, G_OPTION_ARG_STRING, &opts->listen,
          "UDP address of the tunnel endpoint", "HOST:PORT" },
        { "control", 0, 0, G_OPTION_ARG_FILENAME, &opts->control,
          "a unix socket: each connection gets the stats line", "PATH" },
        { "key-file", 0, 0, G_OPTION_ARG_FILENAME, &opts->key_file,
          "the VC's key: 32 bytes or 64 hex digits", "FILE" },
        { "insecure", 0, 0, G_OPTION_ARG_NONE, &opts->insecure,
          "listen beyond loopback without a key", NULL },
        { "route", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw.routes,
          "a peer (repeatable)", "VM=HOST:PORT[@LAN]" },
        { "net", 0, 0, G_OPTION_ARG_STRING, &raw.net,
          "the LAN's IPv4 network", "ADDR/LEN" },
        { "host", 0, 0, G_OPTION_ARG_STRING, &raw.host,
          "the gateway's address (default: .2)", "ADDR" },
        { "dhcp-start", 0, 0, G_OPTION_ARG_STRING, &raw.dhcp_start,
          "first of 16 DHCP addresses (default: .15)", "ADDR" },
        { "dns", 0, 0, G_OPTION_ARG_STRING, &raw.dns,
          "the DNS server's address (default: .3)", "ADDR" },
        { "dns-name", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw.dns_names,
          "a name the DNS server answers itself (repeatable)",
          "NAME=ADDR" },
        { "forward", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw.forwards,
          "a host port forwarded to a guest (repeatable)",
          "tcp|udp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- DHCP, DNS, NAT and port forwards for a "
                             "LimeVI LAN");
    gboolean ok;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Example:\n  limevi-gateway --vm gw --vc vc1 --lan lan1 "
        "--listen 127.0.0.1:7000 \\\n"
        "    --route vm1=127.0.0.1:7001 --net 198.19.0.0/24 \\\n"
        "    --forward tcp:127.0.0.1:8080-198.19.0.15:80 --key-file vc1.key\n"
        "\nSIGUSR1 prints one JSON line of statistics (so does each\n"
        "connection to --control); SIGTERM ends it.\n"
        "Exit status: 0 when ended by a signal, 1 when it cannot start, "
        "2 on a bad option.\n");
    ok = g_option_context_parse(ctx, &argc, &argv, error);
    if (ok && argc > 1) {
        opt_error(error, "unexpected argument '%s'", argv[1]);
        ok = FALSE;
    } else if (!ok) {
        (*error)->domain = GATEWAY_ERROR;
        (*error)->code = GATEWAY_ERROR_OPTION;
    }
    ok = ok && options_check(opts, &raw, error);
    raw_clear(&raw);
    return ok ? g_steal_pointer(&opts) : NULL;
}
