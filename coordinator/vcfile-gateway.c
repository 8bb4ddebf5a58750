/*
 * [gateway NAME] groups of the VC file: a limevi-gateway on one LAN.  Its
 * values are checked by the gateway's own option parser, so the VC file
 * refuses at load exactly what the gateway would refuse at start.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "gateway.h"
#include "vcfile-private.h"

const char *const vc_gateway_keys[] = {
    "host", "lan", "port", "net", "router", "dhcp-start", "dns",
    "dns-names", "forwards", NULL
};

void vc_gateway_free(LimeviVcGateway *gw)
{
    g_free(gw->name);
    g_free(gw->host);
    g_free(gw->lan);
    g_free(gw->net);
    g_free(gw->router);
    g_free(gw->dhcp_start);
    g_free(gw->dns);
    g_strfreev(gw->dns_names);
    g_strfreev(gw->forwards);
    g_free(gw);
}

LimeviVcGateway *limevi_vc_lan_gateway(const LimeviVc *vc, const char *lan)
{
    for (guint i = 0; i < vc->gateways->len; i++) {
        LimeviVcGateway *gw = vc->gateways->pdata[i];

        if (g_str_equal(gw->lan, lan)) {
            return gw;
        }
    }
    return NULL;
}

static void add(GPtrArray *args, const char *option, const char *value)
{
    g_ptr_array_add(args, g_strdup(option));
    g_ptr_array_add(args, g_strdup(value));
}

GPtrArray *limevi_vc_gateway_args(const LimeviVc *vc,
                                  const LimeviVcGateway *gw,
                                  const char *control)
{
    GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
    const LimeviVcHost *host = limevi_vc_host(vc, gw->host);
    g_autofree char *listen = g_strdup_printf("%s:%u", host->address,
                                              gw->port);

    add(args, "--vm", gw->name);
    add(args, "--vc", vc->name);
    add(args, "--lan", gw->lan);
    add(args, "--listen", listen);
    for (guint i = 0; i < vc->vms->len; i++) {
        const LimeviVcVm *vm = vc->vms->pdata[i];
        const LimeviVcHost *at = limevi_vc_host(vc, vm->host);
        g_autofree char *route = NULL;

        if (!g_str_equal(vm->lan, gw->lan)) {
            continue;
        }
        route = g_strdup_printf("%s=%s:%u", vm->name, at->address, vm->port);
        add(args, "--route", route);
    }
    add(args, "--net", gw->net);
    if (gw->router) {
        add(args, "--host", gw->router);
    }
    if (gw->dhcp_start) {
        add(args, "--dhcp-start", gw->dhcp_start);
    }
    if (gw->dns) {
        add(args, "--dns", gw->dns);
    }
    for (guint i = 0; gw->dns_names[i]; i++) {
        add(args, "--dns-name", gw->dns_names[i]);
    }
    for (guint i = 0; gw->forwards[i]; i++) {
        add(args, "--forward", gw->forwards[i]);
    }
    if (control) {
        add(args, "--control", control);
    }
    /* As the VC's netdevs (launch.c): its key, or insecure without one. */
    if (vc->key) {
        add(args, "--key-file", vc->key);
    } else {
        g_ptr_array_add(args, g_strdup("--insecure"));
    }
    return args;
}

/* "a;b;" -> {"a", "b"}, each stripped; NULL value -> {}. */
static GStrv split_list(const char *value)
{
    g_auto(GStrv) parts = g_strsplit(value ? value : "", ";", -1);
    GPtrArray *out = g_ptr_array_new();

    for (guint i = 0; parts[i]; i++) {
        g_strstrip(parts[i]);
        if (*parts[i]) {
            g_ptr_array_add(out, g_strdup(parts[i]));
        }
    }
    g_ptr_array_add(out, NULL);
    return (GStrv)g_ptr_array_free(out, FALSE);
}

