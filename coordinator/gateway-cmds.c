/*
 * What limevi start, stop and status say about the VC's gateways.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "commands.h"
#include "gateway-cmds.h"
#include "gateways.h"
#include "locate.h"

void start_gateways(const LimeviVc *vc, int *status)
{
    for (guint i = 0; i < vc->gateways->len; i++) {
        const LimeviVcGateway *gw = vc->gateways->pdata[i];
        g_autoptr(GError) error = NULL;
        GPid pid = limevi_gateway_pid(vc, gw);

        if (pid) {
            g_print("gateway %s: already runs on %s (pid %d)\n", gw->name,
                    gw->host, (int)pid);
        } else if ((pid = limevi_gateway_start(vc, gw, &error))) {
            g_print("gateway %s: started on %s (pid %d)\n", gw->name,
                    gw->host, (int)pid);
        } else {
            g_printerr("limevi: %s\n", error->message);
            *status = EXIT_FAILED;
        }
    }
}

void stop_gateways(const LimeviVc *vc, int *status)
{
    for (guint i = 0; i < vc->gateways->len; i++) {
        const LimeviVcGateway *gw = vc->gateways->pdata[i];
        g_autoptr(GError) error = NULL;

        if (limevi_gateway_stop(vc, gw, &error)) {
            g_print("gateway %s: stopped on %s\n", gw->name, gw->host);
        } else if (error) {
            g_printerr("limevi: %s\n", error->message);
            *status = EXIT_FAILED;
        }
    }
}

/* Where @peer runs, as HOST:PORT, or NULL when it runs nowhere once. */
static char *where_runs(GPtrArray *locs, const char *peer)
{
    for (guint k = 0; k < locs->len; k++) {
        LimeviLocation *loc = locs->pdata[k];

        if (g_str_equal(loc->vm->name, peer) && loc->host &&
            loc->running == 1) {
            return g_strdup_printf("%s:%u", loc->host->address,
                                   loc->vm->port);
        }
    }
    return NULL;
}

/* The gateways: running or not, their forwards, leases and routes, and
 * every route of theirs that does not point where its VM runs. */
guint status_gateways(const LimeviVc *vc, GPtrArray *locs,
                             JsonBuilder *b, gboolean json)
{
    guint wrong = 0;

    json_builder_begin_array(b);
    for (guint i = 0; i < vc->gateways->len; i++) {
        const LimeviVcGateway *gw = vc->gateways->pdata[i];
        g_autoptr(GError) error = NULL;
        GPid pid = limevi_gateway_pid(vc, gw);
        g_autoptr(JsonNode) stats = pid ? limevi_gateway_stats(vc, gw, &error)
                                        : NULL;
        JsonObject *o = stats ? json_node_get_object(stats) : NULL;
        JsonArray *routes = o ? json_object_get_array_member(o, "routes")
                              : NULL;
        JsonArray *leases = o ? json_object_get_array_member(o, "leases")
                              : NULL;
        g_autofree char *text = limevi_routes_text(routes);

        if (!stats) {
            g_printerr("limevi: gateway %s on %s: %s\n", gw->name, gw->host,
                       error ? error->message : "not running");
            wrong++;
        }
        for (guint r = 0; routes && r < json_array_get_length(routes); r++) {
            JsonObject *route = json_array_get_object_element(routes, r);
            const char *peer = json_object_get_string_member(route, "vm");
            const char *at = json_object_get_string_member(route, "endpoint");
            g_autofree char *want = where_runs(locs, peer);

            if (want && strcmp(want, at) != 0) {
                g_printerr("limevi: gateway %s sends %s's frames to %s, but "
                           "%s runs at %s\n", gw->name, peer, at, peer, want);
                wrong++;
            }
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "gateway");
        json_builder_add_string_value(b, gw->name);
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, gw->host);
        json_builder_set_member_name(b, "lan");
        json_builder_add_string_value(b, gw->lan);
        json_builder_set_member_name(b, "pid");
        json_builder_add_int_value(b, pid);
        json_builder_set_member_name(b, "stats");
        if (stats) {
            json_builder_add_value(b, json_node_copy(stats));
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
        if (!json) {
            g_print("gateway %s on %s, lan %s: %s, %u lease%s, %u forward%s"
                    "; routes %s\n", gw->name, gw->host, gw->lan,
                    stats ? "running" : "not running",
                    leases ? json_array_get_length(leases) : 0,
                    leases && json_array_get_length(leases) == 1 ? "" : "s",
                    g_strv_length(gw->forwards),
                    g_strv_length(gw->forwards) == 1 ? "" : "s", text);
        }
    }
    json_builder_end_array(b);
    return wrong;
}

