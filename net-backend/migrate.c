/*
 * A port's part in live migration (DESIGN.md section 3): the states
 * around switchover, the control messages that move a VM's route at
 * every peer, the state carried to the destination, forwarding from the
 * source, and in-order, duplicate-free delivery at the destination.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "port.h"

#define STATE_VERSION 1

static gint64 now_us(void)
{
    return g_get_monotonic_time();
}

/* ---- Control messages ---- */

/* One control message as it goes on the wire. */
typedef struct {
    guint8 op;
    guint8 acked_op;            /* ACK, STALE: the op answered; RELAY: the
                                 * op relayed */
    guint32 epoch;
    const char *src;            /* NULL: our VM */
    const char *dst;
    GSocketAddress *endpoint;   /* RELAY only */
} ControlMsg;

static void pending_free(gpointer data)
{
    LimeviPending *p = data;

    g_free(p->peer);
    g_clear_object(&p->addr);
    g_free(p->about);
    g_clear_object(&p->endpoint);
    g_free(p);
}

/* The 24-byte RELAY payload, with @endpoint written in. */
static void encode_relay(guint8 relayed_op, GSocketAddress *endpoint,
                         guint8 *buf)
{
    GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS(endpoint);
    GInetAddress *ia = g_inet_socket_address_get_address(isa);

    limevi_wire_encode_relay(relayed_op, g_inet_address_get_family(ia) ==
                             G_SOCKET_FAMILY_IPV6 ? 6 : 4,
                             g_inet_address_to_bytes(ia),
                             g_inet_socket_address_get_port(isa), buf);
}

static void send_control(LimeviPort *port, GSocketAddress *to,
                         const ControlMsg *msg)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_CONTROL,
        .epoch = msg->epoch,
        .vc = port->vc,
        .lan = port->lan,
        .src = msg->src ? msg->src : port->vm,
        .dst = msg->dst,
    };
    guint8 payload[LIMEVI_WIRE_RELAY_LEN];
    gsize plen = LIMEVI_WIRE_CONTROL_LEN;
    gsize hlen;

    /* Fault injection for tests: a WAN that loses control packets. */
    if (port->drop_control &&
        (msg->op == LIMEVI_CONTROL_UPDATE || msg->op == LIMEVI_CONTROL_ACK)) {
        port->drop_control--;
        return;
    }
    hlen = limevi_wire_encode(&hdr, port->tx_header, sizeof(port->tx_header));
    if (msg->op == LIMEVI_CONTROL_RELAY) {
        encode_relay(msg->acked_op, msg->endpoint, payload);
        plen = LIMEVI_WIRE_RELAY_LEN;
    } else {
        limevi_wire_encode_control(msg->op, msg->acked_op, payload);
    }
    if (!hlen || !limevi_udp_send(port->udp, to, port->tx_header, hlen,
                                  payload, plen)) {
        port->stats.tx_errors++;
    }
}

/* Sends @p once more; FALSE while it has nowhere to go (a RELAY before
 * our VM's new host announced itself). */
static gboolean pending_send(LimeviPort *port, LimeviPending *p)
{
    ControlMsg msg = { .op = p->op, .epoch = p->epoch };
    GSocketAddress *to = p->addr;

    if (p->about) {
        to = port->forward_to;
        msg.acked_op = p->relayed_op;
        msg.src = p->about;
        msg.dst = port->vm;
        msg.endpoint = p->endpoint;
    } else {
        msg.dst = p->peer[0] ? p->peer : port->vm;
    }
    if (!to) {
        return FALSE;
    }
    p->attempts++;
    send_control(port, to, &msg);
    return TRUE;
}

static gboolean migrate_tick(gpointer data);

static void ensure_tick(LimeviPort *port)
{
    if (!port->tick) {
        port->tick = g_timeout_source_new(LIMEVI_CONTROL_RETRY_MS);
        g_source_set_callback(port->tick, migrate_tick, port, NULL);
        g_source_set_name(port->tick, "limevi-control");
        g_source_attach(port->tick, port->context);
    }
}

/* Sends @p now if it can, and again until answered. */
static void pending_add(LimeviPort *port, LimeviPending *p)
{
    g_ptr_array_add(port->pending, p);
    pending_send(port, p);
    ensure_tick(port);
}

/* Sends our VM's @op to @peer ("" for our VM's other host) until
 * answered; a newer message to the same peer replaces an older one. */
static void send_reliably(LimeviPort *port, const char *peer,
                          GSocketAddress *addr, guint8 op, guint32 epoch)
{
    LimeviPending *p = g_new0(LimeviPending, 1);

    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *old = port->pending->pdata[i];

        if (!old->about && !strcmp(old->peer, peer)) {
            g_ptr_array_remove_index(port->pending, i);
            break;
        }
    }
    p->peer = g_strdup(peer);
    p->addr = g_object_ref(addr);
    p->op = op;
    p->epoch = epoch;
    pending_add(port, p);
}