/* The VC file key behind the gateway option an error names. */
static const char *key_of_option(const char *message)
{
    static const char *const map[][2] = {
        { "'--forward'", "forwards" }, { "'--dns-name'", "dns-names" },
        { "'--dhcp-start'", "dhcp-start" }, { "'--dns'", "dns" },
        { "'--host'", "router" }, { "'--net'", "net" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
        if (strstr(message, map[i][0])) {
            return map[i][1];
        }
    }
    return NULL;
}

/* Runs the gateway's own option checks on what the group says. */
static gboolean check_as_gateway(VcParser *p, LimeviVc *vc,
                                 LimeviVcGateway *gw, const char *group,
                                 GError **error)
{
    g_autoptr(GPtrArray) args = limevi_vc_gateway_args(vc, gw, NULL);
    g_autoptr(GError) local = NULL;
    GatewayOptions *opts;
    char **argv;
    int argc;

    g_ptr_array_insert(args, 0, g_strdup("limevi-gateway"));
    argc = args->len;
    /* GOptionContext rearranges argv: give it a shallow copy. */
    argv = g_new0(char *, argc + 1);
    memcpy(argv, args->pdata, argc * sizeof(char *));
    opts = gateway_options_parse(argc, argv, &local);
    g_free(argv);
    if (!opts) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group,
                       key_of_option(local->message), "%s", local->message);
    }
    gateway_options_free(opts);
    return TRUE;
}

static gboolean check_port(VcParser *p, LimeviVc *vc, LimeviVcGateway *gw,
                           const char *group, GError **error)
{
    for (guint i = 0; i < vc->vms->len; i++) {
        const LimeviVcVm *vm = vc->vms->pdata[i];

        if (vm->port == gw->port && g_str_equal(vm->host, gw->host)) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "port",
                           "port %u on host %s is also [vm %s]'s",
                           gw->port, gw->host, vm->name);
        }
    }
    for (guint i = 0; i + 1 < vc->gateways->len; i++) {
        const LimeviVcGateway *other = vc->gateways->pdata[i];

        if (other->port == gw->port && g_str_equal(other->host, gw->host)) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "port",
                           "port %u on host %s is also [gateway %s]'s",
                           gw->port, gw->host, other->name);
        }
    }
    return TRUE;
}

gboolean vc_parse_gateway(VcParser *p, LimeviVc *vc, const char *group,
                          GError **error)
{
    LimeviVcGateway *gw = g_new0(LimeviVcGateway, 1);
    g_autofree char *port = NULL;
    g_autofree char *names = NULL;
    g_autofree char *forwards = NULL;
    LimeviVcGateway *other;
    guint64 number;

    gw->name = g_strdup(group + strlen("gateway "));
    gw->dns_names = split_list(NULL);
    gw->forwards = split_list(NULL);
    g_ptr_array_add(vc->gateways, gw);
    if (limevi_vc_vm(vc, gw->name)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, NULL,
                       "'%s' is also a [vm %s]; a gateway needs a member "
                       "name of its own", gw->name, gw->name);
    }
    if (!vc_get(p, group, "host", TRUE, &gw->host, error)) {
        return FALSE;
    }
    if (!limevi_vc_host(vc, gw->host)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "host",
                       "host '%s' is not declared: there is no [host %s]",
                       gw->host, gw->host);
    }
    if (limevi_vc_host(vc, gw->host)->libvirt) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "host",
                       "host '%s' is a libvirt host; a gateway runs on a "
                       "host without 'libvirt'", gw->host);
    }
    if (!vc_get(p, group, "lan", TRUE, &gw->lan, error)) {
        return FALSE;
    }
    if (!g_strv_contains((const char *const *)vc->lans, gw->lan)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "lan",
                       "LAN '%s' is not declared in [vc] lans", gw->lan);
    }
    other = limevi_vc_lan_gateway(vc, gw->lan);
    if (other != gw) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "lan",
                       "LAN '%s' already has gateway '%s'", gw->lan,
                       other->name);
    }
    if (!vc_get(p, group, "port", TRUE, &port, error)) {
        return FALSE;
    }
    if (!vc_parse_uint(port, 1, G_MAXUINT16, &number)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "port",
                       "expects a UDP port from 1 to 65535, got '%s'", port);
    }
    gw->port = number;
    if (!check_port(p, vc, gw, group, error) ||
        !vc_get(p, group, "net", TRUE, &gw->net, error) ||
        !vc_get(p, group, "router", FALSE, &gw->router, error) ||
        !vc_get(p, group, "dhcp-start", FALSE, &gw->dhcp_start, error) ||
        !vc_get(p, group, "dns", FALSE, &gw->dns, error) ||
        !vc_get(p, group, "dns-names", FALSE, &names, error) ||
        !vc_get(p, group, "forwards", FALSE, &forwards, error)) {
        return FALSE;
    }
    g_strfreev(gw->dns_names);
    gw->dns_names = split_list(names);
    g_strfreev(gw->forwards);
    gw->forwards = split_list(forwards);
    return check_as_gateway(p, vc, gw, group, error);
}
