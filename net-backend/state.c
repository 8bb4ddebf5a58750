/*
 * The state that travels with a migration (docs/state.md): our epoch,
 * where the destination reaches the source, the routing table with each
 * peer's sequence counter and held frames, each sender's next sequence
 * number, the learnt MACs and the frames held for the guest.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "rx.h"
#include "state.h"

static void save_sender(const char *vm, guint64 next, gpointer data)
{
    g_variant_builder_add(data, "(st)", vm, next);
}


static void save_mac(const guint8 mac[6], const char *vm, gpointer data)
{
    g_variant_builder_add(data, "(@ays)",
                          g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE,
                                                    mac, 6, 1), vm);
}

/*
 * Where the destination reaches us.  Bound to a wildcard (source and
 * destination run the same command line), the address the kernel sends
 * from towards a peer of our LAN: the destination is on that network too.
 */
static char *reachable_endpoint(LimeviPort *port)
{
    LimeviRouteIter it;
    LimeviRoute *route;

    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        if (limevi_route_in_lan(route, port->vc, port->lan)) {
            return limevi_udp_endpoint_toward(port->udp, route->addr);
        }
    }
    return limevi_udp_endpoint_toward(port->udp, NULL);
}

GBytes *limevi_state_save(LimeviPort *port)
{
    g_autoptr(GBytes) held = limevi_buffer_save(port->held);
    g_autofree char *source = reachable_endpoint(port);
    GVariantBuilder routes, rx, macs;
    LimeviRouteIter it;
    LimeviRoute *route;
    GVariant *state;
    GBytes *bytes;

    g_variant_builder_init(&routes, G_VARIANT_TYPE("a(ssssuutay)"));
    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        g_autoptr(GBytes) rheld = route->held ?
            limevi_buffer_save(route->held) : g_bytes_new(NULL, 0);

        g_variant_builder_add(&routes, "(ssssuut@ay)", route->vm,
                              route->endpoint, route->vc, route->lan,
                              (guint32)route->status, route->epoch,
                              route->tx_seq,
                              g_variant_new_from_bytes(G_VARIANT_TYPE("ay"),
                                                       rheld, TRUE));
    }
    g_variant_builder_init(&rx, G_VARIANT_TYPE("a(st)"));
    limevi_rx_senders_foreach(port, save_sender, &rx);
    /* Known MACs spare the destination a flood of unicast frames. */
    g_variant_builder_init(&macs, G_VARIANT_TYPE("a(ays)"));
    limevi_mac_table_foreach(port->macs, save_mac, &macs);
    state = g_variant_ref_sink(g_variant_new(
        "(uus@a(ssssuutay)@a(st)@a(ays)@ay)", LIMEVI_STATE_VERSION, port->epoch,
        source, g_variant_builder_end(&routes),
        g_variant_builder_end(&rx), g_variant_builder_end(&macs),
        g_variant_new_from_bytes(G_VARIANT_TYPE("ay"), held, TRUE)));
    bytes = g_variant_get_data_as_bytes(state);
    g_variant_unref(state);
    return bytes;
}

static gboolean load_fail(GError **error, const char *what)
{
    g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                "migration state: %s", what);
    return FALSE;
}

