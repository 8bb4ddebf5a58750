/*
 * The LimeviPort: configuration, the state machine, the per-frame paths
 * between guest and tunnel, and route control.  The per-frame paths
 * allocate nothing in the steady state and copy a frame at most once.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "port.h"

#define ETH_ALEN 6

/* What happens to a port; port_handle_event() says what it does about it. */
typedef enum {
    PORT_EVENT_GUEST_FRAME,     /* the guest sent a frame */
    PORT_EVENT_GUEST_READY,     /* the guest can receive again */
} PortEvent;

/* ---- The per-frame paths ---- */

static gboolean port_guest_can_receive(LimeviPort *port)
{
    return !port->guest_blocked &&
           (!port->ops.can_receive || port->ops.can_receive(port->opaque));
}

/* Hands held frames to the guest, oldest first, while it takes them. */
static void port_flush(LimeviPort *port)
{
    const guint8 *frame;
    gsize len;

    while ((frame = limevi_buffer_peek(port->held, &len))) {
        if (!port_guest_can_receive(port)) {
            return;
        }
        if (!port->ops.deliver(port->opaque, frame, len)) {
            port->guest_blocked = TRUE;
            return;
        }
        port->stats.rx_frames++;
        port->stats.rx_bytes += len;
        limevi_buffer_pop(port->held);
    }
}

/* The guest's buffer counted a frame it dropped: the embedder hears of it. */
static void port_guest_overflowed(LimeviPort *port)
{
    LimeviBufferInfo info;

    if (port->ops.buffer_overflow) {
        limevi_buffer_get_info(port->held, &info);
        port->ops.buffer_overflow(port->opaque, NULL, info.dropped);
    }
}

void limevi_port_drop_for_guest(LimeviPort *port)
{
    limevi_buffer_count_drop(port->held);
    port_guest_overflowed(port);
}

static void port_hold(LimeviPort *port, const guint8 *frame, gsize len)
{
    if (!limevi_buffer_push(port->held, frame, len)) {
        port_guest_overflowed(port);
    }
}

/* Whether the guest runs here, so frames may be handed to it. */
static gboolean port_guest_here(LimeviPort *port)
{
    return port->state == LIMEVI_PORT_ACTIVE ||
           port->state == LIMEVI_PORT_MIGRATING;
}

/* Delivers @frame, or holds it when the guest cannot take it now. */
static void port_deliver_or_hold(LimeviPort *port, const guint8 *frame,
                                 gsize len)
{
    /* A stopped or absent guest: QEMU's queue must not get the frame. */
    if (!port_guest_here(port)) {
        port_hold(port, frame, len);
        return;
    }
    /* Held frames go first, or the guest would see them out of order. */
    if (!limevi_buffer_is_empty(port->held)) {
        port_flush(port);
    }
    if (limevi_buffer_is_empty(port->held) && port_guest_can_receive(port)) {
        if (port->ops.deliver(port->opaque, frame, len)) {
            port->stats.rx_frames++;
            port->stats.rx_bytes += len;
            return;
        }
        port->guest_blocked = TRUE;
    }
    port_hold(port, frame, len);
}

void limevi_port_deliver(LimeviPort *port, const guint8 *frame, gsize len)
{
    port_deliver_or_hold(port, frame, len);
}

/* Whether @route leads to a member of our VC and LAN. */
static gboolean port_route_in_lan(LimeviPort *port, const LimeviRoute *route)
{
    return route && strcmp(route->vc, port->vc) == 0 &&
           strcmp(route->lan, port->lan) == 0;
}

/* Sends @frame to @route's peer, or holds it while the peer moves. */
static void port_send_or_hold(LimeviPort *port, LimeviRoute *route,
                              const guint8 *frame, gsize len,
                              gboolean unicast)
{
    if (route->status == LIMEVI_ROUTE_VALID) {
        limevi_port_send_to(port, route, frame, len, unicast);
    } else {
        limevi_migrate_hold_for(port, route, frame, len);
    }
}

