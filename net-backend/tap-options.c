/*
 * limevi-tap's options (see tap-options.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <linux/if.h>
#include <string.h>

#include "tap-options.h"

/*
 * The TAP MTU that keeps every datagram within @path_mtu: its IP and UDP
 * headers, our header (wire.h: 24 bytes and the names it carries, the
 * longest peer name for dst; with a key the seal and the tag too) and the
 * frame's Ethernet header.  0 when nothing would fit.
 */
static int tap_mtu_for(int path_mtu, const LimeviPortConfig *config)
{
    gsize names = strlen(config->vc) + strlen(config->lan) +
                  strlen(config->vm), dst = 0;
    int ip = config->listen[0] == '[' ? 40 : 20;
    int mtu;

    for (guint i = 0; i < config->n_routes; i++) {
        const LimeviRouteConfig *r = &config->routes[i];

        dst = MAX(dst, strlen(r->vm));
        if (r->lan && strlen(r->lan) > strlen(config->lan)) {
            names += strlen(r->lan) - strlen(config->lan);
        }
    }
    mtu = path_mtu - ip - 8 - (int)(24 + names + dst) - 14;
    if (config->key) {
        mtu -= 9 + 16;                      /* key id, counter; tag */
    }
    return mtu >= 68 ? mtu : 0;             /* IPv4's minimum MTU */
}

/* "VM=HOST:PORT[@LAN]" into @route; strings point into @spec. */
static gboolean parse_route(char *spec, LimeviRouteConfig *route,
                            GError **error)
{
    char *eq = strchr(spec, '=');
    char *at;

    if (!eq || eq == spec || !eq[1]) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--route' expects VM=HOST:PORT[@LAN], got '%s'", spec);
        return FALSE;
    }
    *eq = '\0';
    route->vm = spec;
    route->endpoint = eq + 1;
    at = strrchr(eq + 1, '@');
    if (at) {
        *at = '\0';
        route->lan = at + 1;
    }
    return TRUE;
}

void tap_options_clear(TapOptions *o)
{
    g_free(o->tap_name);
    g_free(o->vm);
    g_free(o->vc);
    g_free(o->lan);
    g_free(o->listen);
    g_free(o->key_file);
    g_strfreev(o->route_specs);
}

gboolean tap_options_parse(TapOptions *o, int *argc, char ***argv,
                           GError **error)
{
    GOptionEntry entries[] = {
        { "tap", 0, 0, G_OPTION_ARG_STRING, &o->tap_name,
          "TAP device to create or attach to", "NAME" },
        { "vm", 0, 0, G_OPTION_ARG_STRING, &o->vm,
          "VM name of this endpoint in the VC", "NAME" },
        { "vc", 0, 0, G_OPTION_ARG_STRING, &o->vc, "virtual cluster", "VC" },
        { "lan", 0, 0, G_OPTION_ARG_STRING, &o->lan, "LAN of the VC", "LAN" },
        { "listen", 0, 0, G_OPTION_ARG_STRING, &o->listen,
          "UDP address of the tunnel endpoint", "HOST:PORT" },
        { "route", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->route_specs,
          "a peer (repeatable)", "VM=HOST:PORT[@LAN]" },
        { "buffer-limit", 0, 0, G_OPTION_ARG_INT64, &o->buffer_limit,
          "bytes held while the TAP queue is full", "BYTES" },
        { "path-mtu", 0, 0, G_OPTION_ARG_INT, &o->path_mtu,
          "MTU of the tunnel's path: sets the TAP MTU to fit, never "
          "fragments", "BYTES" },
        { "key-file", 0, 0, G_OPTION_ARG_FILENAME, &o->key_file,
          "the VC's key: 32 bytes or 64 hex digits", "FILE" },
        { "insecure", 0, 0, G_OPTION_ARG_NONE, &o->insecure,
          "listen beyond loopback without a key", NULL },
        { "no-offload", 0, 0, G_OPTION_ARG_NONE, &o->no_offload,
          "read one MTU-size frame per read(), no TSO from the TAP", NULL },
        { "no-udp-gso", 0, 0, G_OPTION_ARG_NONE, &o->no_udp_gso,
          "send every datagram on its own, no UDP_SEGMENT", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- join a TAP device to a LimeVI LAN");

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Example:\n  limevi-tap --tap lv0 --vm host1 --vc vc1 --lan lan1 \\\n"
        "    --listen 198.18.0.1:7000 --route vm1=198.18.0.2:7001 \\\n"
        "    --key-file vc1.key\n");
    if (!g_option_context_parse(ctx, argc, argv, error)) {
        return FALSE;
    }
    if (*argc > 1) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "unexpected argument '%s'", (*argv)[1]);
        return FALSE;
    }
    if (!o->tap_name || !o->vm || !o->vc || !o->lan || !o->listen) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--%s' is required",
                    !o->tap_name ? "tap" : !o->vm ? "vm" : !o->vc ? "vc" :
                    !o->lan ? "lan" : "listen");
        return FALSE;
    }
    if (!o->tap_name[0] || strlen(o->tap_name) >= IFNAMSIZ) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--tap' name '%s' must be 1 to %d characters",
                    o->tap_name, IFNAMSIZ - 1);
        return FALSE;
    }
    if (o->buffer_limit < 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--buffer-limit' must not be negative");
        return FALSE;
    }
    return TRUE;
}