static void drop_pending_op(LimeviPort *port, guint8 op)
{
    for (guint i = port->pending->len; i-- > 0;) {
        LimeviPending *p = port->pending->pdata[i];

        if (p->op == op) {
            g_ptr_array_remove_index(port->pending, i);
        }
    }
}

static guint pending_count(LimeviPort *port, guint8 op)
{
    guint n = 0;

    for (guint i = 0; i < port->pending->len; i++) {
        n += ((LimeviPending *)port->pending->pdata[i])->op == op;
    }
    return n;
}

/* The destination's announcement is complete once nobody is missing. */
static void check_synced(LimeviPort *port)
{
    if (!port->announcing || pending_count(port, LIMEVI_CONTROL_UPDATE)) {
        return;
    }
    port->announcing = FALSE;
    port->peers_synced = TRUE;
    port->reseq_until = now_us() + LIMEVI_RESEQ_GRACE_MS * 1000;
    if (port->ops.peers_synced) {
        port->ops.peers_synced(port->opaque, port->epoch, port->announced);
    }
}

/* ---- Frames held for a moving peer ---- */

void limevi_migrate_hold_for(LimeviPort *port, LimeviRoute *route,
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

/* The peer arrived: what was held for it goes first, in order. */
void limevi_migrate_flush_held_for(LimeviPort *port, LimeviRoute *route)
{
    const guint8 *frame;
    gsize len;

    if (!route->held) {
        return;
    }
    while ((frame = limevi_buffer_peek(route->held, &len))) {
        limevi_port_send_to(port, route, frame, len, TRUE);
        limevi_buffer_pop(route->held);
    }
    g_clear_pointer(&route->held, limevi_buffer_free);
}

/* ---- Forwarding from the source ---- */

static void forward_flush(LimeviPort *port)
{
    GBytes *pkt;

    while (port->forward_to && (pkt = g_queue_pop_head(&port->forward))) {
        gsize len;
        const guint8 *data = g_bytes_get_data(pkt, &len);

        port->forward_bytes -= len;
        limevi_udp_send(port->udp, port->forward_to, data, len, NULL, 0);
        g_bytes_unref(pkt);
    }
}

/* A datagram for our VM reached us after its state left: the destination
 * gets it as it came, with the sender's name and sequence number. */
static void forward_datagram(LimeviPort *port, const guint8 *data, gsize len)
{
    port->stats.rx_forwarded++;
    if (port->forward_to) {
        limevi_udp_send(port->udp, port->forward_to, data, len, NULL, 0);
        return;
    }
    if (port->forward_bytes + len > port->buffer_limit) {
        limevi_port_drop_for_guest(port);
        return;
    }
    g_queue_push_tail(&port->forward, g_bytes_new(data, len));
    port->forward_bytes += len;
}

/* ---- Receiving in sequence ---- */

static void held_frame_free(gpointer data)
{
    LimeviHeldFrame *h = data;

    g_bytes_unref(h->frame);
    g_free(h);
}

static void rx_sender_free(gpointer data)
{
    LimeviRxSender *s = data;

    g_queue_clear_full(&s->held, held_frame_free);
    g_free(s);
}

static LimeviRxSender *rx_sender(LimeviPort *port, const LimeviWireName *src,
                                 gboolean *is_new)
{
    char name[LIMEVI_WIRE_NAME_MAX + 1];
    LimeviRxSender *s;

    memcpy(name, src->str, src->len);
    name[src->len] = '\0';
    s = g_hash_table_lookup(port->rx, name);
    *is_new = !s;
    if (!s) {
        s = g_new0(LimeviRxSender, 1);
        g_hash_table_insert(port->rx, g_strdup(name), s);
    }
    return s;
}

static void rx_deliver(LimeviPort *port, GBytes *frame)
{
    gsize len;
    const guint8 *data = g_bytes_get_data(frame, &len);

    limevi_port_deliver(port, data, len);
}

/* Whether @seq was dropped for want of room (so it was counted then). */
static gboolean rx_was_dropped(LimeviRxSender *s, guint64 seq)
{
    for (guint i = 0; i < s->n_dropped; i++) {
        if (seq >= s->dropped[i].first && seq <= s->dropped[i].last) {
            return TRUE;
        }
    }
    return FALSE;
}

/* How many numbers from next up to @end were dropped for want of room. */
static guint64 rx_dropped_before(LimeviRxSender *s, guint64 end)
{
    guint64 n = 0;

    for (guint i = 0; i < s->n_dropped; i++) {
        guint64 first = MAX(s->dropped[i].first, s->next);
        guint64 last = MIN(s->dropped[i].last, end - 1);

        n += first <= last ? last - first + 1 : 0;
    }
    return n;
}

/*
 * Remembers that @seq was dropped, in runs kept in order.  With every run
 * in use the number is not remembered: the guest then waits for it as for
 * any gap.
 */
static void rx_remember_dropped(LimeviRxSender *s, guint64 seq)
{
    guint i = 0;

    while (i < s->n_dropped && s->dropped[i].first < seq) {
        i++;
    }
    if (i > 0 && s->dropped[i - 1].last + 1 == seq) {
        s->dropped[i - 1].last = seq;
        if (i < s->n_dropped && s->dropped[i].first == seq + 1) {
            s->dropped[i - 1].last = s->dropped[i].last;
            s->n_dropped--;
            memmove(&s->dropped[i], &s->dropped[i + 1],
                    (s->n_dropped - i) * sizeof(s->dropped[0]));
        }
        return;
    }
    if (i < s->n_dropped && s->dropped[i].first == seq + 1) {
        s->dropped[i].first = seq;
        return;
    }
    if (s->n_dropped == LIMEVI_RX_DROPPED_RUNS) {
        return;
    }
    memmove(&s->dropped[i + 1], &s->dropped[i],
            (s->n_dropped - i) * sizeof(s->dropped[0]));
    s->dropped[i] = (LimeviSeqRun){ seq, seq };
    s->n_dropped++;
}

/* Steps over numbers dropped for want of room: nothing to wait for. */
static void rx_skip_dropped(LimeviRxSender *s)
{
    while (s->n_dropped && s->dropped[0].first <= s->next) {
        s->next = MAX(s->next, s->dropped[0].last + 1);
        s->n_dropped--;
        memmove(&s->dropped[0], &s->dropped[1],
                s->n_dropped * sizeof(s->dropped[0]));
    }
}

static void rx_drop(LimeviPort *port, LimeviRxSender *s, guint64 seq)
{
    rx_remember_dropped(s, seq);
    limevi_port_drop_for_guest(port);
}

/* Delivers what the sender's held queue has in sequence. */
static void rx_drain(LimeviPort *port, LimeviRxSender *s)
{
    LimeviHeldFrame *h;

    for (rx_skip_dropped(s);
         (h = g_queue_peek_head(&s->held)) && h->seq <= s->next;
         rx_skip_dropped(s)) {
        g_queue_pop_head(&s->held);
        s->held_bytes -= g_bytes_get_size(h->frame);
        if (h->seq == s->next) {
            rx_deliver(port, h->frame);
            s->next++;
        } else {
            port->stats.rx_duplicates++;
        }
        held_frame_free(h);
    }
    s->gap_since = g_queue_is_empty(&s->held) ? 0 : now_us();
}

static gint compare_seq(gconstpointer a, gconstpointer b, gpointer data)
{
    guint64 x = ((const LimeviHeldFrame *)a)->seq;
    guint64 y = ((const LimeviHeldFrame *)b)->seq;

    return x < y ? -1 : x > y;
}

/*
 * Holds a frame that came ahead of a gap, within buffer-limit bytes per
 * sender.  Past it the frames latest in sequence, those the guest would
 * get last, are dropped and counted like the guest buffer's.
 */
static void rx_hold(LimeviPort *port, LimeviRxSender *s,
                    const LimeviWirePacket *pkt)
{
    LimeviHeldFrame *h;

    for (GList *l = s->held.head; l; l = l->next) {
        if (((LimeviHeldFrame *)l->data)->seq == pkt->seq) {
            port->stats.rx_duplicates++;
            return;
        }
    }
    if (rx_was_dropped(s, pkt->seq)) {
        port->stats.rx_duplicates++;
        return;
    }
    while ((h = g_queue_peek_tail(&s->held)) && h->seq > pkt->seq &&
           s->held_bytes + pkt->payload_len > port->buffer_limit) {
        g_queue_pop_tail(&s->held);
        s->held_bytes -= g_bytes_get_size(h->frame);
        rx_drop(port, s, h->seq);
        held_frame_free(h);
    }
    if (s->held_bytes + pkt->payload_len > port->buffer_limit) {
        rx_drop(port, s, pkt->seq);
        return;
    }
    h = g_new(LimeviHeldFrame, 1);
    h->seq = pkt->seq;
    h->frame = g_bytes_new(pkt->payload, pkt->payload_len);
    g_queue_insert_sorted(&s->held, h, compare_seq, NULL);
    s->held_bytes += pkt->payload_len;
    if (!s->gap_since) {
        s->gap_since = now_us();
    }
    ensure_tick(port);
}

static void rx_accept(LimeviPort *port, const LimeviWirePacket *pkt)
{
    gboolean is_new;
    LimeviRxSender *s = rx_sender(port, &pkt->src, &is_new);

    if (!port->reseq || is_new) {
        s->next = pkt->seq + 1;
        limevi_port_deliver(port, pkt->payload, pkt->payload_len);
        return;
    }
    if (pkt->seq < s->next) {
        port->stats.rx_duplicates++;
        return;
    }
    if (pkt->seq == s->next) {
        limevi_port_deliver(port, pkt->payload, pkt->payload_len);
        s->next++;
        rx_drain(port, s);
        return;
    }
    /* Ahead of a gap: the frames before it are on their way through the
     * source. */
    rx_hold(port, s, pkt);
}

void limevi_migrate_data(LimeviPort *port, const LimeviWirePacket *pkt,
                         const guint8 *data, gsize len)
{
    switch (port->state) {
    case LIMEVI_PORT_FROZEN:
        if (port->saved) {
            forward_datagram(port, data, len);
            return;
        }
        /* Held for the guest, and carried in the state. */
        rx_accept(port, pkt);
        return;
    case LIMEVI_PORT_FORWARDING:
        forward_datagram(port, data, len);
        return;
    case LIMEVI_PORT_ACTIVE:
    case LIMEVI_PORT_MIGRATING:
    case LIMEVI_PORT_INCOMING:
        rx_accept(port, pkt);
        return;
    }
}

/*
 * Whether our VM's old host may still forward frames to us: it answers
 * our UPDATE only once it forwards (and after what it queued), so until
 * then a gap is a frame on its way through it, however loaded it or the
 * WAN is.  Given up on after LIMEVI_CONTROL_ATTEMPTS (a dead source).
 */
static gboolean rx_source_owes(LimeviPort *port)
{
    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *p = port->pending->pdata[i];

        if (!p->about && !p->peer[0] && p->op == LIMEVI_CONTROL_UPDATE) {
            return TRUE;
        }
    }
    return FALSE;
}

