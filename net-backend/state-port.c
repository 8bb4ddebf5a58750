/*
 * The migration state between a port and LimeviState (state.h): what
 * the source collects, and what the destination checks in full before
 * it replaces anything.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "rx.h"
#include "state.h"

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

static void collect_sender(const char *vm, guint64 next, GBytes *held,
                           gpointer data)
{
    LimeviStateSender s = { g_strdup(vm), next,
                            held ? g_bytes_ref(held) : NULL };

    g_array_append_val((GArray *)data, s);
}

/* Known MACs spare the destination a flood of unicast frames. */
static void collect_mac(const guint8 mac[6], const char *vm, gpointer data)
{
    LimeviStateMac m;

    memcpy(m.mac, mac, 6);
    m.vm = g_strdup(vm);
    g_array_append_val((GArray *)data, m);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviBuffer, limevi_buffer_free)

/*
 * What waits for a route's peer goes with the VM, oldest first: what the
 * link had no room for yet, then what was held while the peer moved.
 * Neither is sent from here after the save (tx.c), and the destination
 * sends it once the VM runs there.
 */
static GBytes *save_route_frames(LimeviPort *port, LimeviRoute *route)
{
    g_autoptr(LimeviBuffer) all = NULL;
    LimeviBuffer *parts[] = { route->backlog, route->held };

    if (!route->backlog || !route->held) {
        LimeviBuffer *one = route->backlog ? route->backlog : route->held;

        return one ? limevi_buffer_save(one) : g_bytes_new(NULL, 0);
    }
    /* Each part is within buffer-limit; together they may not be. */
    all = limevi_buffer_new(2 * port->buffer_limit);
    for (guint i = 0; i < G_N_ELEMENTS(parts); i++) {
        g_autoptr(GBytes) part = limevi_buffer_save(parts[i]);
        gsize n;
        const guint8 *p = g_bytes_get_data(part, &n);

        /* Our own save: it loads. */
        limevi_buffer_load(all, p, n, NULL);
    }
    return limevi_buffer_save(all);
}

GBytes *limevi_state_save(LimeviPort *port)
{
    g_autoptr(LimeviState) state = limevi_state_new();
    LimeviRouteIter it;
    LimeviRoute *route;

    state->epoch = port->epoch;
    state->source = reachable_endpoint(port);
    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        LimeviStateRoute r = {
            .vm = g_strdup(route->vm),
            .endpoint = g_strdup(route->endpoint),
            .vc = g_strdup(route->vc),
            .lan = g_strdup(route->lan),
            .status = route->status,
            .epoch = route->epoch,
            .tx_seq = route->tx_seq,
            .held = save_route_frames(port, route),
        };

        g_array_append_val(state->routes, r);
    }
    limevi_rx_senders_foreach(port, collect_sender, state->senders);
    limevi_mac_table_foreach(port->macs, collect_mac, state->macs);
    state->held = limevi_buffer_save(port->held);
    state->tx_counter = limevi_udp_next_counter(port->udp);
    if (port->auth) {
        GByteArray *windows = g_byte_array_new();

        limevi_auth_save(port->auth, windows);
        state->replay = g_byte_array_free_to_bytes(windows);
    }
    return limevi_state_encode(state);
}

static gboolean load_fail(GError **error, const char *what, guint i)
{
    g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                "migration state: %s %u is malformed", what, i + 1);
    return FALSE;
}

/* A saved buffer into a new one; NULL for none (empty). */
static gboolean load_buffer(LimeviPort *port, GBytes *saved,
                            LimeviBuffer **out, GError **error)
{
    gsize n;
    const guint8 *p = g_bytes_get_data(saved, &n);

    *out = NULL;
    if (!n) {
        return TRUE;
    }
    *out = limevi_buffer_new(port->buffer_limit);
    if (!limevi_buffer_load(*out, p, n, error)) {
        g_clear_pointer(out, limevi_buffer_free);
        return FALSE;
    }
    return TRUE;
}

