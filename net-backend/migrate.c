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
/* version, epoch, source endpoint, routes, receive sequence, learnt MACs,
 * held frames */
#define STATE_TYPE "(uusa(ssssuutay)a(st)a(ays)ay)"

static gint64 now_us(void)
{
    return g_get_monotonic_time();
}

/* ---- Control messages ---- */

static void pending_free(gpointer data)
{
    LimeviPending *p = data;

    g_free(p->peer);
    g_clear_object(&p->addr);
    g_free(p);
}

static void send_control(LimeviPort *port, GSocketAddress *to, guint8 op,
                         guint8 acked_op, guint32 epoch, const char *dst)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_CONTROL,
        .epoch = epoch,
        .vc = port->vc,
        .lan = port->lan,
        .src = port->vm,
        .dst = dst,
    };
    guint8 payload[LIMEVI_WIRE_CONTROL_LEN];
    gsize hlen;

    /* Fault injection for tests: a WAN that loses control packets. */
    if (port->drop_control &&
        (op == LIMEVI_CONTROL_UPDATE || op == LIMEVI_CONTROL_ACK)) {
        port->drop_control--;
        return;
    }
    hlen = limevi_wire_encode(&hdr, port->tx_header, sizeof(port->tx_header));
    limevi_wire_encode_control(op, acked_op, payload);
    if (!hlen || !limevi_udp_send(port->udp, to, port->tx_header, hlen,
                                  payload, sizeof(payload))) {
        port->stats.tx_errors++;
    }
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

/* Sends @op to @peer ("" for our own source) until acknowledged; a newer
 * message to the same peer replaces an older one. */
static void send_reliably(LimeviPort *port, const char *peer,
                          GSocketAddress *addr, guint8 op, guint32 epoch)
{
    LimeviPending *p = g_new0(LimeviPending, 1);

    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *old = port->pending->pdata[i];

        if (!strcmp(old->peer, peer)) {
            g_ptr_array_remove_index(port->pending, i);
            break;
        }
    }
    p->peer = g_strdup(peer);
    p->addr = g_object_ref(addr);
    p->op = op;
    p->epoch = epoch;
    p->attempts = 1;
    g_ptr_array_add(port->pending, p);
    send_control(port, addr, op, 0, epoch, peer[0] ? peer : port->vm);
    ensure_tick(port);
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
        limevi_buffer_count_drop(port->held);
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

