/*
 * The gateway's one JSON line of statistics (SIGUSR1 and at exit): the
 * port's counters and routes, the forwards, the leases, the DNS answers
 * and libslirp's own table of connections.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>

#include <json-glib/json-glib.h>

#include "gateway-main.h"

static void add_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void add_str(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v);
}

static void add_port(JsonBuilder *b, const LimeviPortInfo *info)
{
    const LimeviStats *s = &info->stats;

    add_str(b, "vm", info->vm);
    add_str(b, "vc", info->vc);
    add_str(b, "lan", info->lan);
    add_str(b, "listen", info->listen);
    add_str(b, "state", limevi_port_state_name(info->state));
    json_builder_set_member_name(b, "stats");
    json_builder_begin_object(b);
    add_int(b, "tx-frames", s->tx_frames);
    add_int(b, "tx-bytes", s->tx_bytes);
    add_int(b, "tx-flooded", s->tx_flooded);
    add_int(b, "tx-no-route", s->tx_no_route);
    add_int(b, "tx-errors", s->tx_errors);
    add_int(b, "tx-held", s->tx_held);
    add_int(b, "tx-held-dropped", s->tx_held_dropped);
    add_int(b, "rx-frames", s->rx_frames);
    add_int(b, "rx-bytes", s->rx_bytes);
    add_int(b, "rx-malformed", s->rx_malformed);
    add_int(b, "rx-wrong-vc", s->rx_wrong_vc);
    add_int(b, "rx-wrong-lan", s->rx_wrong_lan);
    add_int(b, "rx-not-for-us", s->rx_not_for_us);
    add_int(b, "rx-duplicates", s->rx_duplicates);
    add_int(b, "rx-gaps", s->rx_gaps);
    add_int(b, "rx-auth-failed", s->rx_auth_failed);
    add_int(b, "rx-replayed", s->rx_replayed);
    add_int(b, "buffer-dropped", info->buffer.dropped);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "routes");
    json_builder_begin_array(b);
    for (guint i = 0; i < info->routes->len; i++) {
        const LimeviRouteInfo *r = g_ptr_array_index(info->routes, i);

        json_builder_begin_object(b);
        add_str(b, "vm", r->vm);
        add_str(b, "endpoint", r->endpoint);
        add_str(b, "status", limevi_route_status_name(r->status));
        add_int(b, "epoch", r->epoch);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void add_leases(JsonBuilder *b, const GatewayLeases *leases,
                       gint64 now_us)
{
    json_builder_set_member_name(b, "leases");
    json_builder_begin_array(b);
    for (guint i = 0; i < leases->n; i++) {
        const GatewayLease *l = &leases->leases[i];
        const guint8 *m = l->mac;
        g_autofree char *mac = g_strdup_printf(
            "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
            m[5]);
        char addr[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &l->addr, addr, sizeof(addr));
        json_builder_begin_object(b);
        add_str(b, "mac", mac);
        add_str(b, "addr", addr);
        add_int(b, "age-s", (now_us - l->granted_us) / G_USEC_PER_SEC);
        add_int(b, "lease-s", l->lease_s);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* slirp_connection_info() is a table for people: one string per row. */
static void add_connections(JsonBuilder *b, Slirp *slirp)
{
    g_autofree char *text = slirp_connection_info(slirp);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    json_builder_set_member_name(b, "connections");
    json_builder_begin_array(b);
    /* The first line is the column header. */
    for (guint i = 1; lines[i]; i++) {
        g_strstrip(lines[i]);
        if (*lines[i]) {
            json_builder_add_string_value(b, lines[i]);
        }
    }
    json_builder_end_array(b);
}

char *gateway_stats_json(Gateway *gw)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(gw->port);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    add_port(b, info);
    json_builder_set_member_name(b, "forwards");
    json_builder_begin_array(b);
    for (guint i = 0; i < gw->opts->forwards->len; i++) {
        g_autofree char *spec = gateway_forward_to_string(
            &g_array_index(gw->opts->forwards, GatewayForward, i));

        json_builder_add_string_value(b, spec);
    }
    json_builder_end_array(b);
    add_leases(b, &gw->leases, g_get_monotonic_time());
    json_builder_set_member_name(b, "dns");
    json_builder_begin_object(b);
    add_int(b, "answered", gw->dns_answered);
    json_builder_end_object(b);
    add_int(b, "guest-errors",
            gateway_slirp_guest_errors(gw->slirp));
    add_connections(b, gateway_slirp_get(gw->slirp));
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}