void limevi_port_send_to(LimeviPort *port, LimeviRoute *route,
                         const guint8 *frame, gsize len, gboolean unicast)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA,
        .epoch = port->epoch,
        .seq = route->tx_seq,
        .vc = port->vc,
        .lan = port->lan,
        .src = port->vm,
        .dst = unicast ? route->vm : NULL,
    };
    gsize hlen = limevi_wire_encode(&hdr, port->tx_header,
                                    sizeof(port->tx_header));

    /* A number is used up only by a frame sent: the receiver would
     * otherwise wait for the one that never left. */
    if (hlen && limevi_udp_send(port->udp, route->addr, port->tx_header,
                                hlen, frame, len)) {
        route->tx_seq++;
        port->stats.tx_frames++;
        port->stats.tx_bytes += len;
    } else {
        port->stats.tx_errors++;
    }
}

/* Broadcast, multicast and unknown unicast: every peer of the LAN gets
 * it, a moving one when it arrives. */
static void port_flood(LimeviPort *port, const guint8 *frame, gsize len)
{
    LimeviRouteIter it;
    LimeviRoute *route;
    guint sent = 0;

    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        if (port_route_in_lan(port, route)) {
            port_send_or_hold(port, route, frame, len, FALSE);
            sent++;
        }
    }
    if (sent) {
        port->stats.tx_flooded++;
    } else {
        port->stats.tx_no_route++;
    }
}

static void port_transmit(LimeviPort *port, const guint8 *frame, gsize len)
{
    LimeviRoute *route;
    const char *vm;

    /* Counted as errors: no guest NIC hands over such frames. */
    if (len < LIMEVI_WIRE_FRAME_MIN || len > LIMEVI_WIRE_FRAME_MAX) {
        port->stats.tx_errors++;
        return;
    }
    vm = limevi_mac_is_multicast(frame) ? NULL :
         limevi_mac_table_lookup(port->macs, frame);
    if (!vm) {
        port_flood(port, frame, len);
        return;
    }
    route = limevi_route_lookup(port->routes, vm);
    if (!port_route_in_lan(port, route)) {
        port->stats.tx_no_route++;
        return;
    }
    port_send_or_hold(port, route, frame, len, TRUE);
}

/*
 * The state machine: what each event does in each state.  Frames from
 * peers go through limevi_migrate_data(), which knows where they belong
 * in each state; this decides the guest's side.
 */
static void port_handle_event(LimeviPort *port, PortEvent event,
                              const guint8 *frame, gsize len)
{
    switch (event) {
    case PORT_EVENT_GUEST_FRAME:
        switch (port->state) {
        case LIMEVI_PORT_ACTIVE:
        case LIMEVI_PORT_MIGRATING:
        case LIMEVI_PORT_FROZEN:    /* QEMU flushing the stopped guest */
        case LIMEVI_PORT_INCOMING:  /* QEMU's self-announce, just before
                                     * the guest runs here */
            port_transmit(port, frame, len);
            return;
        case LIMEVI_PORT_FORWARDING:
            /* The guest runs elsewhere: whatever comes is stale. */
            port->stats.tx_errors++;
            return;
        }
        break;
    case PORT_EVENT_GUEST_READY:
        port->guest_blocked = FALSE;
        if (port_guest_here(port)) {
            port_flush(port);
        }
        return;
    }
    g_warning("limevi: port %s: event %d in state %s is not handled",
              port->vm, event, limevi_port_state_name(port->state));
}

void limevi_port_set_state(LimeviPort *port, LimeviPortState state)
{
    g_debug("port %s: %s -> %s", port->vm,
            limevi_port_state_name(port->state),
            limevi_port_state_name(state));
    port->state = state;
    if (port_guest_here(port)) {
        port_flush(port);
    }
}

LimeviPortState limevi_port_get_state(LimeviPort *port)
{
    return port->state;
}