/* Delivers what the sender's held queue has in sequence. */
static void rx_drain(LimeviPort *port, LimeviRxSender *s)
{
    LimeviHeldFrame *h;

    while ((h = g_queue_peek_head(&s->held)) && h->seq <= s->next) {
        g_queue_pop_head(&s->held);
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

static void rx_accept(LimeviPort *port, const LimeviWirePacket *pkt)
{
    gboolean is_new;
    LimeviRxSender *s = rx_sender(port, &pkt->src, &is_new);
    LimeviHeldFrame *h;

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
    for (GList *l = s->held.head; l; l = l->next) {
        if (((LimeviHeldFrame *)l->data)->seq == pkt->seq) {
            port->stats.rx_duplicates++;
            return;
        }
    }
    h = g_new(LimeviHeldFrame, 1);
    h->seq = pkt->seq;
    h->frame = g_bytes_new(pkt->payload, pkt->payload_len);
    g_queue_insert_sorted(&s->held, h, compare_seq, NULL);
    if (!s->gap_since) {
        s->gap_since = now_us();
    }
    ensure_tick(port);
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

/* Gives up on gaps that stayed open too long; ends resequencing. */
static gboolean rx_tick(LimeviPort *port)
{
    gint64 now = now_us();
    gboolean holding = FALSE;
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, port->rx);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        LimeviRxSender *s = value;
        LimeviHeldFrame *h = g_queue_peek_head(&s->held);

        if (h && now - s->gap_since > LIMEVI_GAP_TIMEOUT_MS * 1000) {
            port->stats.rx_gaps += h->seq - s->next;
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

        if (p->attempts >= LIMEVI_CONTROL_ATTEMPTS) {
            g_warning("limevi: port %s: peer '%s' never acknowledged "
                      "control message %u (epoch %u)", port->vm,
                      p->peer[0] ? p->peer : "(source)", p->op, p->epoch);
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
        p->attempts++;
        port->stats.control_retransmits++;
        send_control(port, p->addr, p->op, 0, p->epoch,
                     p->peer[0] ? p->peer : port->vm);
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
 * host.  The endpoint is written in, since the relay's source address is
 * ours, not the peer's.
 */
static void relay_to_destination(LimeviPort *port, const char *vm,
                                 guint8 op, guint32 epoch,
                                 GSocketAddress *from)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_CONTROL,
        .epoch = epoch,
        .vc = port->vc,
        .lan = port->lan,
        .src = vm,
        .dst = port->vm,
    };
    GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS(from);
    GInetAddress *ia = g_inet_socket_address_get_address(isa);
    guint8 pkt[LIMEVI_WIRE_HEADER_MAX + LIMEVI_WIRE_RELAY_LEN];
    gsize hlen = limevi_wire_encode(&hdr, pkt, LIMEVI_WIRE_HEADER_MAX);

    if (!hlen) {
        return;
    }
    limevi_wire_encode_relay(op, g_inet_address_get_family(ia) ==
                             G_SOCKET_FAMILY_IPV6 ? 6 : 4,
                             g_inet_address_to_bytes(ia),
                             g_inet_socket_address_get_port(isa),
                             pkt + hlen);
    if (port->forward_to) {
        limevi_udp_send(port->udp, port->forward_to, pkt,
                        hlen + LIMEVI_WIRE_RELAY_LEN, NULL, 0);
    } else {
        g_queue_push_tail(&port->forward,
                          g_bytes_new(pkt, hlen + LIMEVI_WIRE_RELAY_LEN));
        port->forward_bytes += hlen + LIMEVI_WIRE_RELAY_LEN;
    }
}

static gboolean our_vm_left(LimeviPort *port)
{
    return port->state == LIMEVI_PORT_FORWARDING ||
           (port->state == LIMEVI_PORT_FROZEN && port->saved);
}

/* ---- Control messages received ---- */

static void on_invalidate(LimeviPort *port, const char *vm, guint32 epoch)
{
    LimeviRoute *route = limevi_route_lookup(port->routes, vm);

    if (!route || epoch < route->epoch) {
        return;                 /* stale, or a VM we never send to */
    }
    if (route->status != LIMEVI_ROUTE_INVALID || route->epoch != epoch) {
        route->status = LIMEVI_ROUTE_INVALID;
        route->epoch = epoch;
        limevi_port_route_changed(port, route, FALSE);
    }
}

static void on_update(LimeviPort *port, const char *vm, guint32 epoch,
                      GSocketAddress *from)
{
    LimeviRoute *route = limevi_route_lookup(port->routes, vm);
    g_autofree char *endpoint = limevi_udp_address_to_string(from);

    if (route && epoch < route->epoch) {
        return;
    }
    route = limevi_route_update(port->routes, vm, from, endpoint,
                                LIMEVI_ROUTE_VALID, port->vc,
                                route ? route->lan : port->lan, epoch);
    limevi_port_route_changed(port, route, FALSE);
    limevi_migrate_flush_held_for(port, route);
}

/* Our own VM announced from its destination: forward there from now on. */
static void on_own_update(LimeviPort *port, guint32 epoch,
                          GSocketAddress *from)
{
    if (epoch <= port->epoch ||
        (port->state != LIMEVI_PORT_MIGRATING &&
         port->state != LIMEVI_PORT_FROZEN &&
         port->state != LIMEVI_PORT_FORWARDING)) {
        return;
    }
    g_set_object(&port->forward_to, from);
    drop_pending_op(port, LIMEVI_CONTROL_INVALIDATE);
    if (port->state != LIMEVI_PORT_FORWARDING) {
        limevi_port_migration_done(port);
    }
    forward_flush(port);
}

static void on_ack(LimeviPort *port, const LimeviWirePacket *pkt,
                   const char *peer)
{
    for (guint i = 0; i < port->pending->len; i++) {
        LimeviPending *p = port->pending->pdata[i];

        if (!strcmp(p->peer, peer) && p->op == pkt->acked_op &&
            p->epoch == pkt->epoch) {
            g_ptr_array_remove_index(port->pending, i);
            break;
        }
    }
    if (pkt->acked_op == LIMEVI_CONTROL_UPDATE) {
        check_synced(port);
    }
}

void limevi_migrate_control(LimeviPort *port, const LimeviWirePacket *pkt,
                            GSocketAddress *from)
{
    char src[LIMEVI_WIRE_NAME_MAX + 1];
    gboolean own = limevi_wire_name_equal(&pkt->src, port->vm, port->vm_len);

    memcpy(src, pkt->src.str, pkt->src.len);
    src[pkt->src.len] = '\0';
    if (pkt->op == LIMEVI_CONTROL_ACK) {
        on_ack(port, pkt, own ? "" : src);
        return;
    }
    if (pkt->op == LIMEVI_CONTROL_RELAY) {
        g_autoptr(GInetAddress) ia = g_inet_address_new_from_bytes(
            pkt->relay_addr, pkt->relay_family == 6 ? G_SOCKET_FAMILY_IPV6
                                                    : G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) endpoint =
            g_inet_socket_address_new(ia, pkt->relay_port);

        /* Already acknowledged by our old host: applied, not answered. */
        if (own) {
            return;
        }
        if (pkt->acked_op == LIMEVI_CONTROL_INVALIDATE) {
            on_invalidate(port, src, pkt->epoch);
        } else {
            on_update(port, src, pkt->epoch, endpoint);
        }
        return;
    }
    if (!from) {
        return;                 /* nowhere to answer, nothing to learn */
    }
    if (own) {
        if (pkt->op == LIMEVI_CONTROL_UPDATE) {
            on_own_update(port, pkt->epoch, from);
        }
    } else if (our_vm_left(port)) {
        /* Our table travelled with the state: changing it here would
         * send frames the destination has too.  Its new host decides. */
        relay_to_destination(port, src, pkt->op, pkt->epoch, from);
    } else if (pkt->op == LIMEVI_CONTROL_INVALIDATE) {
        on_invalidate(port, src, pkt->epoch);
    } else {
        on_update(port, src, pkt->epoch, from);
    }
    /* Acknowledged even when stale, so the sender stops repeating it. */
    send_control(port, from, LIMEVI_CONTROL_ACK, pkt->op, pkt->epoch, src);
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

GBytes *limevi_port_save(LimeviPort *port)
{
    g_autoptr(GBytes) held = limevi_buffer_save(port->held);
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
        port->listen, g_variant_builder_end(&routes),
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
        G_VARIANT_TYPE(STATE_TYPE), bytes, FALSE));
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