/* Gives up on gaps that stayed open too long once the source answered;
 * ends resequencing. */
static gboolean rx_tick(LimeviPort *port)
{
    gint64 now = now_us();
    gboolean holding = FALSE;
    gboolean source_owes = rx_source_owes(port);
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, port->rx);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        LimeviRxSender *s = value;
        LimeviHeldFrame *h = g_queue_peek_head(&s->held);

        if (h && source_owes) {
            /* The timeout runs from the source's answer. */
            s->gap_since = now;
        } else if (h && now - s->gap_since > LIMEVI_GAP_TIMEOUT_MS * 1000) {
            /* What was dropped for want of room is counted already. */
            port->stats.rx_gaps += h->seq - s->next -
                                   rx_dropped_before(s, h->seq);
            s->next = h->seq;
            rx_drain(port, s);
        }
        holding |= !g_queue_is_empty(&s->held);
    }
    if (port->reseq && port->reseq_until && now > port->reseq_until &&
        !holding) {
        port->reseq = FALSE;
    }
    return holding || (port->reseq && port->reseq_until);
}

static gboolean migrate_tick(gpointer data)
{
    LimeviPort *port = data;
    gboolean busy;

    for (guint i = port->pending->len; i-- > 0;) {
        LimeviPending *p = port->pending->pdata[i];
        gboolean first = !p->attempts;

        if (p->attempts >= LIMEVI_CONTROL_ATTEMPTS) {
            g_warning("limevi: port %s: %s never answered control message "
                      "%u about '%s' (epoch %u)", port->vm,
                      p->peer[0] ? p->peer : "its other host", p->op,
                      p->about ? p->about : port->vm, p->epoch);
            g_ptr_array_remove_index(port->pending, i);
            /* Not synced, but resequencing must not last for ever: a
             * restarted peer's frames would all look like duplicates. */
            if (port->announcing &&
                !pending_count(port, LIMEVI_CONTROL_UPDATE)) {
                port->announcing = FALSE;
                port->reseq_until = now_us() +
                                    LIMEVI_RESEQ_GRACE_MS * 1000;
            }
            continue;
        }
        if (pending_send(port, p) && !first) {
            port->stats.control_retransmits++;
        }
    }
    busy = rx_tick(port) || port->pending->len;
    if (!busy) {
        g_source_unref(port->tick);
        port->tick = NULL;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/*
 * Our VM has left, and a peer announces a move of its own: the VM's new
 * host must hear of it too, or its route would point at the peer's old
 * host.  The RELAY carries the endpoint, since its own source address is
 * ours, not the peer's; it is sent until the new host answers, and only
 * then is the peer answered, with that answer: the peer counts us as
 * synced only once the host that now has our VM's table is.
 */
static void relay_to_destination(LimeviPort *port, const char *vm,
                                 guint8 op, guint32 epoch,
                                 GSocketAddress *from)
{
    LimeviPending *p;

    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *old = port->pending->pdata[i];

        if (!old->about || strcmp(old->about, vm)) {
            continue;
        }
        /* A newer one, or this very one, is on its way already. */
        if (old->epoch > epoch ||
            (old->epoch == epoch && old->relayed_op == op)) {
            return;
        }
        g_ptr_array_remove_index(port->pending, i);
        break;
    }
    p = g_new0(LimeviPending, 1);
    p->peer = g_strdup("");
    p->op = LIMEVI_CONTROL_RELAY;
    p->epoch = epoch;
    p->about = g_strdup(vm);
    p->relayed_op = op;
    p->endpoint = g_object_ref(from);
    pending_add(port, p);
}

/* Our VM's new host answered a RELAY: the peer gets the answer. */
static void relay_answered(LimeviPort *port, LimeviPending *p,
                           const LimeviWirePacket *answer)
{
    ControlMsg msg = {
        .op = answer->op,
        .acked_op = p->relayed_op,
        .epoch = answer->op == LIMEVI_CONTROL_STALE ? answer->epoch
                                                    : p->epoch,
        .dst = p->about,
    };

    send_control(port, p->endpoint, &msg);
}

static gboolean our_vm_left(LimeviPort *port)
{
    return port->state == LIMEVI_PORT_FORWARDING ||
           (port->state == LIMEVI_PORT_FROZEN && port->saved);
}

/* ---- Control messages received ---- */

static void on_invalidate(LimeviPort *port, LimeviRoute *route,
                          guint32 epoch)
{
    if (!route) {
        return;                 /* a VM we never send to */
    }
    if (route->status != LIMEVI_ROUTE_INVALID || route->epoch != epoch) {
        route->status = LIMEVI_ROUTE_INVALID;
        route->epoch = epoch;
        limevi_port_route_changed(port, route, FALSE);
    }
}

static void on_update(LimeviPort *port, const char *vm, LimeviRoute *route,
                      guint32 epoch, GSocketAddress *from)
{
    g_autofree char *endpoint = limevi_udp_address_to_string(from);

    route = limevi_route_update(port->routes, vm, from, endpoint,
                                LIMEVI_ROUTE_VALID, port->vc,
                                route ? route->lan : port->lan, epoch);
    limevi_port_route_changed(port, route, FALSE);
    limevi_migrate_flush_held_for(port, route);
}

/*
 * Applies @vm's announcement @op at @epoch, @endpoint being where it is
 * now for an UPDATE.  Returns FALSE, changing nothing, when this port
 * holds a newer epoch for @vm (*@held): a late retransmission must not
 * undo a newer route.
 */
static gboolean apply_move(LimeviPort *port, const char *vm, guint8 op,
                           guint32 epoch, GSocketAddress *endpoint,
                           guint32 *held)
{
    LimeviRoute *route = limevi_route_lookup(port->routes, vm);

    if (route && epoch < route->epoch) {
        *held = route->epoch;
        return FALSE;
    }
    if (op == LIMEVI_CONTROL_INVALIDATE) {
        on_invalidate(port, route, epoch);
    } else {
        on_update(port, vm, route, epoch, endpoint);
    }
    return TRUE;
}

/* Our own VM announced from its destination: forward there from now on.
 * FALSE when we do not follow it (stale, or our VM did not leave). */
static gboolean on_own_update(LimeviPort *port, guint32 epoch,
                              GSocketAddress *from)
{
    if (epoch <= port->epoch ||
        (port->state != LIMEVI_PORT_MIGRATING &&
         port->state != LIMEVI_PORT_FROZEN &&
         port->state != LIMEVI_PORT_FORWARDING)) {
        return FALSE;
    }
    g_set_object(&port->forward_to, from);
    drop_pending_op(port, LIMEVI_CONTROL_INVALIDATE);
    if (port->state != LIMEVI_PORT_FORWARDING) {
        limevi_port_migration_done(port);
    }
    forward_flush(port);
    /* Relays that waited for an address go now. */
    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *p = port->pending->pdata[i];

        if (p->about && !p->attempts) {
            pending_send(port, p);
        }
    }
    return TRUE;
}