void limevi_port_receive_from(LimeviPort *port, const guint8 *data,
                              gsize len, gconstpointer from, gsize from_len)
{
    LimeviWirePacket pkt;

    switch (limevi_wire_decode(data, len, &pkt)) {
    case LIMEVI_WIRE_OK:
        break;
    case LIMEVI_WIRE_BAD_VERSION:
        port->stats.rx_bad_version++;
        return;
    default:
        port->stats.rx_malformed++;
        return;
    }
    /* Isolation: nothing crosses a VC or a LAN boundary. */
    if (!limevi_wire_name_equal(&pkt.vc, port->vc, port->vc_len)) {
        port->stats.rx_wrong_vc++;
        return;
    }
    if (!limevi_wire_name_equal(&pkt.lan, port->lan, port->lan_len)) {
        port->stats.rx_wrong_lan++;
        return;
    }
    if (pkt.dst.len &&
        !limevi_wire_name_equal(&pkt.dst, port->vm, port->vm_len)) {
        port->stats.rx_not_for_us++;
        return;
    }
    if (pkt.type == LIMEVI_WIRE_TYPE_CONTROL) {
        g_autoptr(GSocketAddress) addr = from ?
            g_socket_address_new_from_native((gpointer)from, from_len) : NULL;

        port->stats.rx_control++;
        limevi_migrate_control(port, &pkt, addr);
        return;
    }
    /* Learnt before delivery, so the guest's reply goes straight back. */
    limevi_mac_table_learn(port->macs, pkt.payload + ETH_ALEN, pkt.src.str,
                           pkt.src.len);
    limevi_migrate_data(port, &pkt, data, len);
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

void limevi_port_send(LimeviPort *port, const guint8 *frame, gsize len)
{
    port_handle_event(port, PORT_EVENT_GUEST_FRAME, frame, len);
}

void limevi_port_guest_ready(LimeviPort *port)
{
    port_handle_event(port, PORT_EVENT_GUEST_READY, NULL, 0);
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

void limevi_port_route_changed(LimeviPort *port, const LimeviRoute *route,
                               gboolean removed)
{
    LimeviRouteInfo info = {
        .vm = route->vm,
        .endpoint = route->endpoint,
        .status = removed ? LIMEVI_ROUTE_INVALID : route->status,
        .vc = route->vc,
        .lan = route->lan,
        .epoch = route->epoch,
    };

    if (port->ops.route_changed) {
        port->ops.route_changed(port->opaque, &info, removed);
    }
}

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
        limevi_migrate_flush_held_for(port, route);
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
    limevi_migrate_init(port);
    port->routes = limevi_route_table_new();
    port->macs = limevi_mac_table_new(ageing * G_USEC_PER_SEC,
                                      ops->now ? port_now : NULL, port);
    port->held = limevi_buffer_new(limit);
    if (!port_add_config_routes(port, config, error)) {
        return NULL;
    }
    /* Bound last: a configuration error must not depend on free ports. */
    port->udp = limevi_udp_new(listen, config->listen, "listen",
                               config->context, port_on_datagram, port,
                               error);
    if (!port->udp) {
        return NULL;
    }
    port->listen = limevi_udp_endpoint_toward(port->udp, NULL);
    limevi_port_set_state(port, LIMEVI_PORT_ACTIVE);
    return g_steal_pointer(&port);
}

void limevi_port_free(LimeviPort *port)
{
    if (!port) {
        return;
    }
    limevi_migrate_cleanup(port);
    limevi_udp_free(port->udp);
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
    info->state = port->state;
    info->routes = limevi_route_table_to_infos(port->routes);
    limevi_buffer_get_info(port->held, &info->buffer);
    info->stats = port->stats;
    info->mac_entries = limevi_mac_table_size(port->macs);
    info->epoch = port->epoch;
    info->peers_synced = port->peers_synced;
    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *p = port->pending->pdata[i];

        info->peers_pending += p->op == LIMEVI_CONTROL_UPDATE;
    }
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
