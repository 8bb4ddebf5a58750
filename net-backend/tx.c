/*
 * Guest -> tunnel.  The per-frame path allocates nothing in the steady
 * state and copies nothing: header and frame leave in one gathered send,
 * or between limevi_port_send_batch_begin() and _end() with up to
 * LIMEVI_UDP_BATCH others in one sendmmsg().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "rx.h"
#include "tx.h"

/* Our header for a frame to @route with its next number, in
 * port->tx_header; its length, 0 if it does not fit. */
static gsize tx_encode(LimeviPort *port, LimeviRoute *route,
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

    return limevi_wire_encode(&hdr, port->tx_header,
                              sizeof(port->tx_header));
}

/* Sends one frame with the route's next number.  A number is used up
 * only by a frame sent: the receiver would wait for one that never left. */
static LimeviUdpResult tx_send_now(LimeviPort *port, LimeviRoute *route,
                                   const guint8 *frame, gsize len,
                                   gboolean unicast)
{
    gsize hlen = tx_encode(port, route, unicast);
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

/* The link had no room, or the frame is behind one that waits: it
 * waits, in order, within buffer-limit. */
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
}

static gboolean tx_flush_tick(gpointer data)
{
    LimeviPort *port = data;

    limevi_pace_retried(&port->flush_pace);
    limevi_tx_drain(port);
    limevi_rx_forward_flush(port);
    return G_SOURCE_REMOVE;
}

gboolean limevi_tx_paced(LimeviPort *port, gsize len)
{
    gint64 now = g_get_monotonic_time();

    if (limevi_pace_take(&port->flush_pace, len, now)) {
        return TRUE;
    }
    limevi_pace_retry_later(&port->flush_pace, len, now, port->context,
                            tx_flush_tick, port);
    return FALSE;
}

void limevi_tx_refused(LimeviPort *port)
{
    limevi_pace_slow_down(&port->flush_pace);
    limevi_udp_want_writable(port->udp);
}

typedef enum {
    TX_DRAINED,                 /* nothing waits for the route any more */
    TX_SENT_ONE,                /* one frame went; more wait */
    TX_BLOCKED,                 /* the pace or the link says: later */
} TxDrain;

/*
 * Whether this host sends for our VM.  Once the state is saved, what
 * waits travels in it and the destination sends it after the VM runs
 * there: sent from both hosts, or from here late, the peer would see it
 * twice or out of order.
 */
static gboolean tx_ours(LimeviPort *port)
{
    return port->state == PORT_ACTIVE || port->state == PORT_MIGRATING ||
           port->state == PORT_FROZEN;
}

/* Sends the oldest frame that waits for @route, if the pace and the link
 * let it.  Flooded or not, it goes as unicast: it was for this peer
 * alone by then. */
static TxDrain tx_drain_one(LimeviPort *port, LimeviRoute *route)
{
    const guint8 *frame;
    gsize len;

    frame = route->backlog ? limevi_buffer_peek(route->backlog, &len) : NULL;
    if (frame && !tx_ours(port)) {
        return TX_BLOCKED;
    }
    if (!frame) {
        if (route->backlog) {
            g_clear_pointer(&route->backlog, limevi_buffer_free);
            limevi_pace_reset(&port->flush_pace);
        }
        return TX_DRAINED;
    }
    if (!limevi_tx_paced(port, len)) {
        return TX_BLOCKED;
    }
    if (tx_send_now(port, route, frame, len, TRUE) == LIMEVI_UDP_FULL) {
        limevi_tx_refused(port);
        return TX_BLOCKED;
    }
    limevi_buffer_pop(route->backlog);
    return TX_SENT_ONE;
}

/* Sends what waits for @route; FALSE while some of it still waits. */
static gboolean tx_drain_route(LimeviPort *port, LimeviRoute *route)
{
    TxDrain res;

    while ((res = tx_drain_one(port, route)) == TX_SENT_ONE) {
    }
    return res == TX_DRAINED;
}

/* One frame per route in turn, so that peers share the pace and a long
 * backlog for one does not starve the others. */
void limevi_tx_drain(LimeviPort *port)
{
    gboolean sent = TRUE;

    while (sent) {
        LimeviRouteIter it;
        LimeviRoute *route;

        sent = FALSE;
        limevi_route_iter_init(&it, port->routes);
        while ((route = limevi_route_iter_next(&it))) {
            switch (tx_drain_one(port, route)) {
            case TX_SENT_ONE:
                sent = TRUE;
                break;
            case TX_BLOCKED:
                return;
            case TX_DRAINED:
                break;
            }
        }
    }
}

/* A frame not sent before: behind what waits for @route, or now. */
static void tx_send_fresh(LimeviPort *port, LimeviRoute *route,
                          const guint8 *frame, gsize len, gboolean unicast)
{
    /* Behind what waits already, or the peer would see them reordered. */
    if (route->backlog && !tx_drain_route(port, route)) {
        tx_backlog(port, route, frame, len);
        return;
    }
    if (tx_send_now(port, route, frame, len, unicast) == LIMEVI_UDP_FULL) {
        tx_backlog(port, route, frame, len);
        limevi_tx_refused(port);
    }
}