/*
 * A peer holds a newer epoch for our VM than we announced at (an
 * operator's limevi-route-set raised it, or our VM restarted at 0).  Where
 * our VM runs its announcement must win, so it goes again above that
 * epoch.  Elsewhere nothing is won: an INVALIDATE stops, an UPDATE stays
 * unanswered, so the peer is never counted as synced.
 */
static void on_stale(LimeviPort *port, LimeviPending *p, guint32 held)
{
    g_autofree char *peer = NULL;
    g_autoptr(GSocketAddress) addr = NULL;

    if (p->op == LIMEVI_CONTROL_INVALIDATE) {
        g_ptr_array_remove(port->pending, p);
        return;
    }
    if (port->state != LIMEVI_PORT_ACTIVE || !p->peer[0] ||
        held == G_MAXUINT32) {
        return;
    }
    peer = g_strdup(p->peer);
    addr = g_object_ref(p->addr);
    port->epoch = MAX(port->epoch, held + 1);
    send_reliably(port, peer, addr, LIMEVI_CONTROL_UPDATE, port->epoch);
}

/* The pending message @answer (an ACK or STALE from @src) is about. */
static LimeviPending *pending_answered(LimeviPort *port,
                                       const LimeviWirePacket *answer,
                                       const char *src, gboolean own)
{
    gboolean stale = answer->op == LIMEVI_CONTROL_STALE;
    gboolean relay = answer->acked_op == LIMEVI_CONTROL_RELAY;

    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *p = port->pending->pdata[i];

        if (p->op != answer->acked_op ||
            (stale ? p->epoch >= answer->epoch : p->epoch != answer->epoch)) {
            continue;
        }
        /* An answer to a RELAY names the VM it was about as its source. */
        if (relay ? !strcmp(p->about, src)
                  : !p->about && !strcmp(p->peer, own ? "" : src)) {
            return p;
        }
    }
    return NULL;
}

