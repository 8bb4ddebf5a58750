/*
 * Guest -> tunnel.  The per-frame path allocates nothing in the steady
 * state and copies nothing: header and frame leave in one gathered send.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "tx.h"

/* Sends one frame with the route's next number.  A number is used up
 * only by a frame sent: the receiver would wait for one that never left. */
static LimeviUdpResult tx_send_now(LimeviPort *port, LimeviRoute *route,
                                   const guint8 *frame, gsize len,
                                   gboolean unicast)
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
    LimeviUdpResult res = hlen ? limevi_udp_send_to(port->udp, route->addr,
                                                    port->tx_header, hlen,
                                                    frame, len)
                               : LIMEVI_UDP_FAILED;

    if (res == LIMEVI_UDP_SENT) {
        route->tx_seq++;
        port->stats.tx_frames++;
        port->stats.tx_bytes += len;
    } else if (res == LIMEVI_UDP_FAILED) {
        port->stats.tx_errors++;
    }
    return res;
}

/* The link was full: the frame waits, in order, within buffer-limit. */
static void tx_backlog(LimeviPort *port, LimeviRoute *route,
                       const guint8 *frame, gsize len)
{
    if (!route->backlog) {
        route->backlog = limevi_buffer_new(port->buffer_limit);
    }
    if (!limevi_buffer_push(route->backlog, frame, len)) {
        port->stats.tx_held_dropped++;
        if (port->ops.buffer_overflow) {
            port->ops.buffer_overflow(port->opaque, route->vm,
                                      port->stats.tx_held_dropped);
        }
    }
    limevi_udp_want_writable(port->udp);
}

/* Sends what waits for @route; FALSE when the link is full again.
 * Flooded or not, a backlogged frame goes as unicast: it was for this
 * peer alone by then. */
static gboolean tx_drain_route(LimeviPort *port, LimeviRoute *route)
{
    const guint8 *frame;
    gsize len;

    while (route->backlog &&
           (frame = limevi_buffer_peek(route->backlog, &len))) {
        if (tx_send_now(port, route, frame, len, TRUE) == LIMEVI_UDP_FULL) {
            limevi_udp_want_writable(port->udp);
            return FALSE;
        }
        limevi_buffer_pop(route->backlog);
    }
    g_clear_pointer(&route->backlog, limevi_buffer_free);
    return TRUE;
}

void limevi_tx_drain(LimeviPort *port)
{
    LimeviRouteIter it;
    LimeviRoute *route;

    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        tx_drain_route(port, route);
    }
}

void limevi_tx_send_to(LimeviPort *port, LimeviRoute *route,
                       const guint8 *frame, gsize len, gboolean unicast)
{
    /* Behind what waits already, or the peer would see them reordered. */
    if (route->backlog && !tx_drain_route(port, route)) {
        tx_backlog(port, route, frame, len);
        return;
    }
    if (tx_send_now(port, route, frame, len, unicast) == LIMEVI_UDP_FULL) {
        tx_backlog(port, route, frame, len);
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
