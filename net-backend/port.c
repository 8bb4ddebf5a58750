/*
 * The LimeviPort: the entry points of both frame paths, route control,
 * creation and reports.  Its state machine is in fsm.c; the flows
 * themselves live in tx.c, rx.c, guest.c, control.c and state.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "control.h"
#include "fsm.h"
#include "guest.h"
#include "keys.h"
#include "port.h"
#include "rx.h"
#include "state.h"
#include "tx.h"

/* ---- The frame paths' entry points ---- */

void limevi_port_receive_from(LimeviPort *port, const guint8 *data,
                              gsize len, gconstpointer from, gsize from_len)
{
    g_autoptr(GSocketAddress) addr = NULL;
    LimeviWirePacket pkt;

    if (!limevi_rx_check(port, data, len, &pkt)) {
        return;
    }
    if (pkt.type == LIMEVI_WIRE_TYPE_DATA) {
        limevi_rx_data(port, &pkt, data, len);
        return;
    }
    port->stats.rx_control++;
    addr = from ? g_socket_address_new_from_native((gpointer)from, from_len)
                : NULL;
    if (limevi_control_receive(port, &pkt, addr) ==
        LIMEVI_CONTROL_OWN_VM_ARRIVED) {
        limevi_port_handle(port, PORT_EVENT_DEST_ANNOUNCED);
        limevi_control_follow_own_vm(port, addr, pkt.epoch);
    }
}

void limevi_port_receive(LimeviPort *port, const guint8 *data, gsize len)
{
    limevi_port_receive_from(port, data, len, NULL, 0);
}

static void port_on_datagram(gpointer opaque, const guint8 *data, gsize len,
                             gconstpointer from, gsize from_len)
{
    limevi_port_receive_from(opaque, data, len, from, from_len);
}

/* The link had no room; now it has: what waited goes, in order. */
static void port_on_writable(gpointer opaque)
{
    LimeviPort *port = opaque;

    limevi_tx_drain(port);
    limevi_rx_forward_flush(port);
}

void limevi_port_send(LimeviPort *port, const guint8 *frame, gsize len)
{
    /* The guest runs elsewhere: whatever comes is stale. */
    if (port->state == PORT_FORWARDING) {
        port->stats.tx_errors++;
        return;
    }
    /* Also while FROZEN (QEMU flushing the stopped guest) and INCOMING
     * (QEMU's self-announce, just before the guest runs here). */
    limevi_tx_frame(port, frame, len);
}

void limevi_port_send_batch_begin(LimeviPort *port)
{
    limevi_tx_batch_begin(port);
}

void limevi_port_send_batch_end(LimeviPort *port)
{
    limevi_tx_batch_end(port);
}

void limevi_port_guest_ready(LimeviPort *port)
{
    port->guest_blocked = FALSE;
    if (limevi_guest_here(port)) {
        limevi_guest_flush(port);
    }
}

void limevi_port_guest_returned(LimeviPort *port, const guint8 *frame,
                                gsize len)
{
    g_return_if_fail(len >= LIMEVI_WIRE_FRAME_MIN &&
                     len <= LIMEVI_WIRE_FRAME_MAX);

    limevi_buffer_push_front(port->held, frame, len);
    port->stats.rx_frames--;
    port->stats.rx_bytes -= len;
}

/* ---- Control: routes, creation, reports ---- */

/* Checks a route's fields; returns its resolved endpoint. */
static GSocketAddress *port_check_route(LimeviPort *port, const char *vm,
                                        const char *endpoint,
                                        const char *lan, GError **error)
{
    if (!limevi_name_valid(vm, "vm", error)) {
        return NULL;
    }
    if (strcmp(vm, port->vm) == 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'vm' '%s' is this port's own VM, not a peer", vm);
        return NULL;
    }
    if (lan && !limevi_name_valid(lan, "lan", error)) {
        return NULL;
    }
    return limevi_udp_parse_endpoint(endpoint, "endpoint", FALSE, error);
}