gboolean limevi_state_load(LimeviPort *port, const guint8 *data, gsize len,
                           GError **error)
{
    g_autoptr(GBytes) bytes = g_bytes_new(data, len);
    g_autoptr(GVariant) state = NULL;
    g_autoptr(GVariant) routes = NULL;
    g_autoptr(GVariant) rx = NULL;
    g_autoptr(GVariant) macs = NULL;
    g_autoptr(GVariant) held = NULL;
    g_autoptr(GSocketAddress) source = NULL;
    g_autoptr(GHashTable) new_rx = NULL;
    LimeviRouteTable *table;
    LimeviBuffer *new_held;
    const char *source_ep;
    guint32 version, epoch;
    GVariantIter iter;
    const char *name;
    guint64 next;
    GVariant *row;

    state = g_variant_ref_sink(g_variant_new_from_bytes(
        G_VARIANT_TYPE(LIMEVI_STATE_TYPE), bytes, FALSE));
    if (!g_variant_is_normal_form(state)) {
        return load_fail(error, "malformed");
    }
    g_variant_get(state, "(uu&s@a(ssssuutay)@a(st)@a(ays)@ay)", &version,
                  &epoch, &source_ep, &routes, &rx, &macs, &held);
    if (version != LIMEVI_STATE_VERSION) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: version %u, expected %u", version,
                    LIMEVI_STATE_VERSION);
        return FALSE;
    }
    source = limevi_udp_parse_endpoint(source_ep, "source", TRUE, NULL);
    /* A wildcard (a source without peers) would lead back to ourselves. */
    if (source && g_inet_address_get_is_any(g_inet_socket_address_get_address(
                      G_INET_SOCKET_ADDRESS(source)))) {
        g_clear_object(&source);
    }

    /* Build everything aside first: a bad state changes nothing. */
    table = limevi_route_table_new();
    g_variant_iter_init(&iter, routes);
    while ((row = g_variant_iter_next_value(&iter))) {
        g_autoptr(GVariant) rheld = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        const char *vm, *endpoint, *vc, *lan;
        guint32 status, repoch;
        guint64 tx_seq;
        LimeviRoute *route;
        gsize n;
        const guint8 *p;

        g_variant_get(row, "(&s&s&s&suut@ay)", &vm, &endpoint, &vc, &lan,
                      &status, &repoch, &tx_seq, &rheld);
        g_variant_unref(row);
        addr = limevi_udp_parse_endpoint(endpoint, "endpoint", FALSE, NULL);
        if (!addr || !limevi_name_valid(vm, "vm", NULL) ||
            !limevi_name_valid(vc, "vc", NULL) ||
            !limevi_name_valid(lan, "lan", NULL) || status > 1) {
            limevi_route_table_free(table);
            return load_fail(error, "a route is malformed");
        }
        route = limevi_route_update(table, vm, addr, endpoint, status, vc,
                                    lan, repoch);
        route->tx_seq = tx_seq;
        p = g_variant_get_fixed_array(rheld, &n, 1);
        if (n) {
            route->held = limevi_buffer_new(port->buffer_limit);
            if (!limevi_buffer_load(route->held, p, n, error)) {
                limevi_route_table_free(table);
                return FALSE;
            }
        }
    }
    new_rx = limevi_rx_senders_new();
    g_variant_iter_init(&iter, rx);
    while (g_variant_iter_next(&iter, "(&st)", &name, &next)) {
        limevi_rx_senders_add(new_rx, name, next);
    }
    new_held = limevi_buffer_new(port->buffer_limit);
    {
        gsize n;
        const guint8 *p = g_variant_get_fixed_array(held, &n, 1);

        if (n && !limevi_buffer_load(new_held, p, n, error)) {
            limevi_buffer_free(new_held);
            limevi_route_table_free(table);
            return FALSE;
        }
    }

    limevi_route_table_free(port->routes);
    port->routes = table;
    limevi_rx_senders_replace(port, g_steal_pointer(&new_rx));
    limevi_buffer_free(port->held);
    port->held = new_held;
    port->epoch = epoch;
    g_set_object(&port->source_addr, source);
    g_variant_iter_init(&iter, macs);
    while ((row = g_variant_iter_next_value(&iter))) {
        g_autoptr(GVariant) mac = NULL;
        const char *vm;
        gsize n;
        const guint8 *p;

        g_variant_get(row, "(@ay&s)", &mac, &vm);
        g_variant_unref(row);
        p = g_variant_get_fixed_array(mac, &n, 1);
        if (n == 6 && limevi_name_valid(vm, "vm", NULL)) {
            limevi_mac_table_learn(port->macs, p, vm, strlen(vm));
        }
    }
    /* Frames for the guest now come from three ways: keep them in order. */
    limevi_rx_reseq_begin(port);
    return TRUE;
}

