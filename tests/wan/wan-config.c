/*
 * limevi-wan's command line: its sites and the links between them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <net/if.h>
#include <string.h>

#include "wan.h"

static gboolean name_valid(const char *name)
{
    if (!*name || strlen(name) > 32) {
        return FALSE;
    }
    for (const char *c = name; *c; c++) {
        if (!g_ascii_isalnum(*c) && *c != '_' && *c != '.') {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean wan_parse_sites(Wan *wan, char **specs, GError **err)
{
    wan->n_sites = specs ? g_strv_length(specs) : 0;
    if (wan->n_sites < 2) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "at least two '--site NAME=IFNAME' are required");
        return FALSE;
    }
    wan->sites = g_new0(WanSite, wan->n_sites);
    for (guint i = 0; i < wan->n_sites; i++) {
        WanSite *site = &wan->sites[i];
        const char *eq = strchr(specs[i], '=');

        site->wan = wan;
        site->index = i;
        site->fd = -1;
        if (!eq) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'--site %s': expected NAME=IFNAME", specs[i]);
            return FALSE;
        }
        site->name = g_strndup(specs[i], eq - specs[i]);
        site->ifname = g_strdup(eq + 1);
        if (!name_valid(site->name)) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'--site %s': a site name is 1..32 of "
                        "[A-Za-z0-9_.]", specs[i]);
            return FALSE;
        }
        if (!*site->ifname || strlen(site->ifname) >= IFNAMSIZ) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'--site %s': an interface name is 1..%d characters",
                        specs[i], IFNAMSIZ - 1);
            return FALSE;
        }
        for (guint j = 0; j < i; j++) {
            if (!strcmp(wan->sites[j].name, site->name) ||
                !strcmp(wan->sites[j].ifname, site->ifname)) {
                g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "'--site %s': site or interface given twice",
                            specs[i]);
                return FALSE;
            }
        }
    }
    return TRUE;
}

static gint site_index(Wan *wan, const char *name)
{
    for (guint i = 0; i < wan->n_sites; i++) {
        if (!strcmp(wan->sites[i].name, name)) {
            return i;
        }
    }
    return -1;
}

/* Every pair of sites gets a link: @defaults unless a --link says more. */
gboolean wan_parse_links(Wan *wan, const char *defaults, char **specs,
                            GError **err)
{
    WanParams base;
    guint n = wan->n_sites, k = 0;
    g_autofree gboolean *given = NULL;

    wan_params_init(&base);
    if (defaults && !wan_params_parse(defaults, &base, err)) {
        g_prefix_error(err, "'--default': ");
        return FALSE;
    }
    wan->n_links = n * (n - 1) / 2;
    wan->links = g_new0(WanLink, wan->n_links);
    wan->pair = g_new0(WanLink *, n * n);
    given = g_new0(gboolean, wan->n_links);
    for (guint a = 0; a < n; a++) {
        for (guint b = a + 1; b < n; b++, k++) {
            wan->links[k].a = a;
            wan->links[k].b = b;
            wan_path_init(&wan->links[k].path[0], &base);
            wan_path_init(&wan->links[k].path[1], &base);
            wan->pair[a * n + b] = wan->pair[b * n + a] = &wan->links[k];
        }
    }
    for (guint i = 0; specs && specs[i]; i++) {
        const char *colon = strchr(specs[i], ':');
        g_autofree char *ends = colon ? g_strndup(specs[i], colon - specs[i])
                                      : g_strdup(specs[i]);
        char *dash = strchr(ends, '-');
        WanParams params = base;
        WanLink *link;
        gint a, b;

        if (!dash) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'--link %s': expected A-B[:KEY=VALUE,...]",
                        specs[i]);
            return FALSE;
        }
        *dash = '\0';
        a = site_index(wan, ends);
        b = site_index(wan, dash + 1);
        if (a < 0 || b < 0 || a == b) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'--link %s': %s '%s'", specs[i],
                        a == b ? "a link needs two sites, not" :
                        "no such site", a < 0 ? ends : dash + 1);
            return FALSE;
        }
        if (colon && !wan_params_parse(colon + 1, &params, err)) {
            g_prefix_error(err, "'--link %s': ", specs[i]);
            return FALSE;
        }
        link = wan->pair[a * n + b];
        if (given[link - wan->links]) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'--link %s': link given twice", specs[i]);
            return FALSE;
        }
        given[link - wan->links] = TRUE;
        wan_path_init(&link->path[0], &params);
        wan_path_init(&link->path[1], &params);
    }
    return TRUE;
}