static void on_answer(LimeviPort *port, const LimeviWirePacket *pkt,
                      const char *src, gboolean own)
{
    LimeviPending *p = pending_answered(port, pkt, src, own);

    if (!p) {
        return;                 /* late, or not ours */
    }
    if (p->about) {
        relay_answered(port, p, pkt);
    } else if (pkt->op == LIMEVI_CONTROL_STALE) {
        on_stale(port, p, pkt->epoch);
        return;
    }
    g_ptr_array_remove(port->pending, p);
    check_synced(port);
}

/* Tells @vm's host at @to whether its @op at @epoch was applied. */
static void answer_move(LimeviPort *port, GSocketAddress *to,
                        const char *vm, guint8 op, guint32 epoch,
                        gboolean applied, guint32 held)
{
    ControlMsg msg = {
        .op = applied ? LIMEVI_CONTROL_ACK : LIMEVI_CONTROL_STALE,
        .acked_op = op,
        .epoch = applied ? epoch : held,
        .dst = vm,
    };

    send_control(port, to, &msg);
}

/* Our VM's old host passed on @src's announcement: apply it, and answer
 * the old host, which answers @src. */
static void on_relay(LimeviPort *port, const LimeviWirePacket *pkt,
                     const char *src, GSocketAddress *from)
{
    g_autoptr(GInetAddress) ia = g_inet_address_new_from_bytes(
        pkt->relay_addr, pkt->relay_family == 6 ? G_SOCKET_FAMILY_IPV6
                                                : G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) endpoint =
        g_inet_socket_address_new(ia, pkt->relay_port);
    guint32 held = 0;
    gboolean applied = apply_move(port, src, pkt->acked_op, pkt->epoch,
                                  endpoint, &held);
    ControlMsg msg = {
        .op = applied ? LIMEVI_CONTROL_ACK : LIMEVI_CONTROL_STALE,
        .acked_op = LIMEVI_CONTROL_RELAY,
        .epoch = applied ? pkt->epoch : held,
        .src = src,
        .dst = port->vm,
    };

    if (from) {
        send_control(port, from, &msg);
    }
}

