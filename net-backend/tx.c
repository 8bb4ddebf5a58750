/*
 * Guest -> tunnel.  The per-frame path allocates nothing in the steady
 * state and copies nothing: header and frame leave in one gathered send.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "tx.h"

void limevi_tx_send_to(LimeviPort *port, LimeviRoute *route,
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

/* Holds a guest frame for a peer whose route is invalid (it moves). */
static void tx_hold_for(LimeviPort *port, LimeviRoute *route,
                        const guint8 *frame, gsize len)
{
    if (!route->held) {
        route->held = limevi_buffer_new(port->buffer_limit);
    }
    if (limevi_buffer_push(route->held, frame, len)) {
        port->stats.tx_held++;
        return;
    }
    port->stats.tx_held_dropped++;
    if (port->ops.buffer_overflow) {
        port->ops.buffer_overflow(port->opaque, route->vm,
                                  port->stats.tx_held_dropped);
    }
}

void limevi_tx_flush_held_for(LimeviPort *port, LimeviRoute *route)
{
    const guint8 *frame;
    gsize len;

    if (!route->held) {
        return;
    }
    while ((frame = limevi_buffer_peek(route->held, &len))) {
        limevi_tx_send_to(port, route, frame, len, TRUE);
        limevi_buffer_pop(route->held);
    }
    g_clear_pointer(&route->held, limevi_buffer_free);
}

static void tx_send_or_hold(LimeviPort *port, LimeviRoute *route,
                            const guint8 *frame, gsize len, gboolean unicast)
{
    if (route->status == LIMEVI_ROUTE_VALID) {
        limevi_tx_send_to(port, route, frame, len, unicast);
    } else {
        tx_hold_for(port, route, frame, len);
    }
}

/* Broadcast, multicast and unknown unicast: every peer of the LAN gets
 * it, a moving one when it arrives. */
static void tx_flood(LimeviPort *port, const guint8 *frame, gsize len)
{
    LimeviRouteIter it;
    LimeviRoute *route;
    guint sent = 0;

    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        if (limevi_route_in_lan(route, port->vc, port->lan)) {
            tx_send_or_hold(port, route, frame, len, FALSE);
            sent++;
        }
    }
    if (sent) {
        port->stats.tx_flooded++;
    } else {
        port->stats.tx_no_route++;
    }
}

void limevi_tx_frame(LimeviPort *port, const guint8 *frame, gsize len)
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
        tx_flood(port, frame, len);
        return;
    }
    route = limevi_route_lookup(port->routes, vm);
    if (!limevi_route_in_lan(route, port->vc, port->lan)) {
        port->stats.tx_no_route++;
        return;
    }
    tx_send_or_hold(port, route, frame, len, TRUE);
}