static gboolean load_routes(LimeviPort *port, const LimeviState *state,
                            LimeviRouteTable *table, GError **error)
{
    for (guint i = 0; i < state->routes->len; i++) {
        LimeviStateRoute *r = &g_array_index(state->routes,
                                             LimeviStateRoute, i);
        g_autoptr(GSocketAddress) addr = NULL;
        LimeviRoute *route;

        addr = limevi_udp_parse_endpoint(r->endpoint, "endpoint", FALSE,
                                         NULL);
        if (!addr || !limevi_name_valid(r->vm, "vm", NULL) ||
            !limevi_name_valid(r->vc, "vc", NULL) ||
            !limevi_name_valid(r->lan, "lan", NULL) || r->status > 1) {
            return load_fail(error, "route", i);
        }
        /* A source saves each peer once; a second row would be dropped
         * (an older epoch) or overwrite the first's held frames. */
        if (limevi_route_lookup(table, r->vm)) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "migration state: route %u repeats vm '%s'", i + 1,
                        r->vm);
            return FALSE;
        }
        route = limevi_route_update(table, r->vm, addr, r->endpoint,
                                    r->status, r->vc, r->lan, r->epoch);
        route->tx_seq = r->tx_seq;
        /* For a valid route it waits for the link, sent once the VM runs
         * here; for a moving peer, for its announcement. */
        if (!load_buffer(port, r->held, r->status == LIMEVI_ROUTE_VALID ?
                         &route->backlog : &route->held, error)) {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean load_senders(LimeviPort *port, const LimeviState *state,
                             GHashTable *senders, GError **error)
{
    if (state->senders->len > LIMEVI_RX_SENDERS_MAX) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: more than %u senders",
                    LIMEVI_RX_SENDERS_MAX);
        return FALSE;
    }
    for (guint i = 0; i < state->senders->len; i++) {
        LimeviStateSender *s = &g_array_index(state->senders,
                                              LimeviStateSender, i);

        if (!limevi_name_valid(s->vm, "vm", NULL)) {
            return load_fail(error, "sender", i);
        }
        if (!limevi_rx_senders_add(port, senders, s->vm, s->next, s->held,
                                   error)) {
            g_prefix_error(error, "migration state: sender %s: ", s->vm);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * The source's replay windows, so that what was captured before the
 * migration is refused here too, and a nonce counter above every one the
 * source used or will use while it forwards.  A state without them (an
 * older version, or a source without a key) leaves the windows empty.
 */
static gboolean load_replay(LimeviPort *port, const LimeviState *state,
                            GError **error)
{
    gsize len = state->replay ? g_bytes_get_size(state->replay) : 0;

    if (!port->auth) {
        return TRUE;
    }
    if (len && !limevi_auth_load(port->auth,
                                 g_bytes_get_data(state->replay, NULL), len,
                                 error)) {
        g_prefix_error(error, "migration state: ");
        return FALSE;
    }
    limevi_udp_set_next_counter(port->udp,
                                limevi_crypto_first_counter(state->tx_counter));
    return TRUE;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviRouteTable, limevi_route_table_free)

gboolean limevi_state_load(LimeviPort *port, const guint8 *data, gsize len,
                           GError **error)
{
    g_autoptr(LimeviState) state = limevi_state_decode(data, len, error);
    g_autoptr(LimeviRouteTable) table = NULL;
    g_autoptr(GHashTable) senders = NULL;
    g_autoptr(LimeviBuffer) held = NULL;
    g_autoptr(GSocketAddress) source = NULL;

    if (!state) {
        return FALSE;
    }
    /* Build everything aside first: a bad state changes nothing. */
    table = limevi_route_table_new();
    senders = limevi_rx_senders_new();
    if (!load_routes(port, state, table, error) ||
        !load_senders(port, state, senders, error) ||
        !load_buffer(port, state->held, &held, error)) {
        return FALSE;
    }
    if (state->routes->len > LIMEVI_PEERS_MAX) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: more than %u routes", LIMEVI_PEERS_MAX);
        return FALSE;
    }
    /* Last of what may fail: it changes the windows when it succeeds. */
    if (!load_replay(port, state, error)) {
        return FALSE;
    }
    source = limevi_udp_parse_endpoint(state->source, "source", TRUE, NULL);
    /* A wildcard (a source without peers) would lead back to ourselves. */
    if (source && g_inet_address_get_is_any(g_inet_socket_address_get_address(
                      G_INET_SOCKET_ADDRESS(source)))) {
        g_clear_object(&source);
    }

    limevi_route_table_free(port->routes);
    port->routes = g_steal_pointer(&table);
    /* Frames for the guest now come from three ways: keep them in order,
     * from what waited for a gap at the source on. */
    limevi_rx_reseq_begin(port);
    limevi_rx_senders_replace(port, g_steal_pointer(&senders));
    limevi_buffer_free(port->held);
    port->held = held ? g_steal_pointer(&held)
                      : limevi_buffer_new(port->buffer_limit);
    port->epoch = state->epoch;
    g_set_object(&port->source_addr, source);
    for (guint i = 0; i < state->macs->len; i++) {
        LimeviStateMac *m = &g_array_index(state->macs, LimeviStateMac, i);

        if (limevi_name_valid(m->vm, "vm", NULL)) {
            limevi_mac_table_learn(port->macs, m->mac, m->vm, strlen(m->vm));
        }
    }
    return TRUE;
}