void limevi_migrate_control(LimeviPort *port, const LimeviWirePacket *pkt,
                            GSocketAddress *from)
{
    char src[LIMEVI_WIRE_NAME_MAX + 1];
    gboolean own = limevi_wire_name_equal(&pkt->src, port->vm, port->vm_len);
    guint32 held = 0;

    memcpy(src, pkt->src.str, pkt->src.len);
    src[pkt->src.len] = '\0';
    switch (pkt->op) {
    case LIMEVI_CONTROL_ACK:
    case LIMEVI_CONTROL_STALE:
        on_answer(port, pkt, src, own);
        return;
    case LIMEVI_CONTROL_RELAY:
        if (!own) {
            on_relay(port, pkt, src, from);
        }
        return;
    }
    if (!from) {
        return;                 /* nowhere to answer, nothing to learn */
    }
    if (own) {
        /* From our VM's new host; answered only when followed, so a host
         * we do not forward to never counts us as synced. */
        if (pkt->op == LIMEVI_CONTROL_UPDATE &&
            on_own_update(port, pkt->epoch, from)) {
            answer_move(port, from, src, pkt->op, pkt->epoch, TRUE, 0);
        }
    } else if (our_vm_left(port)) {
        /* Our table travelled with the state: changing it here would
         * send frames the destination has too.  Its new host decides. */
        relay_to_destination(port, src, pkt->op, pkt->epoch, from);
    } else {
        gboolean applied = apply_move(port, src, pkt->op, pkt->epoch, from,
                                      &held);

        answer_move(port, from, src, pkt->op, pkt->epoch, applied, held);
    }
}