gboolean limevi_port_route_set(LimeviPort *port, const char *vm,
                               const char *endpoint, const char *lan,
                               LimeviRouteStatus status, GError **error)
{
    g_autoptr(GSocketAddress) addr = NULL;
    g_autofree char *resolved = NULL;
    LimeviRoute *route;

    if (status != LIMEVI_ROUTE_VALID && status != LIMEVI_ROUTE_INVALID) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'status' must be 'valid' or 'invalid'");
        return FALSE;
    }
    addr = port_check_route(port, vm, endpoint, lan, error);
    if (!addr) {
        return FALSE;
    }
    route = limevi_route_lookup(port->routes, vm);
    if (!route && limevi_route_table_size(port->routes) >= LIMEVI_PEERS_MAX) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'vm' '%s': a port has at most %u routes", vm,
                    LIMEVI_PEERS_MAX);
        return FALSE;
    }
    if (route && route->epoch == G_MAXUINT32) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'vm' '%s': the route's epoch cannot grow further", vm);
        return FALSE;
    }
    resolved = limevi_udp_address_to_string(addr);
    /* An operator's update wins over any earlier one: it bumps the epoch. */
    route = limevi_route_update(port->routes, vm, addr, resolved, status,
                                port->vc,
                                lan ? lan : route ? route->lan : port->lan,
                                route ? route->epoch + 1 : 1);
    limevi_port_route_changed(port, route, FALSE);
    if (status == LIMEVI_ROUTE_VALID) {
        limevi_tx_flush_held_for(port, route);
    }
    return TRUE;
}

gboolean limevi_port_route_del(LimeviPort *port, const char *vm,
                               GError **error)
{
    LimeviRoute *route;

    if (!limevi_name_valid(vm, "vm", error)) {
        return FALSE;
    }
    route = limevi_route_lookup(port->routes, vm);
    if (!route) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_NOT_FOUND,
                    "'vm' '%s' has no route", vm);
        return FALSE;
    }
    limevi_port_route_changed(port, route, TRUE);
    /* Its MACs would otherwise count as "no route" instead of flooding. */
    limevi_mac_table_forget_vm(port->macs, vm);
    limevi_route_remove(port->routes, vm);
    return TRUE;
}

/* The routes of the configuration, at epoch 0 and without notification:
 * they are the port's starting point, not a change. */
static gboolean port_add_config_routes(LimeviPort *port,
                                       const LimeviPortConfig *config,
                                       GError **error)
{
    if (config->n_routes > LIMEVI_PEERS_MAX) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'routes' has %u entries, at most %u are allowed",
                    config->n_routes, LIMEVI_PEERS_MAX);
        return FALSE;
    }
    for (guint i = 0; i < config->n_routes; i++) {
        const LimeviRouteConfig *rc = &config->routes[i];
        g_autoptr(GSocketAddress) addr = NULL;
        g_autofree char *resolved = NULL;

        addr = port_check_route(port, rc->vm, rc->endpoint, rc->lan, error);
        if (!addr) {
            g_prefix_error(error, "'routes' entry %u: ", i);
            return FALSE;
        }
        if (limevi_route_lookup(port->routes, rc->vm)) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_DUPLICATE,
                        "'routes' has VM '%s' more than once", rc->vm);
            return FALSE;
        }
        resolved = limevi_udp_address_to_string(addr);
        limevi_route_update(port->routes, rc->vm, addr, resolved,
                            LIMEVI_ROUTE_VALID, port->vc,
                            rc->lan ? rc->lan : port->lan, 0);
    }
    return TRUE;
}

static gint64 port_now(gpointer opaque)
{
    LimeviPort *port = opaque;

    return port->ops.now(port->opaque);
}