gboolean tap_config_from_options(TapOptions *o, GArray *routes, char **key,
                                 LimeviPortConfig *config, gint *tap_mtu,
                                 GError **error)
{
    gsize key_len = 0;

    for (guint i = 0; o->route_specs && o->route_specs[i]; i++) {
        LimeviRouteConfig r = { 0 };

        if (!parse_route(o->route_specs[i], &r, error)) {
            return FALSE;
        }
        g_array_append_val(routes, r);
    }

    if (o->key_file &&
        !g_file_get_contents(o->key_file, key, &key_len, error)) {
        g_prefix_error(error, "'--key-file': ");
        return FALSE;
    }
    config->key = (const guint8 *)*key;
    config->key_len = key_len;
    config->insecure = o->insecure;
    config->key_option = "'--key-file'";
    config->insecure_option = "'--insecure'";
    config->vm = o->vm;
    config->vc = o->vc;
    config->lan = o->lan;
    config->listen = o->listen;
    config->routes = (const LimeviRouteConfig *)routes->data;
    config->n_routes = routes->len;
    config->buffer_limit = o->buffer_limit;
    config->no_fragment = o->path_mtu != 0;
    config->no_udp_gso = o->no_udp_gso;
    if (o->path_mtu < 0 || o->path_mtu > G_MAXUINT16) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--path-mtu' must be 1..65535, got %d", o->path_mtu);
        return FALSE;
    }
    if (o->path_mtu && !(*tap_mtu = tap_mtu_for(o->path_mtu, config))) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--path-mtu' %d leaves no room for a frame of 68 "
                    "bytes after the tunnel's headers", o->path_mtu);
        return FALSE;
    }
    return TRUE;
}

char *tap_option_message(const char *msg, char **route_specs)
{
    static const char *const same[] = { "vm", "vc", "lan", "listen",
                                        "buffer-limit" };
    guint64 entry;
    char *end;

    if (g_str_has_prefix(msg, "'routes' entry ")) {
        entry = g_ascii_strtoull(msg + strlen("'routes' entry "), &end, 10);
        if (g_str_has_prefix(end, ": ") && route_specs &&
            entry < g_strv_length(route_specs)) {
            return g_strdup_printf("'--route %s': %s", route_specs[entry],
                                   end + 2);
        }
    }
    if (g_str_has_prefix(msg, "'routes' ")) {
        return g_strconcat("'--route' ", msg + strlen("'routes' "), NULL);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(same); i++) {
        g_autofree char *quoted = g_strdup_printf("'%s'", same[i]);

        if (g_str_has_prefix(msg, quoted)) {
            return g_strdup_printf("'--%s'%s", same[i],
                                   msg + strlen(quoted));
        }
    }
    return g_strdup(msg);
}