/* ---- The migration, as the embedder drives it ---- */

static void announce(LimeviPort *port, guint8 op)
{
    LimeviRouteIter it;
    LimeviRoute *route;

    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        /* Other LANs drop our packets: they are not peers of this port. */
        if (!strcmp(route->vc, port->vc) && !strcmp(route->lan, port->lan)) {
            send_reliably(port, route->vm, route->addr, op, port->epoch);
        }
    }
}

void limevi_port_migration_start(LimeviPort *port)
{
    if (port->state == LIMEVI_PORT_ACTIVE) {
        limevi_port_set_state(port, LIMEVI_PORT_MIGRATING);
    }
}

void limevi_port_freeze(LimeviPort *port)
{
    if (port->state != LIMEVI_PORT_MIGRATING) {
        return;
    }
    limevi_port_set_state(port, LIMEVI_PORT_FROZEN);
    port->epoch++;
    announce(port, LIMEVI_CONTROL_INVALIDATE);
}

void limevi_port_migration_done(LimeviPort *port)
{
    if (port->state == LIMEVI_PORT_FORWARDING ||
        port->state == LIMEVI_PORT_ACTIVE ||
        port->state == LIMEVI_PORT_INCOMING) {
        return;
    }
    /* What the guest had not received travelled in the state. */
    limevi_buffer_free(port->held);
    port->held = limevi_buffer_new(port->buffer_limit);
    port->saved = TRUE;
    limevi_port_set_state(port, LIMEVI_PORT_FORWARDING);
    forward_flush(port);
}

void limevi_port_migration_failed(LimeviPort *port)
{
    GQueue late = G_QUEUE_INIT;
    GBytes *pkt;

    switch (port->state) {
    case LIMEVI_PORT_MIGRATING:
        limevi_port_set_state(port, LIMEVI_PORT_ACTIVE);
        return;
    case LIMEVI_PORT_FROZEN:
    case LIMEVI_PORT_FORWARDING:
        break;
    default:
        return;
    }
    /* Above the destination's epoch + 1, so a late announcement of the
     * destination can never win over ours. */
    port->epoch += 2;
    port->saved = FALSE;
    g_clear_object(&port->forward_to);
    drop_pending_op(port, LIMEVI_CONTROL_INVALIDATE);
    /* Unanswered, their peers send again: to us, who apply them now. */
    drop_pending_op(port, LIMEVI_CONTROL_RELAY);
    limevi_port_set_state(port, LIMEVI_PORT_ACTIVE);
    /* Frames that arrived after the state was saved come after the held
     * ones, in their order. */
    late = port->forward;
    g_queue_init(&port->forward);
    port->forward_bytes = 0;
    while ((pkt = g_queue_pop_head(&late))) {
        gsize len;
        const guint8 *data = g_bytes_get_data(pkt, &len);

        port->stats.rx_forwarded--;
        limevi_port_receive(port, data, len);
        g_bytes_unref(pkt);
    }
    announce(port, LIMEVI_CONTROL_UPDATE);
}

void limevi_port_set_incoming(LimeviPort *port)
{
    if (port->state == LIMEVI_PORT_ACTIVE) {
        limevi_port_set_state(port, LIMEVI_PORT_INCOMING);
    }
}

void limevi_port_activate(LimeviPort *port)
{
    if (port->state != LIMEVI_PORT_INCOMING) {
        return;
    }
    port->epoch++;
    port->reseq = TRUE;
    port->peers_synced = FALSE;
    port->announcing = TRUE;
    limevi_port_set_state(port, LIMEVI_PORT_ACTIVE);
    announce(port, LIMEVI_CONTROL_UPDATE);
    if (port->source_addr) {
        send_reliably(port, "", port->source_addr, LIMEVI_CONTROL_UPDATE,
                      port->epoch);
    }
    port->announced = pending_count(port, LIMEVI_CONTROL_UPDATE);
    check_synced(port);
}

/* ---- The state that travels ---- */

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
        if (!strcmp(route->vc, port->vc) && !strcmp(route->lan, port->lan)) {
            return limevi_udp_endpoint_toward(port->udp, route->addr);
        }
    }
    return limevi_udp_endpoint_toward(port->udp, NULL);
}