LimeviPort *limevi_port_new(const LimeviPortConfig *config,
                            const LimeviPortOps *ops, gpointer opaque,
                            GError **error)
{
    g_autoptr(LimeviPort) port = NULL;
    g_autoptr(GSocketAddress) listen = NULL;
    guint64 limit;
    guint ageing;

    g_return_val_if_fail(config && ops && ops->deliver, NULL);

    if (!limevi_name_valid(config->vm, "vm", error) ||
        !limevi_name_valid(config->vc, "vc", error) ||
        !limevi_name_valid(config->lan, "lan", error)) {
        return NULL;
    }
    listen = limevi_udp_parse_endpoint(config->listen, "listen", TRUE,
                                       error);
    if (!listen) {
        return NULL;
    }
    limit = config->buffer_limit ? config->buffer_limit
                                 : LIMEVI_BUFFER_LIMIT_DEFAULT;
    if (limit < LIMEVI_BUFFER_LIMIT_MIN || limit > LIMEVI_BUFFER_LIMIT_MAX) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'buffer-limit' must be between %d and %llu bytes, "
                    "got %" G_GUINT64_FORMAT, LIMEVI_BUFFER_LIMIT_MIN,
                    LIMEVI_BUFFER_LIMIT_MAX, limit);
        return NULL;
    }
    ageing = config->mac_ageing ? config->mac_ageing
                                : LIMEVI_MAC_AGEING_DEFAULT_S;

    port = g_new0(LimeviPort, 1);
    port->vm = g_strdup(config->vm);
    port->vc = g_strdup(config->vc);
    port->lan = g_strdup(config->lan);
    port->vm_len = strlen(port->vm);
    port->vc_len = strlen(port->vc);
    port->lan_len = strlen(port->lan);
    port->ops = *ops;
    port->opaque = opaque;
    port->buffer_limit = limit;
    port->context = config->context ? g_main_context_ref(config->context)
                                    : g_main_context_ref_thread_default();
    port->routes = limevi_route_table_new();
    port->macs = limevi_mac_table_new(ageing * G_USEC_PER_SEC,
                                      ops->now ? port_now : NULL, port);
    port->held = limevi_buffer_new(limit);
    if (!limevi_tx_init(port, config, error) ||
        !limevi_guest_init(port, config, error)) {
        return NULL;
    }
    limevi_rx_init(port);
    limevi_control_init(port, config->test_drop_control);
    if (!port_add_config_routes(port, config, error) ||
        !limevi_keys_init(port, config, listen, error)) {
        return NULL;
    }
    /* Bound last: a configuration error must not depend on free ports. */
    port->udp = limevi_udp_new(listen, config->listen, "listen",
                               config->context, port_on_datagram, port,
                               error);
    if (!port->udp) {
        return NULL;
    }
    limevi_udp_set_writable_func(port->udp, port_on_writable);
    if (config->no_fragment) {
        limevi_udp_forbid_fragments(port->udp);
    }
    if (config->no_udp_gso) {
        limevi_udp_disable_gso(port->udp);
    }
    limevi_keys_attach(port, 0);
    port->listen = limevi_udp_endpoint_toward(port->udp, NULL);
    port->state = PORT_ACTIVE;
    return g_steal_pointer(&port);
}

void limevi_port_free(LimeviPort *port)
{
    if (!port) {
        return;
    }
    if (port->pending) {
        limevi_control_cleanup(port);
    }
    if (port->rx) {
        limevi_rx_cleanup(port);
    }
    limevi_tx_cleanup(port);
    limevi_guest_cleanup(port);
    limevi_udp_free(port->udp);
    limevi_keys_cleanup(port);
    g_main_context_unref(port->context);
    limevi_buffer_free(port->held);
    limevi_mac_table_free(port->macs);
    limevi_route_table_free(port->routes);
    g_free(port->vm);
    g_free(port->vc);
    g_free(port->lan);
    g_free(port->listen);
    g_free(port);
}

LimeviPortInfo *limevi_port_get_info(LimeviPort *port)
{
    LimeviPortInfo *info = g_new0(LimeviPortInfo, 1);

    info->vm = g_strdup(port->vm);
    info->vc = g_strdup(port->vc);
    info->lan = g_strdup(port->lan);
    info->listen = g_strdup(port->listen);
    info->state = limevi_port_public_state(port->state);
    info->routes = limevi_route_table_to_infos(port->routes);
    limevi_buffer_get_info(port->held, &info->buffer);
    info->stats = port->stats;
    info->stats.tx_too_big = limevi_udp_too_big(port->udp);
    info->stats.tx_gso_segments = limevi_udp_gso_segments(port->udp);
    info->stats.rx_gro_segments = limevi_udp_gro_segments(port->udp);
    info->mac_entries = limevi_mac_table_size(port->macs);
    info->epoch = port->epoch;
    info->peers_synced = port->peers_synced;
    info->peers_pending = limevi_control_updates_pending(port);
    return info;
}

void limevi_port_info_free(LimeviPortInfo *info)
{
    if (!info) {
        return;
    }
    g_free(info->vm);
    g_free(info->vc);
    g_free(info->lan);
    g_free(info->listen);
    g_clear_pointer(&info->routes, g_ptr_array_unref);
    g_free(info);
}