/*
 * Sends the batch.  What the kernel took is counted; what it did not
 * (from the first refused on) gives its numbers back and goes again one
 * by one, in order, so that a full link puts it in the backlogs with the
 * very numbers it would have had, and an error is counted as unbatched.
 */
static void tx_batch_flush(LimeviPort *port)
{
    guint n = port->tx_batch_len;
    guint sent = limevi_udp_batch_flush(port->udp);

    port->tx_batch_len = 0;
    for (guint i = 0; i < sent; i++) {
        port->stats.tx_frames++;
        port->stats.tx_bytes += port->tx_batch[i].len;
    }
    /* Backwards, so each route ends at its first unsent number. */
    for (guint i = n; i-- > sent;) {
        port->tx_batch[i].route->tx_seq = port->tx_batch[i].seq;
    }
    port->tx_batching = FALSE;
    for (guint i = sent; i < n; i++) {
        tx_send_fresh(port, port->tx_batch[i].route, port->tx_batch[i].frame,
                      port->tx_batch[i].len, port->tx_batch[i].unicast);
    }
    port->tx_batching = TRUE;
}

/* Queues @frame in the socket's batch with the route's next number. */
static void tx_batch_add(LimeviPort *port, LimeviRoute *route,
                         const guint8 *frame, gsize len, gboolean unicast)
{
    gsize hlen = tx_encode(port, route, unicast);

    if (!hlen || limevi_udp_batch_add(port->udp, route->addr,
                                      port->tx_header, hlen, frame, len) !=
                 LIMEVI_UDP_SENT) {
        port->stats.tx_errors++;
        return;
    }
    port->tx_batch[port->tx_batch_len++] = (LimeviTxBatched) {
        .route = route, .frame = frame, .len = len,
        .seq = route->tx_seq++, .unicast = unicast,
    };
}

void limevi_tx_send_to(LimeviPort *port, LimeviRoute *route,
                       const guint8 *frame, gsize len, gboolean unicast)
{
    /* A full batch goes first: what it leaves unsent may become a
     * backlog this frame must queue behind. */
    if (port->tx_batching && port->tx_batch_len == LIMEVI_UDP_BATCH) {
        tx_batch_flush(port);
    }
    limevi_pace_observe(&port->flush_pace, len, g_get_monotonic_time());
    /* A route's batched frames are all older than its backlog's: the
     * backlog only starts from a flush, which empties the batch. */
    if (port->tx_batching && !route->backlog) {
        tx_batch_add(port, route, frame, len, unicast);
        return;
    }
    tx_send_fresh(port, route, frame, len, unicast);
}

void limevi_tx_batch_begin(LimeviPort *port)
{
    port->tx_batching = TRUE;
}

void limevi_tx_batch_end(LimeviPort *port)
{
    if (port->tx_batch_len) {
        tx_batch_flush(port);
    }
    port->tx_batching = FALSE;
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

/* What was held goes behind what waits already, at the pace. */
void limevi_tx_flush_held_for(LimeviPort *port, LimeviRoute *route)
{
    const guint8 *frame;
    gsize len;

    if (!route->held) {
        return;
    }
    if (!route->backlog) {
        route->backlog = g_steal_pointer(&route->held);
    }
    while (route->held && (frame = limevi_buffer_peek(route->held, &len))) {
        tx_backlog(port, route, frame, len);
        limevi_buffer_pop(route->held);
    }
    g_clear_pointer(&route->held, limevi_buffer_free);
    tx_drain_route(port, route);
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

gboolean limevi_tx_init(LimeviPort *port, const LimeviPortConfig *config,
                        GError **error)
{
    guint64 rate;

    if (!limevi_pace_rate_valid(config->flush_rate, LIMEVI_FLUSH_RATE_DEFAULT,
                                LIMEVI_FLUSH_RATE_MIN, LIMEVI_FLUSH_RATE_MAX,
                                "flush-rate", "bytes/s", &rate, error)) {
        return FALSE;
    }
    limevi_pace_init(&port->flush_pace, rate, LIMEVI_FLUSH_RATE_MIN,
                     LIMEVI_FLUSH_BURST, g_get_monotonic_time());
    return TRUE;
}

void limevi_tx_discard(LimeviPort *port)
{
    LimeviRouteIter it;
    LimeviRoute *route;

    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        g_clear_pointer(&route->backlog, limevi_buffer_free);
        g_clear_pointer(&route->held, limevi_buffer_free);
    }
    limevi_pace_reset(&port->flush_pace);
}

void limevi_tx_cleanup(LimeviPort *port)
{
    limevi_pace_retried(&port->flush_pace);
}