GBytes *limevi_port_save(LimeviPort *port)
{
    g_autoptr(GBytes) held = limevi_buffer_save(port->held);
    g_autofree char *source = reachable_endpoint(port);
    GVariantBuilder routes, rx, macs;
    LimeviRouteIter it;
    LimeviRoute *route;
    GHashTableIter hit;
    gpointer key, value;
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
    g_hash_table_iter_init(&hit, port->rx);
    while (g_hash_table_iter_next(&hit, &key, &value)) {
        g_variant_builder_add(&rx, "(st)", (const char *)key,
                              ((LimeviRxSender *)value)->next);
    }
    /* Known MACs spare the destination a flood of unicast frames. */
    g_variant_builder_init(&macs, G_VARIANT_TYPE("a(ays)"));
    limevi_mac_table_foreach(port->macs, save_mac, &macs);
    state = g_variant_ref_sink(g_variant_new(
        "(uus@a(ssssuutay)@a(st)@a(ays)@ay)", STATE_VERSION, port->epoch,
        source, g_variant_builder_end(&routes),
        g_variant_builder_end(&rx), g_variant_builder_end(&macs),
        g_variant_new_from_bytes(G_VARIANT_TYPE("ay"), held, TRUE)));
    bytes = g_variant_get_data_as_bytes(state);
    g_variant_unref(state);
    port->saved = TRUE;
    return bytes;
}

static gboolean load_fail(GError **error, const char *what)
{
    g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                "migration state: %s", what);
    return FALSE;
}

gboolean limevi_port_load(LimeviPort *port, const guint8 *data, gsize len,
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
    if (version != STATE_VERSION) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: version %u, expected %u", version,
                    STATE_VERSION);
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
    new_rx = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                   rx_sender_free);
    g_variant_iter_init(&iter, rx);
    while (g_variant_iter_next(&iter, "(&st)", &name, &next)) {
        LimeviRxSender *s = g_new0(LimeviRxSender, 1);

        s->next = next;
        g_hash_table_replace(new_rx, g_strdup(name), s);
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
    g_hash_table_unref(port->rx);
    port->rx = g_steal_pointer(&new_rx);
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
    port->reseq = TRUE;
    port->reseq_until = 0;
    return TRUE;
}

void limevi_migrate_init(LimeviPort *port)
{
    const char *drop = g_getenv("LIMEVI_TEST_DROP_CONTROL");

    /* Tests lose this many outgoing UPDATE and ACK messages on purpose,
     * to show retransmission recovers from a lossy WAN. */
    port->drop_control = drop ? (guint)g_ascii_strtoull(drop, NULL, 10) : 0;
    g_queue_init(&port->forward);
    port->rx = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     rx_sender_free);
    port->pending = g_ptr_array_new_with_free_func(pending_free);
}

void limevi_migrate_cleanup(LimeviPort *port)
{
    if (port->tick) {
        g_source_destroy(port->tick);
        g_clear_pointer(&port->tick, g_source_unref);
    }
    g_queue_clear_full(&port->forward, (GDestroyNotify)g_bytes_unref);
    g_clear_pointer(&port->rx, g_hash_table_unref);
    g_clear_pointer(&port->pending, g_ptr_array_unref);
    g_clear_object(&port->forward_to);
    g_clear_object(&port->source_addr);
}

/* Until the state machine moves into port.c: events onto the old calls. */
void limevi_port_event(LimeviPort *port, LimeviPortEvent event)
{
    switch (event) {
    case LIMEVI_EVENT_MIGRATION_SETUP:
        limevi_port_migration_start(port);
        break;
    case LIMEVI_EVENT_SWITCHOVER:
        limevi_port_freeze(port);
        break;
    case LIMEVI_EVENT_MIGRATION_DONE:
        limevi_port_migration_done(port);
        break;
    case LIMEVI_EVENT_MIGRATION_FAILED:
        limevi_port_migration_failed(port);
        break;
    case LIMEVI_EVENT_INCOMING:
        limevi_port_set_incoming(port);
        break;
    case LIMEVI_EVENT_GUEST_STOPPED:
        break;
    case LIMEVI_EVENT_GUEST_RUNNING:
        switch (port->state) {
        case LIMEVI_PORT_INCOMING:
            limevi_port_activate(port);
            break;
        case LIMEVI_PORT_FROZEN:
            limevi_port_migration_failed(port);
            break;
        default:
            limevi_port_guest_ready(port);
            break;
        }
        break;
    }
}

const char *limevi_port_event_name(LimeviPortEvent event)
{
    static const char *const names[] = {
        [LIMEVI_EVENT_MIGRATION_SETUP] = "migration-setup",
        [LIMEVI_EVENT_SWITCHOVER] = "switchover",
        [LIMEVI_EVENT_MIGRATION_DONE] = "migration-done",
        [LIMEVI_EVENT_MIGRATION_FAILED] = "migration-failed",
        [LIMEVI_EVENT_INCOMING] = "incoming",
        [LIMEVI_EVENT_GUEST_STOPPED] = "guest-stopped",
        [LIMEVI_EVENT_GUEST_RUNNING] = "guest-running",
    };

    return event < G_N_ELEMENTS(names) ? names[event] : "unknown";
}

guint32 limevi_state_version(void)
{
    return STATE_VERSION;
}
